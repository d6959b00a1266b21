#!/usr/bin/env bash
# The exhaustion run of the hostile suite, at full size: 1 GB of junk pings (paths of
# 60 KB that can name no check) while 10,000 idle sockets are held open, plus an
# oversized body and deeply nested JSON, then 100 agents (a token each) all holding a
# long poll and posting a full batch of 1,000 forged results; the server must keep
# answering /healthz with its resident memory under twice its figure after start-up.
# CI runs the same test at 20 MB, 1,000 sockets and 20 agents. Takes a few minutes on
# two cores (plus the build).
#
#   scripts/exhaustion.sh             # debug build, 1 GB, 10,000 sockets, 100 agents
#   scripts/exhaustion.sh --release   # the same against a release build
#   VIGILMON_EXHAUST_PING_BYTES=… VIGILMON_EXHAUST_SOCKETS=… VIGILMON_EXHAUST_AGENTS=… \
#     scripts/exhaustion.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
export VIGILMON_EXHAUST_PING_BYTES="${VIGILMON_EXHAUST_PING_BYTES:-1000000000}"
export VIGILMON_EXHAUST_SOCKETS="${VIGILMON_EXHAUST_SOCKETS:-10000}"
export VIGILMON_EXHAUST_AGENTS="${VIGILMON_EXHAUST_AGENTS:-100}"
# The test process holds one end of each socket, the server the other.
ulimit -n "$(( VIGILMON_EXHAUST_SOCKETS * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
profile=()
if [[ "${1:-}" == "--release" ]]; then profile=(--release); fi
cargo test "${profile[@]}" -p vigilmon --test e2e -- \
  hostile::exhaustion_leaves_the_server_answering_in_bounded_memory --exact --nocapture 2>&1 |
  grep -E '^exhaustion:|^test |panicked|RSS grew'
