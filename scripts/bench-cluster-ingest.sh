#!/usr/bin/env bash
# What several nodes on one PostgreSQL take in from outside (default: 3 nodes):
#
#   1. pings at full rate spread over every node (wrk, one per node, 64 connections in
#      all), beside the same nodes' ceiling (a small static file); every ping answered
#      OK must be in the store at the end;
#   2. a simulated 100,000 monitors: agents of one region (AGENTS, each polling its own
#      node in turn) post batches of results at the rate 100,000 monitors at 60 s give
#      (1,667 results/s); measured: results stored per second, rows waiting in `ingest`,
#      CPU and RSS of every node and of PostgreSQL, commits per second, and the bytes
#      each stored result takes on disk (table, indexes, TOAST) — hence rows and bytes
#      per day;
#   3. retention on what was written: results are partitioned by day, so the
#      coordinator expires a day by dropping its partition; measured: how long dropping
#      the partition that holds the window's rows takes, and the rows per second the
#      row-by-row delete (what is left in the default partition) manages on a copy.
#
# Knobs (environment): VIGILMON_BIN (a binary instead of building one), NODES (3),
# MONITORS (100000), AGENTS (4), BATCH (500), PING_SECONDS (10), WINDOW (120),
# WARMUP (30), PGHOST/PGUSER (127.0.0.1, postgres).
set -euo pipefail

NODES=${NODES:-3}
MONITORS=${MONITORS:-100000}
AGENTS=${AGENTS:-4}
BATCH=${BATCH:-500}
PING_SECONDS=${PING_SECONDS:-10}
WINDOW=${WINDOW:-120}
WARMUP=${WARMUP:-30}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER
for n in "$NODES" "$MONITORS" "$AGENTS" "$BATCH" "$PING_SECONDS" "$WINDOW" "$WARMUP"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "error: every knob is a whole number" >&2; exit 2; }
done
(( NODES > 0 && MONITORS > 0 && AGENTS > 0 && BATCH > 0 && WINDOW > 0 )) || { echo "error: knobs must be > 0" >&2; exit 2; }
for c in python3 curl psql; do
    command -v "$c" >/dev/null || { echo "error: $c is needed" >&2; exit 2; }
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigilmon-cluster-ingest.XXXXXX")
DB="vigilmon_bench_ingest_$$"
PIDS=()
stop() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
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

psql -q -c "CREATE DATABASE $DB" >/dev/null
URL_DB="postgres://$PGUSER@$PGHOST:5432/$DB"
# The built-in probe is off: every monitor runs in the agents' region only. The ping
# limit per check is off: one check's URL is hammered on purpose.
python3 - "$WORK/vigilmon.yaml" "$MONITORS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("cluster: { lease_ttl: 10s }\nserver: { ping_rate_limit: 0 }\n")
    f.write("regions:\n  - {name: local, enabled: false}\n  - {name: eu}\nmonitors:\n")
    for i in range(n):
        f.write(f"  - {{name: m{i}, type: tcp, host: 127.0.0.1, port: 9, interval: 1m, regions: [eu]}}\n")
PY
"$BIN" token create --name bench --scope write --database-url "$URL_DB" 2>>"$WORK/cli.log" | tail -n1 >"$WORK/token"
TOKEN=$(cat "$WORK/token")
AGENT_TOKENS=()
for i in $(seq 1 "$AGENTS"); do
    AGENT_TOKENS+=("$("$BIN" token create --name "agent-$i" --scope agent --region eu --database-url "$URL_DB" 2>>"$WORK/cli.log" | tail -n1)")
done

URLS=()
for n in $(seq 1 "$NODES"); do
    RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --config "$WORK/vigilmon.yaml" --database-url "$URL_DB" \
        --listen 127.0.0.1:0 >"$WORK/node$n.out" 2>"$WORK/node$n.log" &
    PIDS+=($!)
    for _ in $(seq 12000); do # the first node applies the config file: minutes at 100,000 monitors
        grep -q 'listening on http://' "$WORK/node$n.out" 2>/dev/null && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/node$n.log" >&2; exit 1; }
        sleep 0.1
    done
    URLS+=("$(grep -o 'listening on http://[0-9.:]*' "$WORK/node$n.out" | head -n1 | sed 's/^listening on //')")
done
echo "$NODES nodes up (${URLS[*]}), $MONITORS agent monitors" >&2

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
pg_ticks() {
    local s=0
    for p in $(pgrep -u postgres postgres 2>/dev/null || pgrep postgres); do
        [[ -r /proc/$p/stat ]] && s=$(( s + $(ticks "$p") ))
    done
    echo "$s"
}
q() { psql -At -d "$DB" -c "$1"; }

# --- 1. pings spread over every node -------------------------------------------------
read -r PING_ID PING_URL < <(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "${URLS[0]}/api/v1/monitors" \
    -d '{"name":"pinged","type":"heartbeat","every":"1h"}' | python3 -c 'import json,sys; m = json.load(sys.stdin); print(m["id"], m["ping_url"])')
PING_PATH=${PING_URL#http://*/}
CONNS=$(( 64 / NODES > 0 ? 64 / NODES : 1 ))
wrk_all() { # PATH LABEL: one wrk per node at once; sums requests/s and non-2xx
    local path=$1 label=$2
    local w=()
    for i in "${!URLS[@]}"; do
        wrk -t1 -c"$CONNS" -d"${PING_SECONDS}s" "${URLS[$i]}/$path" >"$WORK/wrk-$label-$i.txt" 2>&1 &
        w+=($!)
    done
    wait "${w[@]}"
    python3 - "$WORK" "$label" "${#URLS[@]}" <<'PY'
import re, sys
work, label, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rate = total = bad = 0
for i in range(n):
    t = open(f"{work}/wrk-{label}-{i}.txt").read()
    rate += float(re.search(r"Requests/sec:\s*([\d.]+)", t).group(1))
    total += int(re.search(r"(\d+) requests in", t).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    bad += int(m.group(1)) if m else 0
print(f"{rate:.0f} {total} {bad}")
PY
}
read -r CEIL_RATE _ _ < <(wrk_all "assets/icon.svg" ceiling)
read -r PING_RATE PING_TOTAL PING_BAD < <(wrk_all "$PING_PATH" ping)
# Every ping answered OK must reach the store (the followers' go through `ingest`).
for _ in $(seq 300); do
    [[ $(q "SELECT count(*) FROM ingest") == 0 ]] && break
    sleep 0.1
done
# The ping log keeps the latest pings of a check; its counter counts them all.
PINGS_STORED=$(curl -fsS -H "Authorization: Bearer $TOKEN" "${URLS[0]}/api/v1/monitors/$PING_ID" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["heartbeat"]["pings_total"])')
echo "pings over $NODES nodes (${PING_SECONDS} s, $CONNS connections per node): $PING_RATE/s; ceiling (static file, same nodes) $CEIL_RATE/s; ratio $(awk -v a="$PING_RATE" -v b="$CEIL_RATE" 'BEGIN { printf "%.2f", a / b }')"
echo "pings answered: $PING_TOTAL (non-2xx: $PING_BAD); pings stored: $PINGS_STORED"

# --- 2. a simulated 100,000 monitors ------------------------------------------------
RATE=$(awk -v m="$MONITORS" 'BEGIN { printf "%.3f", m / 60 }')
python3 - "$RATE" "$BATCH" "$((WARMUP + WINDOW + 5))" "$WORK/agents.out" "${URLS[*]}" "${AGENT_TOKENS[@]}" <<'PY' &
import json, sys, time, threading, urllib.request
rate, batch, secs, out = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
urls, tokens = sys.argv[5].split(), sys.argv[6:]
def call(url, method, path, token, body=None):
    req = urllib.request.Request(url + path, method=method, data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")
homes = [urls[i % len(urls)] for i in range(len(tokens))]
for u, t in zip(homes, tokens):
    call(u, "GET", "/api/v1/agent/assignments", t)
time.sleep(4)  # every node hears of every agent (shared every 2 s at most)
assigned = [[m["id"] for m in call(u, "GET", "/api/v1/agent/assignments", t)["monitors"]]
            for u, t in zip(homes, tokens)]
total = sum(map(len, assigned))
lock = threading.Lock()
stats = {"accepted": 0, "requests": 0, "errors": 0}
stop = time.time() + secs
def agent(url, token, ids):
    # This agent's share of the rate, in batches; each monitor once per minute.
    my_rate = rate * len(ids) / max(total, 1)
    k = 0
    nxt = time.time()
    while time.time() < stop and ids:
        now_ms = int(time.time() * 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms // 1000)) + f".{now_ms % 1000:03d}Z"
        results = []
        for _ in range(batch):
            results.append({"monitor_id": ids[k % len(ids)], "result": {
                "region": "eu", "checked_at": ts, "duration_ms": 3,
                "phases": {"dns_ms": None, "connect_ms": 1, "tls_ms": None, "ttfb_ms": 2},
                "status_code": None, "verdict": {"verdict": "up"}, "body_excerpt": None,
                "cert_expires_at": None, "remote_addr": "127.0.0.1:9"}})
            k += 1
        try:
            r = call(url, "POST", "/api/v1/agent/results", token, json.dumps({"results": results}).encode())
            with lock:
                stats["accepted"] += r["accepted"]; stats["requests"] += 1
        except Exception:
            with lock:
                stats["errors"] += 1
        nxt += batch / my_rate
        time.sleep(max(0.0, nxt - time.time()))
threads = [threading.Thread(target=agent, args=a) for a in zip(homes, tokens, assigned)]
for th in threads: th.start()
for th in threads: th.join()
with open(out, "w") as f:
    f.write(f"agents {len(tokens)} assigned {total} distinct {len(set(i for a in assigned for i in a))} "
            f"accepted {stats['accepted']} requests {stats['requests']} errors {stats['errors']}\n")
PY
AGENTS_PID=$!
echo "agents posting $RATE results/s; warm-up ${WARMUP} s…" >&2
sleep "$WARMUP"
declare -a C0 C1 R0 R1
for i in "${!PIDS[@]}"; do C0[$i]=$(ticks "${PIDS[$i]}"); R0[$i]=$(rss_mib "${PIDS[$i]}"); done
PG0=$(pg_ticks); ST0=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
ROWS0=$(q "SELECT count(*) FROM check_results"); W0=$(date +%s.%N)
echo "measuring ${WINDOW} s…" >&2
sleep "$WINDOW"
for i in "${!PIDS[@]}"; do C1[$i]=$(ticks "${PIDS[$i]}"); R1[$i]=$(rss_mib "${PIDS[$i]}"); done
PG1=$(pg_ticks); ST1=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
ROWS1=$(q "SELECT count(*) FROM check_results"); W1=$(date +%s.%N)
BACKLOG=$(q "SELECT count(*) FROM ingest")
wait "$AGENTS_PID"
WALL=$(awk -v a="$W0" -v b="$W1" 'BEGIN { printf "%.1f", b - a }')
STORED_RATE=$(awk -v a="$ROWS0" -v b="$ROWS1" -v w="$WALL" 'BEGIN { printf "%.1f", (b - a) / w }')
echo "simulated agents: $(cat "$WORK/agents.out")"
echo "results posted at $RATE/s; stored $STORED_RATE/s over $WALL s; ingest rows waiting at the end of the window: $BACKLOG"
for i in "${!PIDS[@]}"; do
    coord=$(curl -fsS -H "Authorization: Bearer $TOKEN" "${URLS[$i]}/metrics" | awk '$1 == "vigilmon_coordinator" { print $2 }')
    awk -v c0="${C0[$i]}" -v c1="${C1[$i]}" -v w="$WALL" -v r0="${R0[$i]}" -v r1="${R1[$i]}" -v n="$((i + 1))" -v co="${coord:-0}" 'BEGIN {
        printf "node %d%s: CPU %.1f %% of one core; RSS %s → %s MiB\n", n, (co == 1 ? " (coordinator)" : ""), 100 * (c1 - c0) / 100 / w, r0, r1 }'
done
awk -v a="$PG0" -v b="$PG1" -v w="$WALL" 'BEGIN { printf "PostgreSQL CPU (all its processes): %.1f %% of one core\n", 100 * (b - a) / 100 / w }'
awk -v a="$ST0" -v b="$ST1" -v w="$WALL" 'BEGIN { printf "database: %.1f commits/s\n", (b - a) / w }'
# Storage: table, indexes and TOAST of check_results over its rows, after a VACUUM so
# the statistics are current (dead tuples are not counted as rows).
sleep 5
q "VACUUM ANALYZE check_results" >/dev/null
# The table is partitioned by day: its size is the sum of its partitions'.
read -r N TABLE INDEXES TOTAL < <(q "SELECT (SELECT count(*) FROM check_results), sum(pg_table_size(inhrelid)), sum(pg_indexes_size(inhrelid)), sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'check_results'::regclass" | tr '|' ' ')
PER_ROW=$(awk -v t="$TOTAL" -v n="$N" 'BEGIN { printf "%.0f", t / n }')
echo "check_results: $N rows; table $TABLE B, indexes $INDEXES B, in all $PER_ROW B per row"
awk -v m="$MONITORS" -v b="$PER_ROW" 'BEGIN {
    rows = m * 1440; printf "at %d monitors every 60 s in one region: %.0f rows/day, %.1f GiB/day, %.0f GiB for 30 days\n", m, rows, rows * b / 2^30, 30 * rows * b / 2^30 }'

# --- 3. retention on what was written -------------------------------------------------
# Row by row first, on a copy of the rows with the same indexes: what deleting from the
# default partition (rows no day partition covers) costs, as the coordinator does it.
q "CREATE TABLE retention_copy (LIKE check_results INCLUDING ALL)" >/dev/null
q "INSERT INTO retention_copy SELECT * FROM check_results" >/dev/null
q "VACUUM ANALYZE retention_copy" >/dev/null
T0=$(date +%s.%N)
DELETED=0
while :; do
    n=$(q "WITH d AS (DELETE FROM retention_copy WHERE (monitor_id, region, checked_at) IN (SELECT monitor_id, region, checked_at FROM retention_copy ORDER BY checked_at LIMIT 1000) RETURNING 1) SELECT count(*) FROM d")
    DELETED=$(( DELETED + n ))
    (( n < 1000 )) && break
done
T1=$(date +%s.%N)
q "DROP TABLE retention_copy" >/dev/null
awk -v n="$DELETED" -v a="$T0" -v b="$T1" 'BEGIN { printf "retention row by row: %d rows deleted in %.1f s = %.0f rows/s (batches of 1,000)\n", n, b - a, n / (b - a) }'
# Then the way days expire: drop the partitions that hold the rows.
PARTS=$(q "SELECT string_agg(DISTINCT tableoid::regclass::text, ' ') FROM check_results")
T0=$(date +%s.%N)
for p in $PARTS; do q "DROP TABLE $p" >/dev/null; done
T1=$(date +%s.%N)
awk -v n="$N" -v a="$T0" -v b="$T1" -v p="$PARTS" 'BEGIN { printf "retention by partition: %s (%d rows) dropped in %.3f s\n", p, n, b - a }'
