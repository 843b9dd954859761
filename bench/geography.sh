#!/usr/bin/env bash
# Geography benchmark: preparing the boundaries, locate, organisationsNear (10 and 100 km) and
# the ICB FeatureCollection, in-process on a freshly seeded SQLite database. Usage:
#   bench/geography.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
RUST_LOG=${RUST_LOG:-warn} cargo bench --bench geography
