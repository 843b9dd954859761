#!/bin/sh
# Times a sync of 1,000 listed (all tracked) codes against a local mock ORD, at the default
# rate (ORD_MAX_RPS=5, about 200 s) and unthrottled (ORD_MAX_RPS=1000).
# Set TEST_DATABASE_URL=postgres://... to measure on PostgreSQL instead of SQLite.
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test it --no-run
for rps in 5 1000; do
    ORD_MAX_RPS=$rps cargo test -q --release --test it -- --ignored sync::sync_1000 --nocapture 2>&1 \
        | grep 'sync_1000:'
done
