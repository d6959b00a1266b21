#!/usr/bin/env bash
# Detection latency: from the moment a target starts failing to the moment the incident
# opens, with a server that runs no checks itself and three agents in three regions
# (eu, us, ap) on loopback, the monitor checked every INTERVAL (default 60s).
#
# Each trial waits a random time (so the failure starts at a random point of the
# interval), makes the target answer 503 to every region, and polls the API until the
# incident is open; then heals the target and waits until the monitor is up again.
# Reported per trial: detection (failure start → incident opened), the wait for the
# first failing check, and confirmation (first failing check → incident opened).
#
# Usage: scripts/bench-detection.sh
#   env: TRIALS=6, INTERVAL=60 (seconds), SEED=1, PROFILE=debug|release
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${TRIALS:-6}
interval=${INTERVAL:-60}
seed=${SEED:-1}
profile=${PROFILE:-debug}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
if [ "$profile" = release ]; then
  cargo build --release -q -p vigilmon
else
  cargo build -q -p vigilmon
fi
bin="$CARGO_TARGET_DIR/$profile/vigilmon"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The target: 200, or 503 while failing; POST /fail and /heal switch it and answer the
# time of the switch (epoch ms).
cat >"$work/target.py" <<'PY'
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
state = {"failing": False}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, code, body):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        self.answer(503 if state["failing"] else 200, "fail" if state["failing"] else "ok")
    def do_POST(self):
        state["failing"] = self.path == "/fail"
        self.answer(200, str(int(time.time() * 1000)))
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$work/target.py" >"$work/target.port" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/target.port" ] && break; sleep 0.1; done
target="http://127.0.0.1:$(cat "$work/target.port")"

cat >"$work/config.yaml" <<YAML
regions:
  - { name: local, enabled: false }
  - { name: eu }
  - { name: us }
  - { name: ap }
monitors:
  - { name: api, type: http, url: "$target/health", interval: ${interval}s, timeout: 5s }
YAML
store=(--data-dir "$work/data")
reader=$("$bin" token create --name bench-reader --scope read "${store[@]}" | tail -n1)
VIGILMON_LOG=warn "$bin" serve --listen 127.0.0.1:0 --config "$work/config.yaml" "${store[@]}" >"$work/out" 2>"$work/err" &
pids+=($!)
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start" >&2; cat "$work/err" >&2; exit 1; }
for r in eu us ap; do
  token=$("$bin" token create --name "agent-$r" --scope agent --region "$r" "${store[@]}" | tail -n1)
  VIGILMON_LOG=warn VIGILMON_AGENT_TOKEN="$token" "$bin" agent --server "$url" --region "$r" \
    --data-dir "$work/agent-$r" >/dev/null 2>"$work/agent-$r.err" &
  pids+=($!)
done

python3 - "$url" "$reader" "$target" "$trials" "$interval" "$seed" <<'PY'
import json, random, statistics, sys, time, urllib.request
url, token, target = sys.argv[1], sys.argv[2], sys.argv[3]
trials, interval, seed = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
def get(path):
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())
def post(path):
    with urllib.request.urlopen(urllib.request.Request(target + path, method="POST", data=b""), timeout=30) as r:
        return int(r.read())
def ms(ts):
    # RFC 3339 with milliseconds and Z
    from datetime import datetime
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
def wait(what, cond, limit):
    end = time.time() + limit
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")
mid = get("/api/v1/monitors")["monitors"][0]["id"]
def monitor():
    return get(f"/api/v1/monitors/{mid}")
def all_up():
    m = monitor()
    rs = {r["region"]: r["state"] for r in m.get("regions", [])}
    return m["state"] == "up" and all(rs.get(r) == "up" for r in ("eu", "us", "ap"))
wait("three regions up", all_up, 3 * interval + 60)
rng = random.Random(seed)
rows = []
for i in range(trials):
    time.sleep(rng.uniform(0, interval))
    t0 = post("/fail")
    inc = wait("an incident", lambda: (get("/api/v1/incidents?state=open")["incidents"] or [None])[0], 2 * interval + 30)
    opened = ms(inc["opened_at"])
    first = None
    for r in ("eu", "us", "ap"):
        for res in get(f"/api/v1/monitors/{mid}/results?region={r}&limit=5")["results"]:
            t = ms(res["checked_at"])
            if not res["ok"] and t >= t0 and (first is None or t < first):
                first = t
    rows.append((opened - t0, first - t0, opened - first))
    print(f"trial {i + 1}: detected after {(opened - t0) / 1000:.1f} s "
          f"(first failing check after {(first - t0) / 1000:.1f} s, confirmed {(opened - first)} ms later)", flush=True)
    post("/heal")
    wait("resolved", lambda: not get("/api/v1/incidents?state=open")["incidents"], 2 * interval + 30)
    wait("up again", all_up, 2 * interval + 30)
det = [r[0] / 1000 for r in rows]
conf = [r[2] for r in rows]
print(f"\n{trials} trials, 3 regions, interval {interval:.0f} s:")
print(f"  detection: median {statistics.median(det):.1f} s, max {max(det):.1f} s "
      f"(bound: interval/3 + confirmation = {interval / 3:.0f} s + ~1 s)")
print(f"  confirmation (first failing check -> incident): median {statistics.median(conf):.0f} ms, max {max(conf)} ms")
PY
