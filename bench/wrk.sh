#!/usr/bin/env bash
# Loaded read throughput with wrk (Debian package `wrk`), as the read issue measured it:
# `wrk -t2 -c16` against the release binary, seeded data, rate limit off, response cache off
# and on. Usage:
#   bench/wrk.sh                                         # SQLite in a temp dir
#   BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/bench bench/wrk.sh
# WRK_SECONDS (default 10) sets each run's length.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/nhs-organisations
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
url=${BENCH_DATABASE_URL:-sqlite://$work/bench.db}
secs=${WRK_SECONDS:-10}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "backend: ${url%%://*}; wrk -t2 -c16 -d${secs}s per query"

declare -A queries=(
  [one_organisation]='{ organisation(odsCode: \"RVV01\") { odsCode name trust { odsCode name } localHealthBoard { odsCode } parent { odsCode name } integratedCareBoard { odsCode name } nhsEnglandRegion { regionCode name } paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode name } } openUkNetwork { code name } londonBorough { gssCode name } country { code name } } }'
  [organisations]='{ organisations { odsCode name } }'
  [trusts]='{ trusts { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode } } } }'
  [tree]='{ nhsEnglandRegions { regionCode name integratedCareBoards { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode name } } } } } }'
  [npda_seeder]='{ paediatricDiabetesUnits { pzCode paediatricDiabetesNetwork { pnCode name } parent { odsCode name } primaryOrganisation { odsCode name } } }'
)

echo "| query | cache | req/s | p50 ms | p99 ms |"
echo "|---|---|---:|---:|---:|"
for cache in 0 64; do
  port=$((18000 + cache))
  DATABASE_URL=$url PORT=$port RATE_LIMIT_RPS=0 RESPONSE_CACHE_MB=$cache RUST_LOG=warn \
    "$bin" serve >"$work/server-$cache.log" 2>&1 &
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for name in one_organisation organisations trusts tree npda_seeder; do
    cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"query": "${queries[$name]}"}]]
LUA
    out=$(wrk -t2 -c16 -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/graphql")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    [ -z "$non2xx" ] || { echo "$name: $non2xx non-2xx responses" >&2; exit 1; }
    echo "| $name | $([ "$cache" = 0 ] && echo off || echo on) | $rps | $p50 | $p99 |"
  done
  kill %% 2>/dev/null || true
  wait 2>/dev/null || true
done
