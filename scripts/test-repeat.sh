#!/usr/bin/env bash
# `just test-repeat [RUST] [E2E]`: the whole Rust suite RUST times (default 20), then the end-to-end
# suite E2E times (default 5), in a row, stopping at the first failing run. A test that fails once
# in such a loop is flaky: a bug in the product or the test, found here rather than in CI.
# Each run's verdict and wall time go to reports/test-repeat.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rust_runs="${1:-20}"
e2e_runs="${2:-5}"
report=reports/test-repeat.txt
mkdir -p reports logs/test-repeat
: >"$report"

run() {
  local what="$1" n="$2" log="logs/test-repeat/$1-$2.log" start=$SECONDS
  shift 2
  if "$@" >"$log" 2>&1; then
    printf '%s run %s: passed in %s s\n' "$what" "$n" "$((SECONDS - start))" | tee -a "$report"
  else
    printf '%s run %s: FAILED after %s s (log: %s)\n' "$what" "$n" "$((SECONDS - start))" "$log" | tee -a "$report"
    grep -E '^\s+(FAIL|SIGSEGV|SIGABRT|TIMEOUT)|^FAILED|Error' "$log" | head -20 >&2 || true
    exit 1
  fi
}

if [ "$rust_runs" -gt 0 ]; then cargo nextest run --workspace --no-run >/dev/null; fi
for n in $(seq 1 "$rust_runs"); do
  run rust "$n" cargo nextest run --workspace --no-fail-fast
done
for n in $(seq 1 "$e2e_runs"); do
  run e2e "$n" pytest tests/e2e
done
printf 'all passed: %s Rust runs, %s end-to-end runs\n' "$rust_runs" "$e2e_runs" | tee -a "$report"
