#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside input (docs/fuzzing.md).
#
#   scripts/fuzz.sh [minutes-per-target] [target…]
#
# Runs each fuzz target of fuzz/ (cargo-fuzz, libFuzzer, nightly toolchain) one after
# the other for the given minutes (default 10), each as one process: the machine
# keeps its other cores. Every target by default: config api_body ping_path
# agent_payload redis_info grpc_answer cron duration jsonpath form. It takes the
# minutes times the number of targets (100 minutes for all ten at the default), plus the first
# build of the targets (about 20 minutes on 2 cores; later runs reuse it).
#
# Installs cargo-fuzz when it is missing. Each target starts from its committed seeds
# (fuzz/corpus/<target>/) and keeps what it finds in a working corpus of its own
# (fuzz/work/<target>/, not committed), which later runs start from too. A crash,
# hang or out-of-memory stops that target: its input is copied into
# fuzz/regressions/<target>/, which `cargo test -p vigilmon-fuzz-targets` replays on
# stable (minimize it first: cargo +nightly fuzz tmin <target> <file>). Prints per
# target the minutes run, the executions (libFuzzer's final stats) and the crashes;
# exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(config api_body ping_path agent_payload redis_info grpc_answer cron duration jsonpath form)
minutes="${1:-10}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
  echo "usage: $0 [minutes-per-target] [target…]" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "no fuzz target $t (targets: ${ALL[*]})" >&2
    exit 2
  fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# The fuzz build has flags of its own (sanitizer, coverage): keep it apart from the
# workspace's build cache.
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
export CARGO_INCREMENTAL=0
cargo +nightly fuzz build --target-dir "$target_dir"

summary=()
failed=0
for t in "${targets[@]}"; do
  work="fuzz/work/$t"
  artifacts="fuzz/artifacts/$t"
  log="fuzz/work/$t.log"
  mkdir -p "$work" "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  echo "== $t: $minutes min"
  started=$(date +%s)
  set +e
  # The working corpus comes first: libFuzzer writes new inputs there, never into
  # the committed seeds. A unit slower than 10 s counts as a hang.
  cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" 2>&1 | tee "$log" |
    grep -E '^(Done|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
  set -e
  # libFuzzer's own figure when it ran to the end; else (a crash) the time taken.
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
  [ -n "$secs" ] || secs=$(($(date +%s) - started))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  after=$(find "$artifacts" -type f | wc -l)
  crashes=$((after - before))
  if [ "$crashes" -gt 0 ]; then
    failed=1
    mkdir -p "fuzz/regressions/$t"
    for f in $(ls -t "$artifacts" | head -n "$crashes"); do
      cp "$artifacts/$f" "fuzz/regressions/$t/$f"
      echo "   crash input: fuzz/regressions/$t/$f"
    done
  fi
  mins=$(awk -v s="${secs:-0}" 'BEGIN { printf "%.1f", s / 60 }')
  summary+=("$(printf '%-14s %8s %14s %8s' "$t" "$mins" "${execs:-?}" "$crashes")")
done

echo
printf '%-14s %8s %14s %8s\n' target minutes executions crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
