#!/usr/bin/env bash
# Ping ingestion benchmark: wrk with 64 connections against a heartbeat ping URL
# (every ping durably stored before OK), beside a small static file of the same server
# and its landing page (the ceilings); then the delay from missed deadlines to "down"
# at 10,000 heartbeat monitors, read from the server's own histogram.
#
# Usage: scripts/bench-ping.sh [sqlite|postgres]   (env: DURATION=10s, MONITORS=10000,
#        VIGILMON_BIN=path to use a binary already built, e.g. to compare two builds)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${DURATION:-10s}
monitors=${MONITORS:-10000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${VIGILMON_BIN:-}" ]; then
  bin=$VIGILMON_BIN
else
  cargo build --release -q -p vigilmon
  bin="$CARGO_TARGET_DIR/release/vigilmon"
fi

work=$(mktemp -d)
pid=""
db=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$db" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

store_args=(--data-dir "$work/data")
if [ "$backend" = postgres ]; then
  db="vigilmon_bench_$$"
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
  store_args=(--database-url "postgres://postgres@127.0.0.1:5432/$db")
fi

start_server() {
  VIGILMON_LOG=warn "$bin" serve --listen 127.0.0.1:0 "${store_args[@]}" "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 600); do
    url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$work/err" >&2; exit 1
}

token=$("$bin" token create --name bench --scope write "${store_args[@]}" | tail -n1)
# One URL hammered by wrk: the per-check rate limit (server.ping_rate_limit) is off.
printf 'server:\n  ping_rate_limit: 0\n' >"$work/nolimit.yaml"
start_server --config "$work/nolimit.yaml"
auth=(-H "Authorization: Bearer $token")
ping_url=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' "$url/api/v1/monitors" \
  -d '{"name":"bench","type":"heartbeat","every":"1h"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["ping_url"])')

echo "== $backend: ceiling, a small static file ($duration, 64 connections) =="
wrk -t2 -c64 -d"$duration" --latency "$url/assets/icon.svg" | grep -E "Requests/sec|50%|99%|requests in"
echo "== $backend: ceiling, the landing page / ($duration, 64 connections) =="
wrk -t2 -c64 -d"$duration" --latency "$url/" | grep -E "Requests/sec|50%|99%|requests in|Non-2xx"
echo "== $backend: pings, each durably stored ($duration, 64 connections) =="
wrk -t2 -c64 -d"$duration" --latency "$ping_url" | grep -E "Requests/sec|50%|99%|requests in|Non-2xx"
stored=$(curl -fsS "${auth[@]}" "$url/api/v1/monitors" | python3 -c 'import json,sys; print([m for m in json.load(sys.stdin)["monitors"] if m["name"]=="bench"][0]["heartbeat"]["pings_total"])')
echo "pings stored: $stored"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

echo "== $backend: deadline delay at $monitors heartbeat monitors (every 2s, grace 1s) =="
python3 - "$work/hb.yaml" "$monitors" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("monitors:\n")
    for i in range(n):
        f.write(f"  - {{name: hb-{i}, type: heartbeat, every: 2s, grace: 1s}}\n")
PY
start_server --config "$work/hb.yaml"
curl -fsS "${auth[@]}" "$url/api/v1/monitors" | python3 -c 'import json,sys; [print(m["ping_url"]) for m in json.load(sys.stdin)["monitors"] if "ping_url" in m]' >"$work/urls"
# Ping every monitor once (64 at a time), so that all their deadlines fall within ~1 s.
python3 - "$work/urls" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
urls = open(sys.argv[1]).read().split()
with ThreadPoolExecutor(64) as pool:
    list(pool.map(lambda u: urllib.request.urlopen(u, timeout=30).read(), urls))
print(f"pinged {len(urls)} monitors")
PY
sleep 5
curl -fsS "${auth[@]}" "$url/metrics" | grep -E '^vigilmon_heartbeat_deadline_delay_seconds_(bucket|sum|count)' \
  | python3 -c '
import sys, re
buckets = []; total = count = 0
for line in sys.stdin:
    m = re.match(r"vigilmon_heartbeat_deadline_delay_seconds_bucket\{le=\"([^\"]+)\"\} (\S+)", line)
    if m: buckets.append((m.group(1), float(m.group(2))))
    elif line.startswith("vigilmon_heartbeat_deadline_delay_seconds_sum"): total = float(line.split()[-1])
    elif line.startswith("vigilmon_heartbeat_deadline_delay_seconds_count"): count = float(line.split()[-1])
print(f"monitors marked down: {int(count)}; mean delay after deadline: {1000*total/max(count,1):.1f} ms")
for le, c in buckets:
    print(f"  <= {le:>5} s: {int(c)}")
'
