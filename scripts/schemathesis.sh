#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the API's own OpenAPI document, with a write
# token, on a fresh server with an embedded SQLite database in a temporary directory:
# every operation is fuzzed from its schema and every answer checked against it (no
# 5xx, documented status codes and content types, answers matching their schemas,
# schema-valid requests accepted). Takes about a minute plus the build.
#
#   scripts/schemathesis.sh                 # all checks, 15 examples per operation
#   MAX_EXAMPLES=100 scripts/schemathesis.sh
#   CHECKS=not_a_server_error,status_code_conformance scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
if ! command -v schemathesis >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check schemathesis
fi
cargo build -q -p vigilmon
bin="$CARGO_TARGET_DIR/debug/vigilmon"
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
token=$("$bin" token create --name schemathesis --scope write --data-dir "$dir" | tail -n1)
"$bin" serve --listen 127.0.0.1:0 --data-dir "$dir" >"$dir/serve.out" 2>"$dir/serve.log" &
pid=$!
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/serve.out" | head -n1)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "the server did not start" >&2; cat "$dir/serve.log" >&2; exit 1; }
schemathesis run "$url/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks "${CHECKS:-all}" \
  --max-examples "${MAX_EXAMPLES:-15}" \
  --request-timeout 10
