#!/usr/bin/env bash
# Several `vigilmon serve` nodes on one PostgreSQL database with many HTTP monitors
# (default: 3 nodes, 30,000 monitors at 60 s), everything on 127.0.0.1.
#
# What it does:
#   1. builds the release binary (or uses $VIGILMON_BIN);
#   2. starts a small HTTP target (python3, a canned 200, Connection: close);
#   3. creates a fresh database, writes a config with N monitors and starts the nodes
#      one after the other (the first applies the config file, the others find it);
#   4. after a warm-up (every monitor has run and the split has settled), measures a
#      window: CPU and RSS of every node, CPU of the PostgreSQL processes, the
#      database's commits and inserted rows per second (pg_stat_database), checks
#      stored (check_results rows), rows waiting in `ingest` at the end, each node's
#      scheduled monitors and scheduler lag (from /metrics), the target's CPU;
#   5. stops everything and drops the database on any exit.
#
# Knobs (environment):
#   VIGILMON_BIN            use this binary instead of building one
#   VIGILMON_BENCH_NODES    number of nodes (default 3)
#   VIGILMON_BENCH_MONITORS number of monitors (default 30000)
#   VIGILMON_BENCH_INTERVAL monitor interval (default 1m)
#   VIGILMON_BENCH_WARMUP   seconds before the window (default 90)
#   VIGILMON_BENCH_WINDOW   seconds measured (default 180)
#   PGHOST/PGUSER           PostgreSQL to use (default 127.0.0.1, postgres)
set -euo pipefail

NODES=${VIGILMON_BENCH_NODES:-3}
MONITORS=${VIGILMON_BENCH_MONITORS:-30000}
INTERVAL=${VIGILMON_BENCH_INTERVAL:-1m}
WARMUP=${VIGILMON_BENCH_WARMUP:-90}
WINDOW=${VIGILMON_BENCH_WINDOW:-180}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER

for n in "$NODES" "$MONITORS" "$WARMUP" "$WINDOW"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "error: nodes, monitors, warm-up and window must be whole numbers" >&2; exit 2; }
done
(( NODES > 0 && MONITORS > 0 && WINDOW > 0 )) || { echo "error: nodes, monitors and window must be > 0" >&2; exit 2; }
for c in python3 curl psql; do
    command -v "$c" >/dev/null || { echo "error: $c is needed" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigilmon-cluster.XXXXXX")
DB="vigilmon_bench_$$"
PIDS=()
TARGET_PID=""

stop() {
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
    for p in "${PIDS[@]}"; do stop "$p"; done
    stop "$TARGET_PID"
    psql -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${VIGILMON_BIN:-} ]]; then
    BIN=$VIGILMON_BIN
else
    echo "building the release binary…" >&2
    (cd "$ROOT" && cargo build --release -p vigilmon --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/vigilmon
fi
[[ -x $BIN ]] || { echo "error: no binary at $BIN" >&2; exit 1; }

cat >"$WORK/target.py" <<'PY'
import http.server
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
srv.request_queue_size = 1024
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$WORK/target.py" >"$WORK/target.port" 2>"$WORK/target.log" &
TARGET_PID=$!
for _ in $(seq 100); do [[ -s $WORK/target.port ]] && break; sleep 0.1; done
TARGET_PORT=$(head -n1 "$WORK/target.port")

psql -q -c "CREATE DATABASE $DB" >/dev/null
URL_DB="postgres://$PGUSER@$PGHOST:5432/$DB"
{
    echo "cluster: { lease_ttl: 10s }"
    echo "monitors:"
    for i in $(seq -w 1 "$MONITORS"); do
        echo "  - { name: \"load-$i\", type: http, url: \"http://127.0.0.1:$TARGET_PORT/health?m=$i\", interval: $INTERVAL, timeout: 5s }"
    done
} >"$WORK/vigilmon.yaml"
TOKEN=$("$BIN" token create --name bench --scope read --database-url "$URL_DB" 2>>"$WORK/cli.log" | tail -n1)

URLS=()
for n in $(seq 1 "$NODES"); do
    RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --config "$WORK/vigilmon.yaml" --database-url "$URL_DB" \
        --listen 127.0.0.1:0 >"$WORK/node$n.out" 2>"$WORK/node$n.log" &
    PIDS+=($!)
    for _ in $(seq 6000); do # the first node applies the config file first: minutes for 30,000 monitors
        grep -q 'listening on http://' "$WORK/node$n.out" 2>/dev/null && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/node$n.log" >&2; exit 1; }
        sleep 0.1
    done
    URLS+=("$(grep -o 'listening on http://[0-9.:]*' "$WORK/node$n.out" | head -n1 | sed 's/^listening on //')")
done
echo "$NODES nodes up (${URLS[*]}), $MONITORS monitors every $INTERVAL; warm-up ${WARMUP} s…" >&2
sleep "$WARMUP"

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
pg_ticks() {
    local s=0
    for p in $(pgrep -u postgres postgres 2>/dev/null || pgrep postgres); do
        [[ -r /proc/$p/stat ]] && s=$(( s + $(ticks "$p") ))
    done
    echo "$s"
}
pg_stat() { psql -At -d "$DB" -c "SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = current_database()"; }
rows() { psql -At -d "$DB" -c "SELECT count(*) FROM check_results"; }
metric() { # URL NAME: an unlabelled sample
    curl -fsS -H "Authorization: Bearer $TOKEN" "$1/metrics" | awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }'
}
lag() { # URL FILE
    curl -fsS -H "Authorization: Bearer $TOKEN" -o "$2" "$1/metrics"
}

declare -a C0 C1 R0 R1
for i in "${!PIDS[@]}"; do C0[$i]=$(ticks "${PIDS[$i]}"); R0[$i]=$(rss_mib "${PIDS[$i]}"); lag "${URLS[$i]}" "$WORK/m0-$i.txt"; done
PG0=$(pg_ticks); T0=$(ticks "$TARGET_PID"); ST0=$(pg_stat); ROWS0=$(rows); W0=$(date +%s.%N)
echo "measuring ${WINDOW} s…" >&2
sleep "$WINDOW"
for i in "${!PIDS[@]}"; do C1[$i]=$(ticks "${PIDS[$i]}"); R1[$i]=$(rss_mib "${PIDS[$i]}"); done
PG1=$(pg_ticks); T1=$(ticks "$TARGET_PID"); ST1=$(pg_stat); W1=$(date +%s.%N)
ROWS1=$(rows)
BACKLOG=$(psql -At -d "$DB" -c "SELECT count(*) FROM ingest")
WALL=$(awk -v a="$W0" -v b="$W1" 'BEGIN { printf "%.1f", b - a }')
CHECKS=$(( ROWS1 - ROWS0 ))

echo "nodes: $NODES; monitors: $MONITORS every $INTERVAL; window $WALL s"
echo "checks stored: $CHECKS ($(awk -v c="$CHECKS" -v w="$WALL" 'BEGIN { printf "%.1f", c / w }')/s; expected $(awk -v n="$MONITORS" -v iv="$INTERVAL" 'BEGIN { s = iv; u = substr(s, length(s)); v = substr(s, 1, length(s) - 1); if (u == "m") v *= 60; printf "%.1f", n / v }')/s); ingest rows waiting at the end: $BACKLOG"
for i in "${!PIDS[@]}"; do
    lag "${URLS[$i]}" "$WORK/m1-$i.txt"
    sched=$(awk '$1 == "vigilmon_scheduled_monitors" { print $2 }' "$WORK/m1-$i.txt")
    coord=$(awk '$1 == "vigilmon_coordinator" { print $2 }' "$WORK/m1-$i.txt")
    p99=$(awk '
        FNR == 1 { f++ }
        /^vigilmon_scheduler_lag_seconds_bucket/ { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5); if (f == 1) a[le] = $2; else { b[le] = $2; if (!(le in s)) { s[le] = 1; o[++k] = le } } }
        /^vigilmon_scheduler_lag_seconds_count/ { if (f == 1) n0 = $2; else n1 = $2 }
        END { n = n1 - n0; if (n <= 0) { print "-"; exit } for (i = 1; i <= k; i++) if (b[o[i]] - a[o[i]] >= 0.99 * n) { print o[i]; exit } }' "$WORK/m0-$i.txt" "$WORK/m1-$i.txt")
    awk -v c0="${C0[$i]}" -v c1="${C1[$i]}" -v w="$WALL" -v r0="${R0[$i]}" -v r1="${R1[$i]}" -v n="$((i + 1))" -v s="$sched" -v co="${coord:-0}" -v p="$p99" 'BEGIN {
        printf "node %d%s: CPU %.1f %% of one core; RSS %s → %s MiB; scheduled monitors %s; scheduler lag p99 ≤ %s s\n", n, (co == 1 ? " (coordinator)" : ""), 100 * (c1 - c0) / 100 / w, r0, r1, s, p }'
done
awk -v a="$PG0" -v b="$PG1" -v w="$WALL" 'BEGIN { printf "PostgreSQL CPU (all its processes): %.1f %% of one core\n", 100 * (b - a) / 100 / w }'
awk -v a="$ST0" -v b="$ST1" -v w="$WALL" 'BEGIN { split(a, x, "|"); split(b, y, "|"); printf "database: %.1f commits/s, %.1f rows inserted/s\n", (y[1] - x[1]) / w, (y[2] - x[2]) / w }'
awk -v a="$T0" -v b="$T1" -v w="$WALL" 'BEGIN { printf "target CPU (python3): %.1f %% of one core\n", 100 * (b - a) / 100 / w }'
