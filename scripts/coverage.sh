#!/usr/bin/env bash
# `just coverage`: coverage of authd and sidecar measured from the real running binaries (DESIGN 7).
# Builds both with `-C instrument-coverage` into their own target directory, runs the end-to-end
# suite against them (E2E_BIN_DIR), merges the profiles each process wrote on exit, and writes
# htmlcov/ plus a per-crate summary in reports/coverage.txt.
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

rm -rf "$profiles" "$root/htmlcov"
mkdir -p "$profiles"
RUSTFLAGS="-C instrument-coverage" CARGO_TARGET_DIR="$target" cargo build -p authd -p sidecar
# %p: one file per process (every restart in the suite adds one); %m: per binary.
status=0
LLVM_PROFILE_FILE="$profiles/%p-%m.profraw" E2E_BIN_DIR="$target/debug" \
  "$root/.venv/bin/pytest" tests/e2e -q || status=$?

"$llvm/llvm-profdata" merge -sparse "$profiles"/*.profraw -o "$profiles/e2e.profdata"
# The first binary is positional, further ones -object; then optional source paths.
objects=("$target/debug/authd" -object "$target/debug/sidecar")
ignore='(\.cargo/registry|/rustc/|/tests/)'
"$llvm/llvm-cov" show --format=html --output-dir="$root/htmlcov" --ignore-filename-regex="$ignore" \
  --instr-profile="$profiles/e2e.profdata" "${objects[@]}" >/dev/null
{
  for crate in authd sidecar; do
    line=$("$llvm/llvm-cov" report --ignore-filename-regex="$ignore" --instr-profile="$profiles/e2e.profdata" \
      "${objects[@]}" "$root/$crate/src" | tail -1)
    # TOTAL regions missed cover functions missed executed lines missed cover ...
    echo "$crate: lines $(echo "$line" | awk '{print $10}'), regions $(echo "$line" | awk '{print $4}'), functions $(echo "$line" | awk '{print $7}')"
  done
} | tee "$root/reports/coverage.txt"
echo "coverage.sh: htmlcov/index.html; end-to-end suite exit status $status"
exit "$status"
