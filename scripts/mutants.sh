#!/usr/bin/env bash
# Mutation testing of the modules that decide whether someone is paged: cargo-mutants
# changes one operator, constant or function body at a time in crates/core (state,
# incident, heartbeat, uptime, maintenance, alert, schedule, redis, guard) and in the
# probe's failure classification (crates/probe/src/classify.rs), runs the owning
# crate's tests, and reports every change no test noticed ("missed"). Exclusions, one
# line each with its reason, are in .cargo/mutants.toml. Figures: docs/testing.md.
#
#   scripts/mutants.sh                 # every module above (about 45 minutes on 2 cores)
#   scripts/mutants.sh --in-diff main  # only what the branch changed against main
#   MUTANTS_FILES="crates/core/src/state.rs" scripts/mutants.sh
#
# Installs cargo-mutants when it is missing. Exits non-zero when a mutant is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Its own build directory: mutated builds must not evict the main build cache.
export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-/root/.cache/vigilmon-mutants-target}"

if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install cargo-mutants --locked
fi

files=(${MUTANTS_FILES:-crates/core/src/state.rs crates/core/src/incident.rs
  crates/core/src/heartbeat.rs crates/core/src/uptime.rs crates/core/src/maintenance.rs
  crates/core/src/alert.rs crates/core/src/schedule.rs crates/core/src/redis.rs
  crates/core/src/guard.rs crates/probe/src/classify.rs})

diff=()
if [[ "${1:-}" == "--in-diff" ]]; then
  base="${2:-main}"
  git diff "$base" -- "${files[@]}" >"${TMPDIR:-/tmp}/vigilmon-mutants.diff"
  if [[ ! -s "${TMPDIR:-/tmp}/vigilmon-mutants.diff" ]]; then
    echo "no change to the mutated modules against $base"
    exit 0
  fi
  diff=(--in-diff "${TMPDIR:-/tmp}/vigilmon-mutants.diff")
fi

args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
started=$(date +%s)
set +e
cargo mutants --workspace --no-shuffle --jobs 1 --timeout-multiplier 3 "${args[@]}" "${diff[@]}" \
  --output "${TMPDIR:-/tmp}/vigilmon-mutants" 2>&1 | tee "${TMPDIR:-/tmp}/vigilmon-mutants.log"
status=${PIPESTATUS[0]}
set -e
out="${TMPDIR:-/tmp}/vigilmon-mutants/mutants.out"
echo
echo "== mutants: $(($(date +%s) - started)) s"
for kind in caught missed timeout unviable; do
  printf '%-9s %s\n' "$kind" "$(wc -l <"$out/$kind.txt" 2>/dev/null || echo 0)"
done
if [[ -s "$out/missed.txt" ]]; then
  echo "missed:"
  cat "$out/missed.txt"
fi
exit "$status"
