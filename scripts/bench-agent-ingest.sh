#!/usr/bin/env bash
# Agent result ingestion: how many results per second the server takes from many
# simulated agents posting batches (protocol 1, POST /api/v1/agent/results), every
# result going through the recorder (state machine, consensus) into the store.
#
# Usage: scripts/bench-agent-ingest.sh [sqlite|postgres]
#   env: AGENTS=8 (agents, each with its own token, two regions), MONITORS=200,
#        BATCH=500 (results per request), SECONDS_RUN=10
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
agents=${AGENTS:-8}
monitors=${MONITORS:-200}
batch=${BATCH:-500}
secs=${SECONDS_RUN:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
cargo build --release -q -p vigilmon
bin="$CARGO_TARGET_DIR/release/vigilmon"

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
  db="vigilmon_bench_ingest_$$"
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
  store_args=(--database-url "postgres://postgres@127.0.0.1:5432/$db")
fi

# Monitors that run only in the agents' regions (the built-in probe stays idle).
python3 - "$work/config.yaml" "$monitors" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n  - {name: us}\nmonitors:\n")
    for i in range(n):
        f.write(f"  - {{name: m{i}, type: tcp, host: 127.0.0.1, port: 9, interval: 1m, regions: [eu, us]}}\n")
PY
reader=$("$bin" token create --name bench-reader --scope read "${store_args[@]}" | tail -n1)
tokens=()
for i in $(seq 1 "$agents"); do
  region=$([ $((i % 2)) -eq 0 ] && echo eu || echo us)
  tokens+=("$("$bin" token create --name "agent-$i" --scope agent --region "$region" "${store_args[@]}" | tail -n1)")
done
VIGILMON_LOG=warn "$bin" serve --listen 127.0.0.1:0 --config "$work/config.yaml" "${store_args[@]}" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 600); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start" >&2; cat "$work/err" >&2; exit 1; }

python3 - "$url" "$batch" "$secs" "${tokens[@]}" <<'PY'
import json, sys, time, threading, urllib.request
url, batch, secs, tokens = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
def call(method, path, token, body=None):
    req = urllib.request.Request(url + path, method=method, data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")
# Each agent learns its assignment (twice: the second time every agent is known, so
# the region's monitors are split without overlap), then posts batches for it.
for t in tokens:
    call("GET", "/api/v1/agent/assignments", t)
assigned = [[m["id"] for m in call("GET", "/api/v1/agent/assignments", t)["monitors"]] for t in tokens]
lock = threading.Lock()
totals = {"accepted": 0, "ignored": 0, "refused": 0, "requests": 0}
latencies = []
stop = time.time() + secs
def agent(token, ids, region_clock):
    t = region_clock
    while time.time() < stop and ids:
        results = []
        for k in range(batch):
            t += 1
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000)) + f".{t % 1000:03d}Z"
            results.append({"monitor_id": ids[k % len(ids)], "result": {
                "region": "ignored", "checked_at": ts, "duration_ms": 3,
                "phases": {"dns_ms": None, "connect_ms": 1, "tls_ms": None, "ttfb_ms": 2},
                "status_code": None, "verdict": {"verdict": "up"}, "body_excerpt": None,
                "cert_expires_at": None, "remote_addr": "127.0.0.1:9"}})
        start = time.time()
        r = call("POST", "/api/v1/agent/results", token, json.dumps({"results": results}).encode())
        with lock:
            latencies.append(time.time() - start)
            refused = len(r.get("refused", []))
            totals["accepted"] += r["accepted"]; totals["ignored"] += r["ignored"]
            totals["refused"] += refused; totals["requests"] += 1
began = time.time()
# Each agent's results get times of their own, in the past (the server refuses results
# more than 120 s ahead of its clock): agent i from (i + 1) × 10,000 s ago, 1 ms apart.
threads = [threading.Thread(target=agent, args=(tok, ids, int(began * 1000) - (i + 1) * 10_000_000)) for i, (tok, ids) in enumerate(zip(tokens, assigned))]
for th in threads: th.start()
for th in threads: th.join()
elapsed = time.time() - began
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print(f"agents: {len(tokens)}, monitors assigned: {sum(map(len, assigned))}, batch: {batch}")
print(f"results refused: {totals['refused']}, ignored: {totals['ignored']}")
print(f"requests: {totals['requests']}, results accepted: {totals['accepted']} in {elapsed:.1f} s "
      f"= {totals['accepted'] / elapsed:,.0f} results/s; request p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms")
PY
# Everything accepted is queued to the recorder; give it a moment, then read what it
# wrote from the server's own counter.
sleep 10
written=$(curl -fsS -H "Authorization: Bearer $reader" "$url/metrics" | sed -n 's/^vigilmon_results_written_total \([0-9.e+]*\)$/\1/p')
echo "results written to the store (vigilmon_results_written_total): ${written:-0}"
curl -fsS -H "Authorization: Bearer $reader" "$url/metrics" | grep -E '^vigilmon_(results_|result_write|recorder|write_refused)' || true
errors=$(grep -c -E 'ERROR|WARN' "$work/err" || true)
echo "server warnings and errors logged: ${errors:-0}"
grep -E 'ERROR|WARN' "$work/err" | head -5 || true
