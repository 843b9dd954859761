#!/usr/bin/env bash
# Load and soak runs against the release build (see "Load and soak" in bench/README.md).
#
#   bench/load.sh [sqlite|postgres|soak|all]      default: all
#
# Each run starts `nhs-organisations serve` on a free loopback port with RATE_LIMIT_RPS=0 and a
# fresh database, creates an admin key for the occasional `whoami`, drives CLIENTS concurrent
# clients with examples/loadgen.rs, prints throughput, latency, errors and the server's peak
# RSS, then stops the server with SIGTERM. Any 5xx, transport error or unexpected GraphQL error
# fails the run, and the script exits non-zero.
#
# Environment:
#   CLIENTS (64)  DURATION (60)  SOAK_DURATION (120)
#   PG_URL        PostgreSQL for the `postgres` run (default postgres://postgres:postgres@127.0.0.1:5432/postgres);
#                 a database nhs_load is dropped and recreated there
#   SOAK_CLUSTER  PostgreSQL 15 cluster the soak stops and starts mid-run (default nhssoak, port
#   SOAK_PORT     SOAK_PORT=5433, created if missing) so that other users of 15/main are not
#                 disturbed; SOAK_CLUSTER=main SOAK_PORT=5432 restarts the main cluster instead.
#   OUTAGE_AT (50) OUTAGE_SECS (5)   when, and for how long, the soak's database is down
# Needs root (or the postgres user) for pg_ctlcluster/pg_createcluster in the soak.
set -euo pipefail

cd "$(dirname "$0")/.."
MODE=${1:-all}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-60}
SOAK_DURATION=${SOAK_DURATION:-120}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PG_VERSION=15
SOAK_CLUSTER=${SOAK_CLUSTER:-nhssoak}
SOAK_PORT=${SOAK_PORT:-5433}
OUTAGE_AT=${OUTAGE_AT:-50}
OUTAGE_SECS=${OUTAGE_SECS:-5}
TARGET=${CARGO_TARGET_DIR:-target}/release
export PGOPTIONS="-c client_min_messages=warning"

echo "== building the release binary and the load generator"
cargo build --release --quiet --bin nhs-organisations --example loadgen
BIN=$TARGET/nhs-organisations
LOADGEN=$TARGET/examples/loadgen

WORK=$(mktemp -d)
SERVER_PID=""
OUTAGE_PID=""
cleanup() {
    [ -n "$OUTAGE_PID" ] && kill "$OUTAGE_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run NAME DATABASE_URL DURATION [OUTAGE_START:OUTAGE_END]
run() {
    local name=$1 url=$2 duration=$3 outage=${4:-}
    local port
    port=$(free_port)
    echo
    echo "== $name: $CLIENTS clients for $duration s on port $port"
    RATE_LIMIT_RPS=0 DATABASE_URL=$url HOST=127.0.0.1 PORT=$port RUST_LOG=warn \
        "$BIN" serve >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 240); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.log"; echo "server died"; return 1; }
        curl -fs "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.5
    done
    local key
    key=$(RUST_LOG=warn DATABASE_URL=$url "$BIN" admin-key create "loadgen-$name-$$" | tail -n 1)

    local args=(--url "http://127.0.0.1:$port" --clients "$CLIENTS" --duration "$duration")
    if [ -n "$outage" ]; then
        args+=(--outage "$outage")
        (
            sleep "$OUTAGE_AT"
            echo "-- $(date +%T) stopping PostgreSQL $PG_VERSION/$SOAK_CLUSTER for $OUTAGE_SECS s"
            pg_ctlcluster "$PG_VERSION" "$SOAK_CLUSTER" stop -m fast
            sleep "$OUTAGE_SECS"
            pg_ctlcluster "$PG_VERSION" "$SOAK_CLUSTER" start
            echo "-- $(date +%T) PostgreSQL $PG_VERSION/$SOAK_CLUSTER is back"
        ) &
        OUTAGE_PID=$!
    fi
    local rc=0
    LOADGEN_ADMIN_KEY=$key "$LOADGEN" "${args[@]}" | tee "$WORK/$name.out" || rc=$?
    if [ -n "$OUTAGE_PID" ]; then
        wait "$OUTAGE_PID" || rc=1
        OUTAGE_PID=""
    fi

    local hwm
    hwm=$(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$SERVER_PID/status")
    echo "server peak RSS    $hwm (VmHWM)"
    RUST_LOG=warn DATABASE_URL=$url "$BIN" admin-key revoke "loadgen-$name-$$" >/dev/null
    kill -TERM "$SERVER_PID"
    local server_rc=0
    wait "$SERVER_PID" || server_rc=$?
    SERVER_PID=""
    echo "server exit code   $server_rc"
    if grep -qE "panicked|ERROR" "$WORK/$name.log"; then
        echo "server log: $(grep -cE "panicked|ERROR" "$WORK/$name.log") error lines, the first:"
        grep -E "panicked|ERROR" "$WORK/$name.log" | head -3
        # Logged internal errors are expected only while the database is down.
        [ -n "$outage" ] || rc=1
    fi
    [ "$server_rc" -eq 0 ] || rc=1
    printf '%-9s %s\n' "$name" "$(grep -E '^(throughput|latency|RESULT)' "$WORK/$name.out" | tr -s ' ' | paste -sd ';' -) ; peak RSS $hwm" >>"$WORK/summary"
    return $rc
}

pg_database_url() { # admin URL, database name
    echo "${1%/*}/$2"
}

fresh_pg_database() { # admin URL, database name
    psql -q "$1" -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
}

status=0
case $MODE in sqlite | all)
    run sqlite "sqlite://$WORK/load.db" "$DURATION" || status=1
esac
case $MODE in postgres | all)
    fresh_pg_database "$PG_URL" nhs_load
    run postgres "$(pg_database_url "$PG_URL" nhs_load)" "$DURATION" || status=1
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS nhs_load"
esac
case $MODE in soak | all)
    if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$PG_VERSION/$SOAK_CLUSTER"; then
        echo "== creating PostgreSQL cluster $PG_VERSION/$SOAK_CLUSTER on port $SOAK_PORT"
        pg_createcluster "$PG_VERSION" "$SOAK_CLUSTER" -p "$SOAK_PORT" >/dev/null
    fi
    pg_ctlcluster "$PG_VERSION" "$SOAK_CLUSTER" start 2>/dev/null || true
    su postgres -c "psql -q -p $SOAK_PORT -c \"ALTER USER postgres PASSWORD 'postgres'\""
    soak_admin="postgres://postgres:postgres@127.0.0.1:$SOAK_PORT/postgres"
    fresh_pg_database "$soak_admin" nhs_soak
    # INTERNAL errors are expected from the stop until 15 s after the restart, none after.
    run soak "$(pg_database_url "$soak_admin" nhs_soak)" "$SOAK_DURATION" \
        "$OUTAGE_AT:$((OUTAGE_AT + OUTAGE_SECS + 15))" || status=1
    psql -q "$soak_admin" -c "DROP DATABASE IF EXISTS nhs_soak"
esac

echo
echo "== summary"
cat "$WORK/summary" 2>/dev/null || true
exit $status
