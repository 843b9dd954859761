#!/usr/bin/env bash
# Load and soak runs against the release build (see "Load and soak" in bench/README.md).
#
#   bench/load.sh [sqlite|postgres|soak|writes|all]      default: all
#
# Each run starts `nhs-organisations serve` on a free loopback port with RATE_LIMIT_RPS=0 and a
# fresh database, creates an admin key for the occasional `whoami`, drives CLIENTS concurrent
# clients with examples/loadgen.rs, prints throughput, latency, errors and the server's peak
# RSS, then stops the server with SIGTERM. Any 5xx, transport error or unexpected GraphQL error
# fails the run, and the script exits non-zero.
#
# The `writes` run (SQLite and PostgreSQL) releases WRITERS concurrent admin mutations (deletes
# and membership updates) at one site and then at WRITERS sites, and fails on any INTERNAL
# answer or a deleted site left with a current membership.
#
# Environment:
#   PROFILE (release; `debug` for a quick check without a release build)
#   WRITERS (20)  CLIENTS (64)  DURATION (60)  SOAK_DURATION (120)
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
WRITERS=${WRITERS:-20}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}/$PROFILE
export PGOPTIONS="-c client_min_messages=warning"

echo "== building the $PROFILE binary and the load generator"
if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin nhs-organisations --example loadgen
else
    cargo build --quiet --bin nhs-organisations --example loadgen
fi
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

# start_server NAME DATABASE_URL: starts serve on a free port; sets SERVER_PID and PORT.
start_server() {
    PORT=$(free_port)
    RATE_LIMIT_RPS=0 DATABASE_URL=$2 HOST=127.0.0.1 PORT=$PORT RUST_LOG=warn \
        "$BIN" serve >"$WORK/$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 240); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$1.log"; echo "server died"; return 1; }
        curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && return 0
        sleep 0.5
    done
    return 1
}

# sql DATABASE_URL QUERY: one value.
sql() {
    case $1 in
    sqlite:*) sqlite3 "${1#sqlite://}" "$2" ;;
    *) psql -qAt "$1" -c "$2" ;;
    esac
}

# writes NAME DATABASE_URL: concurrent admin writes, then the hierarchy's invariants.
writes() {
    local name=$1 url=$2 rc=0
    echo
    echo "== $name: $WRITERS concurrent admin writes, on one site and on $WRITERS sites"
    start_server "$name" "$url" || return 1
    local key
    key=$(RUST_LOG=warn DATABASE_URL=$url "$BIN" admin-key create "writes-$name-$$" | tail -n 1)
    local units sites
    mapfile -t units < <(sql "$url" "SELECT pz_code FROM paediatric_diabetes_units ORDER BY pz_code LIMIT 5")
    for round in one many; do
        if [ "$round" = one ]; then
            mapfile -t sites < <(sql "$url" "SELECT ods_code FROM organisations WHERE deleted_at IS NULL ORDER BY ods_code LIMIT 1")
            sites=($(for _ in $(seq "$WRITERS"); do echo "${sites[0]}"; done))
        else
            mapfile -t sites < <(sql "$url" "SELECT ods_code FROM organisations WHERE deleted_at IS NULL ORDER BY ods_code LIMIT $WRITERS")
        fi
        local started=$SECONDS i=0
        for site in "${sites[@]}"; do
            local q
            case $((i % 3)) in
            0) q="mutation { deleteOrganisations(odsCodes: [\\\"$site\\\"]) { results { status } } }" ;;
            1) q="mutation { updateOrganisationMemberships(odsCode: \\\"$site\\\", pzCode: \\\"${units[$((i % ${#units[@]}))]}\\\") { results { status } } }" ;;
            *) q="mutation { updateOrganisationMemberships(odsCode: \\\"$site\\\", pzCode: null) { results { status } } }" ;;
            esac
            curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
                -H "authorization: Bearer $key" -d "{\"query\": \"$q\"}" >"$WORK/$name-$round-$i.json" &
            i=$((i + 1))
        done
        wait $(jobs -p | grep -vx "$SERVER_PID") 2>/dev/null || true
        local internal deleted_linked
        internal=$(cat "$WORK/$name-$round"-*.json | grep -c '"INTERNAL"' || true)
        deleted_linked=0
        for t in organisation_trusts organisation_local_health_boards organisation_integrated_care_boards \
            organisation_nhs_england_regions organisation_paediatric_diabetes_units organisation_open_uk_networks \
            organisation_london_boroughs organisation_countries; do
            deleted_linked=$((deleted_linked + $(sql "$url" "SELECT COUNT(*) FROM $t m JOIN organisations o ON o.id = m.child_id WHERE o.deleted_at IS NOT NULL AND m.valid_to IS NULL")))
        done
        local statuses
        statuses=$(cat "$WORK/$name-$round"-*.json | grep -oE '"status":"[A-Z_]+"|"code":"[A-Z_]+"' | sort | uniq -c | tr -s ' ' | paste -sd ',' -)
        echo "$round site(s): $((SECONDS - started)) s; answers:$statuses; INTERNAL $internal; deleted sites with current memberships $deleted_linked"
        [ "$internal" -eq 0 ] && [ "$deleted_linked" -eq 0 ] || rc=1
        printf '%-9s %s\n' "$name-$round" "INTERNAL $internal; deleted sites with current memberships $deleted_linked;$statuses" >>"$WORK/summary"
    done
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || rc=1
    SERVER_PID=""
    return $rc
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

case $MODE in writes | all)
    writes writes-sqlite "sqlite://$WORK/writes.db" || status=1
    fresh_pg_database "$PG_URL" nhs_writes
    writes writes-pg "$(pg_database_url "$PG_URL" nhs_writes)" || status=1
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS nhs_writes"
esac

echo
echo "== summary"
cat "$WORK/summary" 2>/dev/null || true
exit $status
