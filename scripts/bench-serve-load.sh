#!/usr/bin/env bash
# CPU and memory of the real `vigilmon serve` per N monitors (default 1,000 HTTP
# monitors at a 1-minute interval), SQLite store, everything on 127.0.0.1.
#
# What it does:
#   1. builds the release binary (or uses $VIGILMON_BIN);
#   2. starts a tiny HTTP target on 127.0.0.1 (python3 http.server with a canned
#      200 '{"status":"ok"}', Connection: close, no request logging);
#   3. writes a config with N http monitors pointing at it, creates a read token, and
#      starts `vigilmon serve --config … --data-dir <temp> --listen 127.0.0.1:0`;
#   4. waits for the URL, lets it warm up (default 60 s: every monitor has run once),
#      then measures a window (default 180 s = 3 intervals): CPU ticks of the server
#      process (/proc/PID/stat utime+stime) and RSS (/proc/PID/status VmRSS) at the
#      start and end (RSS also every 30 s), check results stored (sqlite3 row count and
#      vigilmon_results_written_total), and the scheduler lag histogram from /metrics
#      (window delta of vigilmon_scheduler_lag_seconds);
#   5. prints the figures and cleans up (server, target, temp dir) on any exit.
#
# Only the server process is measured; the target's CPU is printed separately.
#
# Knobs (environment):
#   VIGILMON_BIN             use this binary instead of building one
#   VIGILMON_BENCH_MONITORS  number of monitors (default 1000)
#   VIGILMON_BENCH_INTERVAL  monitor interval (default 1m; at least 10s)
#   VIGILMON_BENCH_WARMUP    seconds before the window (default 60)
#   VIGILMON_BENCH_WINDOW    seconds measured (default 180)
#   VIGILMON_BENCH_SCRAPE    scrape /metrics every this many seconds during the window,
#                            as Prometheus would (default 0: no scrapes in the window;
#                            their cost to the server is then counted)
#   VIGILMON_BENCH_TLS=1     HTTPS monitors: the target serves TLS with a certificate
#                            from a CA made for the run (openssl), which the server
#                            trusts through `probe.ca_files`; every check is a full,
#                            verified handshake (as users' checks are)
#   VIGILMON_BENCH_PG=URL    PostgreSQL instead of SQLite: an admin URL (e.g.
#                            postgres://postgres@127.0.0.1:5432/postgres); a database is
#                            made for the run and dropped after it, and the CPU of the
#                            server's PostgreSQL processes (every process named
#                            postgres, so keep other work off that server) is reported
#                            beside the server's
#   VIGILMON_BENCH_KEEP=1    keep the temp dir (database, logs, and the server's
#                            /proc/PID/smaps at the window's end) for inspection
#   CARGO_TARGET_DIR         where the release binary is built (cargo's default if unset)
set -euo pipefail

MONITORS=${VIGILMON_BENCH_MONITORS:-1000}
INTERVAL=${VIGILMON_BENCH_INTERVAL:-1m}
WARMUP=${VIGILMON_BENCH_WARMUP:-60}
WINDOW=${VIGILMON_BENCH_WINDOW:-180}
KEEP=${VIGILMON_BENCH_KEEP:-0}
SCRAPE_EVERY=${VIGILMON_BENCH_SCRAPE:-0}
TLS=${VIGILMON_BENCH_TLS:-0}
PG_ADMIN=${VIGILMON_BENCH_PG:-}

for n in "$MONITORS" "$WARMUP" "$WINDOW" "$SCRAPE_EVERY"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "error: monitors, warm-up, window and scrape period must be whole numbers" >&2; exit 2; }
done
(( MONITORS > 0 && WINDOW > 0 )) || { echo "error: monitors and window must be > 0" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is needed for the HTTP target" >&2; exit 2; }
command -v curl >/dev/null || { echo "error: curl is needed to read /metrics" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigilmon-bench.XXXXXX")
SERVER_PID=""
TARGET_PID=""
NAP_PID=""
SCRAPER_PID=""
PG_DB=""

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
    if [[ -n $NAP_PID ]]; then kill "$NAP_PID" 2>/dev/null || true; fi
    if [[ -n $SCRAPER_PID ]]; then kill "$SCRAPER_PID" 2>/dev/null || true; fi
    stop "$SERVER_PID"
    stop "$TARGET_PID"
    if [[ -n $PG_DB ]]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
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

# --- binary -------------------------------------------------------------------------
if [[ -n ${VIGILMON_BIN:-} ]]; then
    BIN=$VIGILMON_BIN
else
    echo "building the release binary (cargo build --release -p vigilmon)…" >&2
    (cd "$ROOT" && cargo build --release -p vigilmon --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/vigilmon
fi
[[ -x $BIN ]] || { echo "error: no binary at $BIN" >&2; exit 1; }

# --- HTTP target --------------------------------------------------------------------
cat >"$WORK/target.py" <<'PY'
import http.server, sys

BODY = b'{"status":"ok"}'

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(BODY)
        self.close_connection = True
    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
if len(sys.argv) > 1:  # certificate and key: serve TLS
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
SCHEME=http
TARGET_ARGS=()
CURL_CA=()
if [[ $TLS == 1 ]]; then
    command -v openssl >/dev/null || { echo "error: openssl is needed for VIGILMON_BENCH_TLS=1" >&2; exit 2; }
    (
        cd "$WORK"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=vigilmon bench CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=127.0.0.1" -keyout target.key -out target.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
        openssl x509 -req -in target.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext.cnf -out target.pem 2>/dev/null
    )
    SCHEME=https
    TARGET_ARGS=("$WORK/target.pem" "$WORK/target.key")
    CURL_CA=(--cacert "$WORK/ca.pem")
fi
python3 "$WORK/target.py" "${TARGET_ARGS[@]}" >"$WORK/target.port" 2>"$WORK/target.log" &
TARGET_PID=$!

nap() { # sleep that a trapped signal interrupts (bash runs traps only between commands)
    sleep "$1" &
    NAP_PID=$!
    wait "$NAP_PID"
    NAP_PID=""
}
wait_for() { # wait_for DESCRIPTION SECONDS COMMAND…: poll every 0.1 s
    local what=$1 secs=$2
    shift 2
    for _ in $(seq $((secs * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    echo "error: timed out waiting for $what" >&2
    return 1
}
wait_for "the HTTP target" 10 test -s "$WORK/target.port"
TARGET_PORT=$(head -n1 "$WORK/target.port")
curl -fsS "${CURL_CA[@]}" "$SCHEME://127.0.0.1:$TARGET_PORT/health" >/dev/null

# --- config, token, server ----------------------------------------------------------
{
    if [[ $TLS == 1 ]]; then
        echo "probe:"
        echo "  ca_files: [\"$WORK/ca.pem\"]"
    fi
    echo "monitors:"
    for i in $(seq -w 1 "$MONITORS"); do
        echo "  - { name: \"load-$i\", type: http, url: \"$SCHEME://127.0.0.1:$TARGET_PORT/health?m=$i\", interval: $INTERVAL, timeout: 5s }"
    done
} >"$WORK/vigilmon.yaml"
mkdir -p "$WORK/data"
STORE_ARGS=(--data-dir "$WORK/data")
if [[ -n $PG_ADMIN ]]; then
    command -v psql >/dev/null || { echo "error: psql is needed for VIGILMON_BENCH_PG" >&2; exit 2; }
    PG_DB="vigilmon_bench_load_$$"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
    PG_URL="${PG_ADMIN%/*}/$PG_DB"
    STORE_ARGS=(--database-url "$PG_URL")
fi

TOKEN=$("$BIN" token create --name bench --scope read "${STORE_ARGS[@]}" 2>>"$WORK/server.log" | tail -n1)
[[ -n $TOKEN ]] || { echo "error: could not create a token" >&2; exit 1; }

t_start=$(date +%s.%N)
RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --config "$WORK/vigilmon.yaml" "${STORE_ARGS[@]}" \
    --listen 127.0.0.1:0 >"$WORK/server.out" 2>>"$WORK/server.log" &
SERVER_PID=$!
server_up() {
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "error: server exited" >&2; exit 1; }
    grep -q 'listening on http://' "$WORK/server.out"
}
wait_for "the server's URL" 120 server_up
URL=$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.out" | head -n1 | sed 's/^listening on //')
t_up=$(date +%s.%N)

# --- helpers --------------------------------------------------------------------------
ticks() { # utime + stime of PID (fields 14 and 15; the name in field 2 may hold spaces)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
ctxsw() { # voluntary + involuntary context switches of all of PID's threads
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
db_ticks() { # utime + stime of every PostgreSQL process (0 on SQLite)
    if [[ -z $PG_DB ]]; then echo 0; return; fi
    local total=0 p
    for p in $(pgrep -x postgres || true); do
        total=$(( total + $(ticks "$p" 2>/dev/null || echo 0) ))
    done
    echo "$total"
}
scrape() { # scrape FILE: GET /metrics with the token; prints the seconds it took
    curl -fsS -H "Authorization: Bearer $TOKEN" -o "$1" -w '%{time_total}\n' "$URL/metrics"
}
metric() { # metric FILE NAME: value of an unlabelled sample (0 when absent)
    awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}
rows() {
    if [[ -n $PG_DB ]]; then
        psql -qtA "$PG_URL" -c 'SELECT count(*) FROM check_results;' 2>/dev/null || echo "?"
    elif command -v sqlite3 >/dev/null; then
        sqlite3 -readonly "$WORK/data/vigilmon.db" 'SELECT count(*) FROM check_results;' 2>/dev/null || echo "?"
    else
        echo "?"
    fi
}

echo "server $URL (pid $SERVER_PID), $MONITORS monitors every $INTERVAL against 127.0.0.1:$TARGET_PORT (pid $TARGET_PID)" >&2
echo "up in $(awk -v a="$t_start" -v b="$t_up" 'BEGIN { printf "%.2f", b - a }') s; RSS after start $(( $(rss_kib "$SERVER_PID") / 1024 )) MiB; warm-up ${WARMUP} s…" >&2
nap "$WARMUP"
kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "error: server exited during the warm-up" >&2; exit 1; }

# --- window -----------------------------------------------------------------------------
# The two scrapes the report reads and the row counts happen outside the CPU window
# (before its start sample and after its end sample), so their cost to the server is
# not counted; with VIGILMON_BENCH_SCRAPE the periodic scrapes inside it are.
rss_warm=$(rss_kib "$SERVER_PID") # before the first /metrics scrape, which allocates
scrape_s0=$(scrape "$WORK/m0.txt")
rows0=$(rows)
cpu0=$(ticks "$SERVER_PID")
db0=$(db_ticks)
cs0=$(ctxsw "$SERVER_PID")
tcpu0=$(ticks "$TARGET_PID")
rss0=$(rss_kib "$SERVER_PID")
w0=$(date +%s.%N)
echo "measuring ${WINDOW} s…" >&2
if (( SCRAPE_EVERY > 0 )); then
    echo "scraping /metrics every ${SCRAPE_EVERY} s during the window" >&2
    ( while true; do scrape /dev/null >/dev/null || true; sleep "$SCRAPE_EVERY"; done ) &
    SCRAPER_PID=$!
fi
rss_trace="$(( rss0 / 1024 ))"
left=$WINDOW
while (( left > 0 )); do
    step=$(( left < 30 ? left : 30 ))
    nap "$step"
    left=$(( left - step ))
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "error: server exited during the window" >&2; exit 1; }
    if (( left > 0 )); then rss_trace+=" $(( $(rss_kib "$SERVER_PID") / 1024 ))"; fi
done
if [[ -n $SCRAPER_PID ]]; then kill "$SCRAPER_PID" 2>/dev/null || true; wait "$SCRAPER_PID" 2>/dev/null || true; fi
cpu1=$(ticks "$SERVER_PID")
db1=$(db_ticks)
cs1=$(ctxsw "$SERVER_PID")
tcpu1=$(ticks "$TARGET_PID")
rss1=$(rss_kib "$SERVER_PID")
hwm=$(hwm_kib "$SERVER_PID")
# Where the resident memory is: anonymous (heap, stacks) or file pages (the binary's
# code), and how many threads hold stacks.
mem_split=$(awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^Threads:/ { t = $2 }
    END { printf "anonymous %.1f MiB, file-backed %.1f MiB, %d threads", a / 1024, f / 1024, t }' \
    "/proc/$SERVER_PID/status")
if [[ $KEEP == 1 ]]; then cp "/proc/$SERVER_PID/smaps" "$WORK/smaps.txt" 2>/dev/null || true; fi
w1=$(date +%s.%N)
rss_trace+=" $(( rss1 / 1024 ))"
scrape_s=$(scrape "$WORK/m1.txt")
rows1=$(rows)
metrics_bytes=$(wc -c <"$WORK/m1.txt")

# --- report -----------------------------------------------------------------------------
written0=$(metric "$WORK/m0.txt" vigilmon_results_written_total)
written1=$(metric "$WORK/m1.txt" vigilmon_results_written_total)
errors1=$(metric "$WORK/m1.txt" vigilmon_result_write_errors_total)
checks=$(awk -v a="$written0" -v b="$written1" 'BEGIN { printf "%d", b - a }')
if [[ $rows0 != "?" && $rows1 != "?" ]]; then rows_delta=$(( rows1 - rows0 )); else rows_delta="?"; fi
down=$(grep -c '^vigilmon_check_failures_total{' "$WORK/m1.txt" || true)

awk -v c0="$cpu0" -v c1="$cpu1" -v t0="$tcpu0" -v t1="$tcpu1" -v w0="$w0" -v w1="$w1" \
    -v r0="$rss0" -v r1="$rss1" -v hwm="$hwm" -v checks="$checks" -v n="$MONITORS" \
    -v rows="$rows_delta" -v rowsall="$rows1" -v errs="$errors1" -v iv="$INTERVAL" \
    -v trace="$rss_trace" -v mb="$metrics_bytes" -v ss="$scrape_s" -v ss0="$scrape_s0" \
    -v rw="$rss_warm" -v cs="$((cs1 - cs0))" -v down="$down" -v db="$((db1 - db0))" \
    -v pg="${PG_DB:+1}" -v msplit="$mem_split" 'BEGIN {
    wall = w1 - w0; cpu = (c1 - c0) / 100; tcpu = (t1 - t0) / 100
    printf "monitors: %d every %s; window %.1f s\n", n, iv, wall
    printf "server CPU: %.2f s = %.2f %% of one core", cpu, 100 * cpu / wall
    if (checks > 0) printf "; %.3f CPU-s per 1,000 checks (%.0f µs per check)", 1000 * cpu / checks, 1e6 * cpu / checks
    printf "\n"
    printf "server context switches: %d", cs
    if (checks > 0) printf " (%.1f per check)", cs / checks
    printf "\n"
    printf "server RSS: %.1f MiB after warm-up (before any /metrics scrape), %.1f MiB at window start (after one), %.1f MiB at end (peak %.1f MiB); every 30 s: %s MiB\n", rw / 1024, r0 / 1024, r1 / 1024, hwm / 1024, trace
    printf "  at the end: %s\n", msplit
    printf "checks stored in the window: %d (results_written_total), %s (check_results rows); %.1f checks/s; %s rows in all; write errors %d\n", checks, rows, checks / wall, rowsall, errs
    printf "monitors with a down result since start: %d\n", down
    if (pg == 1) {
        printf "PostgreSQL CPU (every postgres process, not included above): %.2f s = %.2f %% of one core", db / 100, db / wall
        if (checks > 0) printf " (%.0f µs per check)", 1e4 * db / checks
        printf "\n"
    }
    printf "target CPU (python3, not included above): %.2f s = %.2f %% of one core\n", tcpu, 100 * tcpu / wall
    printf "/metrics: %d bytes, scraped in %.3f s (first scrape %.3f s)\n", mb, ss, ss0
}'

# Scheduler lag over the window: delta of the cumulative histogram buckets.
awk '
    FNR == 1 { f++ }
    /^vigilmon_scheduler_lag_seconds_bucket/ {
        match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
        if (f == 1) a[le] = $2; else { b[le] = $2; if (!(le in seen)) { seen[le] = 1; order[++k] = le } }
    }
    /^vigilmon_scheduler_lag_seconds_sum/   { if (f == 1) s0 = $2; else s1 = $2 }
    /^vigilmon_scheduler_lag_seconds_count/ { if (f == 1) n0 = $2; else n1 = $2 }
    END {
        n = n1 - n0
        if (n <= 0) { print "scheduler lag: no samples"; exit }
        printf "scheduler lag (vigilmon_scheduler_lag_seconds, window): %d samples, mean %.3f ms\n", n, 1000 * (s1 - s0) / n
        printf "  buckets (le → share):"
        prev = 0; p50 = ""; p99 = ""
        for (i = 1; i <= k; i++) {
            le = order[i]; c = b[le] - a[le]
            if (c - prev > 0 || le == "+Inf") printf " ≤%s s: %.2f%%;", le, 100 * (c - prev) / n
            if (p50 == "" && c >= 0.50 * n) p50 = le
            if (p99 == "" && c >= 0.99 * n) p99 = le
            prev = c
        }
        printf "\n  p50 ≤ %s s, p99 ≤ %s s (bucket upper bounds)\n", p50, p99
    }' "$WORK/m0.txt" "$WORK/m1.txt"
