#!/usr/bin/env bash
# Property-based run of schemathesis (PyPI) against a running server and openapi.json: no 5xx,
# every status, content type and body as the document says. Usage: .ci/schemathesis.sh
# DATABASE_URL (a database the server may migrate and seed). Needs target/release/nhs-organisations
# (built by the README's test command, `cargo test --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE_URL=$1
SCHEMATHESIS_VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --retries 5 --timeout 60 "schemathesis==$SCHEMATHESIS_VERSION"
fi
BIN=target/release/nhs-organisations
[ -x "$BIN" ] || cargo build --release -q
PORT=${SCHEMATHESIS_PORT:-18080}
LOG=$(mktemp)
DATABASE_URL="$DATABASE_URL" PORT=$PORT HOST=127.0.0.1 RATE_LIMIT_RPS=0 RUST_LOG=warn "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/openapi.json" && break
  sleep 1
done
if ! curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/openapi.json"; then
  echo "the server did not start:"; cat "$LOG"; exit 1
fi
# The served document must be the committed one.
curl -fsS "http://127.0.0.1:$PORT/v1/openapi.json" | cmp - openapi.json
"$VENV/bin/st" run openapi.json --url "http://127.0.0.1:$PORT" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing -n 25 --seed 13 --request-timeout 30 --request-retries 2 \
  --generation-database none --warnings off
