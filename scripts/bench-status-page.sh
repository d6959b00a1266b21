#!/usr/bin/env bash
# Requests per second and latency of a public status page: 50 monitors with 90 days of
# history (seeded directly through the store), SQLite, everything on 127.0.0.1.
#
# What it does:
#   1. builds the release binary and the seeding example (or uses $VIGILMON_BIN and
#      $VIGILMON_SEED);
#   2. seeds a fresh data directory: N monitors (checking the server's own /healthz
#      every minute), 90 days of incidents, public updates, hourly and daily rollups,
#      a weekly maintenance window, and the page `bench` (examples/seed_status_history.rs);
#   3. starts `vigilmon serve` on a free port and measures
#      - the cold render: the first request after start, then N more after an API
#        write that invalidates the cache (PUT of the page, unchanged), with curl;
#      - with wrk (64 connections, 2 threads, $DURATION s each): /status/bench plain,
#        with Accept-Encoding: gzip, and with If-None-Match (304); the public JSON;
#        and the same server's /healthz (one SELECT 1) and a static asset as ceilings;
#   4. prints the figures and cleans up (server, temp dir) on any exit.
#
# wrk and the server share the machine: on 2 cores the figures are a floor.
#
# Knobs (environment):
#   VIGILMON_BIN             use this vigilmon binary instead of building one
#   VIGILMON_SEED            use this seeding binary instead of building one
#   VIGILMON_BENCH_MONITORS  monitors on the page (default 50)
#   VIGILMON_BENCH_DAYS      days of history (default 90)
#   VIGILMON_BENCH_DURATION  seconds per wrk run (default 15)
#   VIGILMON_BENCH_COLD      cold renders measured after the first (default 5)
#   VIGILMON_BENCH_KEEP=1    keep the temp dir (database, logs)
#   CARGO_TARGET_DIR         where release binaries are built (cargo's default if unset)
set -euo pipefail

MONITORS=${VIGILMON_BENCH_MONITORS:-50}
DAYS=${VIGILMON_BENCH_DAYS:-90}
DURATION=${VIGILMON_BENCH_DURATION:-15}
COLD=${VIGILMON_BENCH_COLD:-5}
KEEP=${VIGILMON_BENCH_KEEP:-0}
CONNECTIONS=64

for n in "$MONITORS" "$DAYS" "$DURATION" "$COLD"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "error: knobs must be whole numbers" >&2; exit 2; }
done
(( MONITORS > 0 && DAYS > 0 && DURATION > 0 && DURATION <= 300 )) || { echo "error: monitors and days > 0, duration 1-300 s" >&2; exit 2; }
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigilmon-status-bench.XXXXXX")
SERVER_PID=""

stop() { # stop PID: TERM, wait up to 10 s, then KILL
    local pid=$1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop "$SERVER_PID"
    if [[ $KEEP == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- binaries -------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ -z ${VIGILMON_BIN:-} || -z ${VIGILMON_SEED:-} ]]; then
    echo "building release binaries (vigilmon, seed_status_history)…" >&2
    (cd "$ROOT" && timeout 1800 cargo build --release --quiet -p vigilmon \
        && timeout 1800 cargo build --release --quiet -p vigilmon-public --example seed_status_history)
fi
BIN=${VIGILMON_BIN:-$TARGET/release/vigilmon}
SEED=${VIGILMON_SEED:-$TARGET/release/examples/seed_status_history}
[[ -x $BIN && -x $SEED ]] || { echo "error: no binaries at $BIN / $SEED" >&2; exit 1; }

# --- seed, token, server --------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
timeout 600 "$SEED" --data-dir "$WORK/data" --monitors "$MONITORS" --days "$DAYS" --port "$PORT" >&2
TOKEN=$("$BIN" token create --name bench --scope write --data-dir "$WORK/data" 2>>"$WORK/server.log" | tail -n1)
[[ -n $TOKEN ]] || { echo "error: could not create a token" >&2; exit 1; }

VIGILMON_LOG=${VIGILMON_LOG:-warn} "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
    >"$WORK/server.out" 2>>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "error: server exited" >&2; exit 1; }
    grep -q 'listening on http://' "$WORK/server.out" && break
    sleep 0.1
done
grep -q 'listening on http://' "$WORK/server.out" || { echo "error: server did not start" >&2; exit 1; }
echo "server $URL (pid $SERVER_PID), page /status/bench with $MONITORS monitors × $DAYS days" >&2

# --- cold renders -----------------------------------------------------------------------
timing() { curl -s -o "$WORK/body" -w '%{http_code} %{time_total} %{size_download}\n' "$@"; }
read -r code first size <<<"$(timing "$URL/status/bench")"
[[ $code == 200 ]] || { echo "error: /status/bench answered $code" >&2; exit 1; }
read -r _ _ gz <<<"$(timing -H 'Accept-Encoding: gzip' "$URL/status/bench")"
read -r _ _ jsize <<<"$(timing "$URL/api/v1/public/status/bench")"
read -r _ _ jgz <<<"$(timing -H 'Accept-Encoding: gzip' "$URL/api/v1/public/status/bench")"
curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/status-pages/bench" \
    | python3 -c 'import json, sys; d = json.load(sys.stdin); keep = ("slug", "title", "description", "timezone", "domain", "logo_url", "accent_color", "sections"); print(json.dumps({k: v for k, v in d.items() if k in keep and v is not None}))' \
    >"$WORK/page.json"
colds=()
for _ in $(seq "$COLD"); do
    curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data @"$WORK/page.json" "$URL/api/v1/status-pages/bench"
    read -r _ t _ <<<"$(timing "$URL/status/bench")"
    colds+=("$t")
done
ETAG=$(curl -s -D - -o /dev/null "$URL/status/bench" | awk 'tolower($1) == "etag:" { sub(/\r$/, ""); $1 = ""; sub(/^ /, ""); print }')

# --- wrk ----------------------------------------------------------------------------------
run_wrk() { # run_wrk NAME URL [HEADER]: prints "NAME req/s p50 p99"
    local name=$1 url=$2 out
    shift 2
    local hdr=()
    [[ $# -gt 0 ]] && hdr=(-H "$1")
    out=$(timeout $((DURATION + 30)) wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$url")
    echo "$out" >"$WORK/wrk-$name.txt"
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    errors=$(awk '/Non-2xx or 3xx/ { print $5 }' <<<"$out")
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "${errors:-0}"
}
echo "wrk: $CONNECTIONS connections, 2 threads, ${DURATION} s per run…" >&2
rows=()
rows+=("$(run_wrk page "$URL/status/bench")")
rows+=("$(run_wrk page-gzip "$URL/status/bench" 'Accept-Encoding: gzip')")
rows+=("$(run_wrk page-304 "$URL/status/bench" "If-None-Match: $ETAG")")
rows+=("$(run_wrk json-gzip "$URL/api/v1/public/status/bench" 'Accept-Encoding: gzip')")
rows+=("$(run_wrk healthz "$URL/healthz")")
rows+=("$(run_wrk static-css "$URL/status-assets/status.css")")

# --- report -------------------------------------------------------------------------------
sorted=$(printf '%s\n' "${colds[@]}" | sort -n)
echo
echo "page: $MONITORS monitors × $DAYS days; HTML $size bytes ($gz gzip), JSON $jsize bytes ($jgz gzip)"
awk -v f="$first" 'BEGIN { printf "cold render, first request after start: %.1f ms\n", f * 1000 }'
printf '%s\n' "$sorted" | awk '{ v[NR] = $1 } END { if (NR) printf "cold render after invalidation (%d runs): min %.1f ms, median %.1f ms, max %.1f ms\n", NR, v[1] * 1000, v[int((NR + 1) / 2)] * 1000, v[NR] * 1000 }'
echo
echo "| endpoint | requests/s | p50 | p99 | non-2xx/3xx |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
