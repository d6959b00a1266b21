#!/usr/bin/env bash
# Builds Vigilmon's Debian package with cargo-deb and checks it the way an operator
# meets it: the package installs with `dpkg -i`, `vigilmon --version` runs from
# /usr/bin, the completions and manual pages are where the shells and `man` look,
# the system user and the three systemd units are in place and pass
# `systemd-analyze verify` (warnings count as failures) — then it is purged again.
# CI runs it.
#
#   scripts/package-deb.sh              # CI: packages the debug build (profile dev),
#                                       # checks it, removes it, deletes the .deb
#   scripts/package-deb.sh --release    # a real package: release build, checked the
#                                       # same way; the .deb is kept and its path printed
#   scripts/package-deb.sh --release --no-install
#                                       # the release package only, not installed here
#                                       # (no root needed)
#   KEEP_DEB=1 scripts/package-deb.sh   # keep the .deb of the debug build too
#
# The debug build is the one the test suite already made (`cargo build -p vigilmon`
# finds nothing to do after it), so in CI this takes about ten seconds: stripping and
# compressing the binary (`--fast`), installing, checking and removing. cargo-deb
# calls a dev profile "not supported" and prints a warning; that package is only for
# this check. It also warns twice of "duplicate assets": each of the three unit
# entries finds the same sysusers file, which is packaged once.
# cargo-deb itself is installed when absent (`cargo install --locked`, pinned below):
# about a minute on 2 cores (64 s measured, its crates downloaded), once per machine.
#
# Installing needs root, and a machine where no vigilmon package is installed;
# purging removes all but the system user vigilmon (Debian leaves system users).
# What is packaged: [package.metadata.deb] in crates/vigilmon/Cargo.toml and
# packaging/; see docs/deployment.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigilmon-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

CARGO_DEB_VERSION=3.8.0
profile=dev
profile_dir=debug
compression=(--fast)
install=yes
for arg in "$@"; do
  case "$arg" in
    --release)
      profile=release
      profile_dir=release
      compression=()
      ;;
    --no-install) install=no ;;
    *)
      echo "usage: $0 [--release] [--no-install]" >&2
      exit 2
      ;;
  esac
done

step() { printf '\n-- %s --\n' "$*"; }
fail() {
  echo "package-deb: $*" >&2
  exit 1
}

if [[ $install == yes && $(id -u) -ne 0 ]]; then
  fail "run as root: the package is installed with dpkg -i and removed again (or pass --no-install)"
fi
if [[ $install == yes ]] && dpkg-query -W -f='${Status}' vigilmon 2>/dev/null | grep -q 'ok installed'; then
  fail "a vigilmon package is already installed on this machine; this check installs \
and purges its own, so remove that one first (apt-get purge vigilmon)"
fi

step "tools"
if ! cargo deb --version >/dev/null 2>&1; then
  # Its own target directory, not the project's.
  (unset CARGO_TARGET_DIR && cargo install --locked --version "$CARGO_DEB_VERSION" cargo-deb)
fi
cargo deb --version
if [[ $install == yes ]] && ! command -v systemd-analyze >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
[[ $install == no ]] || systemd-analyze --version | head -n1

step "build ($profile)"
if [[ $profile == release ]]; then
  cargo build --release -p vigilmon
else
  cargo build -p vigilmon
fi
bin="$CARGO_TARGET_DIR/$profile_dir/vigilmon"

step "manual pages and completions"
# Where [package.metadata.deb] looks for them (target/release/ stands for this
# profile's directory there).
assets="$CARGO_TARGET_DIR/$profile_dir/vigilmon-package"
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" manpage --out-dir "$assets/man"
gzip -9n "$assets"/man/*.1
"$bin" completions bash >"$assets/completions/vigilmon.bash"
"$bin" completions zsh >"$assets/completions/_vigilmon"
"$bin" completions fish >"$assets/completions/vigilmon.fish"
echo "$(find "$assets/man" -name '*.1.gz' | wc -l) manual pages, 3 completion scripts"

step "cargo deb"
out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"
deb=$(cargo deb -p vigilmon --no-build --profile "$profile" "${compression[@]}" --output "$out" | tail -n1)
[[ -f "$deb" ]] || fail "cargo deb printed no package path (got: $deb)"
installed_here=no
cleanup() {
  # Only what this run installed is removed (a failed check leaves nothing behind).
  if [[ $installed_here == yes ]]; then
    DEBIAN_FRONTEND=noninteractive dpkg --purge vigilmon >/dev/null 2>&1 || true
  fi
  if [[ $profile != release && $install == yes && -z "${KEEP_DEB:-}" ]]; then
    rm -f "$deb"
  fi
}
trap cleanup EXIT
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb" | awk '{print $6}' | sort >"$assets/contents.txt"
for path in ./usr/bin/vigilmon \
  ./usr/lib/systemd/system/vigilmon.service \
  ./usr/lib/systemd/system/vigilmon-agent.service \
  ./usr/lib/systemd/system/vigilmon-redis-health.service \
  ./usr/lib/sysusers.d/vigilmon.conf \
  ./etc/vigilmon/vigilmon.yaml \
  ./etc/vigilmon/agent.env; do
  grep -qx "$path" "$assets/contents.txt" || fail "$path is not in the package"
done

if [[ $install == no ]]; then
  echo "package: $deb"
  exit 0
fi

step "dpkg -i"
installed_here=yes
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"

step "installed"
[[ -x /usr/bin/vigilmon ]] || fail "/usr/bin/vigilmon is not installed"
version=$(/usr/bin/vigilmon --version)
echo "$version"
[[ $version == "vigilmon $(dpkg-query -W -f='${Version}' vigilmon | sed 's/-[^-]*$//')" ]] ||
  fail "vigilmon --version says \"$version\", not the package's version"
/usr/bin/vigilmon validate -f /etc/vigilmon/vigilmon.yaml
getent passwd vigilmon >/dev/null || fail "the system user vigilmon was not created"
for f in /etc/vigilmon/vigilmon.env /etc/vigilmon/agent.env /etc/vigilmon/redis-health.env; do
  [[ $(stat -c %a "$f") == 600 ]] || fail "$f is not mode 0600 (it holds secrets)"
done

# Completions where each shell looks, naming the subcommands.
grep -q 'complete -F _vigilmon' /usr/share/bash-completion/completions/vigilmon ||
  fail "bash completion missing"
grep -q '^#compdef vigilmon' /usr/share/zsh/vendor-completions/_vigilmon || fail "zsh completion missing"
grep -q 'complete -c vigilmon' /usr/share/fish/vendor_completions.d/vigilmon.fish ||
  fail "fish completion missing"
grep -q 'backup' /usr/share/bash-completion/completions/vigilmon || fail "bash completion lacks backup"
if command -v bash >/dev/null; then
  # Loaded by bash, the completion offers the subcommands.
  offered=$(bash -c 'source /usr/share/bash-completion/completions/vigilmon
    COMP_WORDS=(vigilmon re); COMP_CWORD=1; _vigilmon vigilmon re vigilmon; echo "${COMPREPLY[*]}"')
  [[ $offered == *restore* && $offered == *redis-health* ]] ||
    fail "bash completion of \"vigilmon re\" offers \"$offered\""
fi

# Manual pages: one per command, readable by man.
for page in vigilmon vigilmon-serve vigilmon-backup vigilmon-restore vigilmon-completions; do
  [[ -f /usr/share/man/man1/$page.1.gz ]] || fail "manual page $page(1) missing"
  zcat "/usr/share/man/man1/$page.1.gz" | grep -q '^\.TH' || fail "$page(1) is not a manual page"
done
if command -v man >/dev/null; then
  man -w vigilmon-backup >/dev/null || fail "man does not find vigilmon-backup(1)"
  man_check=--man=yes
else
  # Documentation=man:… lines are then checked for existence above only.
  man_check=--man=no
fi

step "systemd-analyze verify"
# Offline: verify loads the unit files and checks them (keys, executables, syscall
# sets, the man pages of Documentation=) without a running systemd, so it works in a
# container. It only warns about unknown keys and bad values: any output fails here.
units=(/usr/lib/systemd/system/vigilmon.service /usr/lib/systemd/system/vigilmon-agent.service
  /usr/lib/systemd/system/vigilmon-redis-health.service)
if ! report=$(systemd-analyze verify "$man_check" "${units[@]}" 2>&1) || [[ -n $report ]]; then
  echo "$report" >&2
  fail "systemd-analyze verify found problems in the units"
fi
echo "ok: ${units[*]##*/}"

step "remove"
DEBIAN_FRONTEND=noninteractive dpkg --purge vigilmon
installed_here=no
[[ ! -e /usr/bin/vigilmon ]] || fail "/usr/bin/vigilmon is still there after purge"
[[ ! -e /etc/vigilmon ]] || fail "/etc/vigilmon is still there after purge"
[[ ! -e /usr/lib/systemd/system/vigilmon.service ]] || fail "the unit is still there after purge"
echo "removed"

if [[ $profile == release || -n "${KEEP_DEB:-}" ]]; then
  echo "package: $deb"
fi
