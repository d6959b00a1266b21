#!/usr/bin/env bash
# Build cost of a checkout, from clean: the whole workspace in debug, the agent in
# release (the standalone `vigilmon-agent` binary when the checkout has one, else the
# `vigilmon` binary, which was then the only way to get an agent) and the server
# binary in release; wall time, CPU time and binary sizes (as built and stripped).
#
#   scripts/bench-build.sh [CHECKOUT_DIR] [WORK_DIR]
#
# CHECKOUT_DIR defaults to this repository; WORK_DIR (default /tmp/vigilmon-bench-build)
# holds the fresh target directories, removed first. Crates must already be
# downloaded (`cargo fetch`); nothing else may be building on the machine, or the
# times mean nothing. Takes 15-25 minutes on 2 cores.
set -euo pipefail
src="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
work="${2:-/tmp/vigilmon-bench-build}"
rm -rf "$work"
mkdir -p "$work"
cd "$src"
export CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never

measure() { # label, target dir, cargo args...
  local label=$1 dir=$2
  shift 2
  /usr/bin/time -f "%e %U %S" -o "$work/time" env CARGO_TARGET_DIR="$dir" cargo "$@" >/dev/null 2>"$work/log" ||
    { cat "$work/log" >&2; exit 1; }
  read -r wall user sys <"$work/time"
  printf '%-34s wall %6.0f s   cpu %6.0f s\n' "$label" "$wall" "$(echo "$user + $sys" | bc)"
}

size_of() { # label, binary
  local label=$1 bin=$2
  cp "$bin" "$work/stripped"
  strip "$work/stripped"
  printf '%-34s %6.1f MiB   stripped %6.1f MiB\n' "$label" \
    "$(echo "scale=1; $(stat -c %s "$bin") / 1048576" | bc)" \
    "$(echo "scale=1; $(stat -c %s "$work/stripped") / 1048576" | bc)"
}

echo "checkout: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "$src")"
measure "debug build, whole workspace" "$work/debug" build --workspace
if grep -q '^name = "vigilmon-agent"' crates/agent/Cargo.toml && [ -f crates/agent/src/main.rs ]; then
  measure "release build, vigilmon-agent" "$work/agent" build --release -p vigilmon-agent --bin vigilmon-agent
  size_of "vigilmon-agent binary" "$work/agent/release/vigilmon-agent"
  measure "release build, vigilmon" "$work/server" build --release -p vigilmon
  size_of "vigilmon binary" "$work/server/release/vigilmon"
else
  measure "release build, vigilmon (the agent)" "$work/server" build --release -p vigilmon
  size_of "vigilmon binary (the agent)" "$work/server/release/vigilmon"
fi
rm -rf "$work"
