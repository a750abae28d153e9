#!/usr/bin/env bash
# `just coverage`: coverage of authd and sidecar measured from the real running binaries
# (docs/architecture/tested.md).
# Builds both with `-C instrument-coverage` into their own target directory, runs the end-to-end
# suite against them (E2E_BIN_DIR): natively, and in the compose stacks, whose images then carry
# these binaries with docker-compose.coverage.yml collecting their profiles (GATEWAY_COVERAGE_DIR);
# merges the profiles each process wrote on exit, and writes htmlcov/ (both runs merged) plus a
# per-crate summary of native, containers and both in reports/coverage.txt.
# LLVM tools: LLVM_BIN, else rustup's llvm-tools, else Debian's llvm-<N> (N >= 19 reads the
# profiles of current rustc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target="${CARGO_TARGET_DIR:-$root/target}/coverage"
profiles="$root/reports/coverage"

find_llvm() {
  if [ -n "${LLVM_BIN:-}" ]; then echo "$LLVM_BIN"; return; fi
  local sysroot; sysroot=$(rustc --print sysroot)
  local host; host=$(rustc -vV | sed -n 's/^host: //p')
  if [ -x "$sysroot/lib/rustlib/$host/bin/llvm-profdata" ]; then echo "$sysroot/lib/rustlib/$host/bin"; return; fi
  for v in 22 21 20 19; do
    if [ -x "/usr/lib/llvm-$v/bin/llvm-profdata" ]; then echo "/usr/lib/llvm-$v/bin"; return; fi
  done
  if [ -z "${LLVM_RETRIED:-}" ] && command -v apt-get >/dev/null 2>&1; then
    echo "coverage.sh: installing Debian's llvm-19 for llvm-profdata and llvm-cov" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-19 >/dev/null
    LLVM_RETRIED=1 find_llvm; return
  fi
  echo "coverage.sh: no llvm-profdata >= 19 (install Debian's llvm-19 or rustup's llvm-tools, or set LLVM_BIN)" >&2
  exit 64
}
llvm=$(find_llvm)

containers="$profiles/containers"
rm -rf "$profiles" "$root/htmlcov"
mkdir -p "$profiles" "$containers"
RUSTFLAGS="-C instrument-coverage" CARGO_TARGET_DIR="$target" cargo build -p authd -p sidecar
# %p: one file per process (every restart in the suite adds one); %m: per binary.
status=0
LLVM_PROFILE_FILE="$profiles/%p-%m.profraw" E2E_BIN_DIR="$target/debug" GATEWAY_COVERAGE_DIR="$containers" \
  "$root/.venv/bin/pytest" tests/e2e -q || status=$?

merge() {  # merge OUT PROFRAW...
  local out=$1; shift
  [ $# -gt 0 ] && [ -e "$1" ] || { echo "coverage.sh: no profiles for $out" >&2; exit 1; }
  "$llvm/llvm-profdata" merge -sparse "$@" -o "$out"
}
merge "$profiles/native.profdata" "$profiles"/*.profraw
merge "$profiles/containers.profdata" "$containers"/*.profraw
merge "$profiles/e2e.profdata" "$profiles/native.profdata" "$profiles/containers.profdata"
# The first binary is positional, further ones -object; then optional source paths.
objects=("$target/debug/authd" -object "$target/debug/sidecar")
ignore='(\.cargo/registry|/rustc/|/tests/)'
"$llvm/llvm-cov" show --format=html --output-dir="$root/htmlcov" --ignore-filename-regex="$ignore" \
  --instr-profile="$profiles/e2e.profdata" "${objects[@]}" >/dev/null
{
  for run in native containers e2e; do
    for crate in authd sidecar; do
      line=$("$llvm/llvm-cov" report --ignore-filename-regex="$ignore" --instr-profile="$profiles/$run.profdata" \
        "${objects[@]}" "$root/$crate/src" | tail -1)
      # TOTAL regions missed cover functions missed executed lines missed cover ...
      echo "$run $crate: lines $(echo "$line" | awk '{print $10}'), regions $(echo "$line" | awk '{print $4}'), functions $(echo "$line" | awk '{print $7}')"
    done
  done
} | sed 's/^e2e /both /' | tee "$root/reports/coverage.txt"
echo "coverage.sh: htmlcov/index.html; end-to-end suite exit status $status"
exit "$status"
