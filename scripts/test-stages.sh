#!/usr/bin/env bash
# `just test-stages`: the stages of `just test` in its order, each timed; the table goes to
# reports/test-stages.txt (CI's limit is 90 minutes for the whole run, the budget 60).
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/test-stages.txt
mkdir -p reports
: > "$out.tmp"
total=0
# The stages are the dependencies of the `test` recipe, read from the justfile (one list to keep).
read -r -a stages <<<"$(just --show test | sed -n 's/^test: *//p')"
for stage in "${stages[@]}"; do
  start=$(date +%s)
  just "$stage"
  secs=$(( $(date +%s) - start ))
  total=$(( total + secs ))
  printf '%-18s %5d s\n' "$stage" "$secs" | tee -a "$out.tmp"
done
printf '%-18s %5d s\n' total "$total" | tee -a "$out.tmp"
mv "$out.tmp" "$out"
