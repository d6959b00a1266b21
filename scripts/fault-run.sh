#!/usr/bin/env bash
# The fault run (crates/vigilmon/tests/e2e/fault_run.rs), several times over: three
# nodes on PostgreSQL, agents in three regions, one region flapping, one agent cut off
# by a network namespace, a real outage, Slack failing for a minute, the coordinator
# killed. Each run must page the outage once per channel, recover it once, and page
# nothing else. Needs root (ip netns) and PostgreSQL on 127.0.0.1:5432.
#
#   scripts/fault-run.sh        # 3 runs
#   RUNS=10 scripts/fault-run.sh
#
# Prints what each run delivered and a summary; figures go in docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
RUNS=${RUNS:-3}
[[ $RUNS =~ ^[0-9]+$ ]] && (( RUNS > 0 )) || { echo "error: RUNS must be a positive number" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "error: the fault run makes network namespaces: run it as root" >&2; exit 2; }

cargo test -p vigilmon --test e2e --no-run --quiet
passed=0
for i in $(seq 1 "$RUNS"); do
    log=$(mktemp "${TMPDIR:-/tmp}/vigilmon-fault-run.XXXXXX")
    started=$(date +%s)
    if cargo test -q -p vigilmon --test e2e -- --ignored fault_run::fault_run --nocapture >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "run $i: passed in $(( $(date +%s) - started )) s"
    else
        echo "run $i: FAILED after $(( $(date +%s) - started )) s (log: $log)"
    fi
    grep -E '^\[|^webhook:|^slack:|^ops:|^  ops at|^fault run' "$log" | sed 's/^/  /'
done
echo "fault runs: $passed of $RUNS passed"
(( passed == RUNS ))
