#!/usr/bin/env bash
# Read benchmark (issue: one organisation, all trusts, whole tree). Usage:
#   bench/reads.sh                      # SQLite
#   BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/bench bench/reads.sh
# BENCH_SECONDS and BENCH_CLIENTS tune each run. Exits non-zero on any GraphQL error.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
RUST_LOG=${RUST_LOG:-warn} cargo bench --bench reads
