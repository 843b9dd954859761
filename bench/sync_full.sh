#!/bin/sh
# Times a full reconcile (`sync --full`: every tracked code fetched) against a local mock ORD,
# at ORD's ceiling (ORD_MAX_RPS=5, over 2 minutes) and unthrottled (ORD_MAX_RPS=1000), and
# counts the requests made. Set TEST_DATABASE_URL=postgres://... to run on PostgreSQL.
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test it --no-run
for rps in 5 1000; do
    ORD_MAX_RPS=$rps cargo test -q --release --test it -- --ignored \
        sync_full::full_reconcile_at_the_rate_ceiling --nocapture 2>&1 | grep 'full_reconcile:'
done
