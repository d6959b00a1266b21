#!/usr/bin/env bash
# What two nodes do when their PostgreSQL goes away and comes back — what a database
# failover looks like from Vigilmon's side (the connections drop; new ones, to the same
# address, reach the promoted primary). Run by hand; the figures go in docs/SCALING.md.
#
# A private PostgreSQL (initdb in a temporary directory, port $PORT) so that the shared
# one is never touched; two `vigilmon serve` nodes with a 5 s lease; an HTTP monitor at
# 5 s against a healthy target and a heartbeat monitor (every 10 s, grace 10 s) pinged
# every second, alternately through each node. The database is stopped hard
# (`pg_ctl stop -m immediate`: no goodbye to clients) for OUTAGE seconds, then started.
#
# Prints: what the pings got during and after the outage, when a coordinator was
# back, checks stored before, during and after, and every incident opened (a healthy
# target and a job that kept pinging: there must be none).
#
#   scripts/db-outage.sh                  # OUTAGE=30 PORT=5499
#   VIGILMON_BIN=target/debug/vigilmon scripts/db-outage.sh
set -euo pipefail
OUTAGE=${OUTAGE:-30}
PORT=${PORT:-5499}
[[ $OUTAGE =~ ^[0-9]+$ && $PORT =~ ^[0-9]+$ ]] || { echo "error: OUTAGE and PORT are whole numbers" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "error: run as root (the private database runs as the postgres user)" >&2; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
[[ -x $PGBIN/initdb ]] || { echo "error: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${VIGILMON_BIN:-} ]]; then
    BIN=$VIGILMON_BIN
else
    echo "building the release binary…" >&2
    (cd "$ROOT" && cargo build --release -p vigilmon --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/vigilmon
fi
[[ -x $BIN ]] || { echo "error: no binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigilmon-db-outage.XXXXXX")
chmod 755 "$WORK"
PGDATA="$WORK/pg"
install -d -o postgres -g postgres -m 700 "$PGDATA"
as_pg() { su postgres -s /bin/bash -c "$*"; }
pg_start() { as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' -l '$PGDATA/server.log' -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1' -w start" >/dev/null; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    pkill -TERM -f "$WORK/" 2>/dev/null || true
    sleep 1
    pkill -KILL -f "$WORK/" 2>/dev/null || true
    as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "'$PGBIN/initdb' -D '$PGDATA' -U postgres --auth=trust" >"$WORK/initdb.log"
pg_start
as_pg "'$PGBIN/psql' -h 127.0.0.1 -p $PORT -U postgres -qc 'CREATE DATABASE vigilmon'"
cp "$BIN" "$WORK/vigilmon"

python3 - "$WORK" "$PORT" "$OUTAGE" "$PGBIN" "$PGDATA" <<'PY'
import http.server, json, os, re, subprocess, sys, threading, time, urllib.request
work, port, outage, pgbin, pgdata = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
db = f"postgres://postgres@127.0.0.1:{port}/vigilmon"
bin = f"{work}/vigilmon"

class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
threading.Thread(target=target.serve_forever, daemon=True).start()
with open(f"{work}/vigilmon.yaml", "w") as f:
    f.write(f"""cluster: {{ lease_ttl: 5s }}
server: {{ ping_rate_limit: 0 }}
monitors:
  - {{ name: app, type: http, url: "http://127.0.0.1:{target.server_address[1]}/", interval: 10s, timeout: 2s }}
""")
token = subprocess.run([bin, "token", "create", "--name", "ops", "--scope", "write", "--database-url", db],
                       check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
nodes, urls = [], []
for n in range(2):
    out = open(f"{work}/node{n}.out", "w")
    err = open(f"{work}/node{n}.log", "w")
    p = subprocess.Popen([bin, "serve", "--config", f"{work}/vigilmon.yaml", "--database-url", db,
                          "--listen", "127.0.0.1:0"], stdout=out, stderr=err, env={**os.environ, "RUST_LOG": "warn"})
    nodes.append(p)
    for _ in range(600):
        m = re.search(r"listening on (http://[0-9.:]+)", open(f"{work}/node{n}.out").read())
        if m: break
        if p.poll() is not None: break
        time.sleep(0.1)
    if not m:
        sys.exit(f"node {n} did not start:\n" + open(f"{work}/node{n}.log").read()[-2000:])
    urls.append(m.group(1))

def api(method, path, body=None, url=None):
    req = urllib.request.Request((url or urls[0]) + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"null")

job = api("POST", "/api/v1/monitors", {"name": "job", "type": "heartbeat", "every": "10s", "grace": "10s"})
ping_path = "/" + job["ping_url"].split("/", 3)[3]
app_id = [m for m in api("GET", "/api/v1/monitors")["monitors"] if m["name"] == "app"][0]["id"]

log = []  # (time, node, status)
stop = threading.Event()
def pinger():
    i = 0
    while not stop.is_set():
        u = urls[i % 2]; i += 1
        started = time.time()
        try:
            with urllib.request.urlopen(u + ping_path, timeout=15) as r:
                code = r.status
        except urllib.error.HTTPError as e:
            code = e.code
        except Exception:
            code = "error"
        log.append((started, i % 2, code, time.time() - started))
        time.sleep(1)
threading.Thread(target=pinger, daemon=True).start()

def coordinator(url):
    try:
        for n in api("GET", "/api/v1/nodes", url=url)["nodes"]:
            if n["coordinator"]: return n["address"]
    except Exception:
        return None
def checks():
    r = subprocess.run([f"{pgbin}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "vigilmon", "-Atc",
                        "SELECT count(*) FROM check_results"], capture_output=True, text=True)
    return int(r.stdout.strip() or 0)

time.sleep(25)
before = checks()
print(f"before: coordinator {coordinator(urls[0])}; {before} checks stored; pings {sum(1 for _, _, c, _ in log if c == 200)} OK")
down_at = time.time()
subprocess.run(["su", "postgres", "-s", "/bin/bash", "-c", f"'{pgbin}/pg_ctl' -D '{pgdata}' -m immediate stop"], check=True, capture_output=True)
print(f"database stopped hard for {outage} s")
time.sleep(outage)
subprocess.run(["su", "postgres", "-s", "/bin/bash", "-c",
                f"'{pgbin}/pg_ctl' -D '{pgdata}' -l '{pgdata}/server.log' -o '-p {port} -k /tmp -c listen_addresses=127.0.0.1' -w start"],
               check=True, capture_output=True)
up_at = time.time()
after_start = checks()
print(f"database back after {up_at - down_at:.1f} s (crash recovery included); {after_start - before} checks were stored while it was down")
coord_at = None
while time.time() < up_at + 60:
    c = coordinator(urls[0]) or coordinator(urls[1])
    if c and coord_at is None:
        coord_at = time.time()
        print(f"a coordinator again {coord_at - up_at:.1f} s after the database came back: {c}")
    time.sleep(0.5)
stop.set()
after = checks()
during = [(c, d) for t, _, c, d in log if down_at <= t < up_at]
codes = [c for c, _ in during]
print(f"pings sent while the database was down: {len(during)}, answered {dict((str(k), codes.count(k)) for k in set(codes))} "
      f"after {min((d for _, d in during), default=0):.1f}–{max((d for _, d in during), default=0):.1f} s")
first_ok = next((t + d for t, _, c, d in log if t + d >= up_at and c == 200), None)
print(f"first ping answered OK {first_ok - up_at:.1f} s after the database came back" if first_ok else "no ping answered OK after the database came back")
print(f"checks stored in the minute after: {after - after_start} (the monitor runs every 10 s from one node)")
incidents = api("GET", "/api/v1/incidents")
opened = incidents.get("incidents", incidents) if isinstance(incidents, dict) else incidents
print(f"incidents opened: {len(opened)}" + "".join(f"\n  {i.get('monitor_name', i.get('monitor_id'))}: {i.get('cause', i.get('title', ''))}" for i in opened))
alive = [p.poll() is None for p in nodes]
print(f"nodes still running: {sum(alive)} of {len(nodes)}")
for p in nodes:
    p.terminate()
for p in nodes:
    p.wait(timeout=20)
PY
