#!/usr/bin/env bash
# The fuzz targets of fuzz/ (cargo fuzz, libFuzzer, stable Rust without sanitizer: `-s none`).
#   fuzz/run.sh test [SECONDS]     `just test-fuzz`: build every target once, replay every committed
#                                  corpus, then fuzz each target SECONDS (default 30) from it.
#   fuzz/run.sh run TARGET [SECS]  `just fuzz`: fuzz one target SECS (default 600) into its corpus,
#                                  then minimise the corpus (`cargo fuzz cmin`).
#   fuzz/run.sh seed               `just fuzz-seed`: seeds from real traffic (fuzz/seed.py), merged
#                                  into each corpus by `cargo fuzz cmin`.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the command. Final libFuzzer
# statistics (executions, exec/s, coverage) go to reports/fuzz/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
export CARGO_TARGET_DIR="$PWD/target"
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
logs="$root/reports/fuzz"
mkdir -p "$logs"
# Inputs larger than this are not produced (a few real child lines fit; the framing's own limit is
# exercised with small limits inside the target).
max_len=65536

build() { cargo fuzz build -s none "$@"; }

targets() { cargo fuzz list; }

# fuzz TARGET SECONDS NEW_INPUT_DIR: replays fuzz/corpus/TARGET, then fuzzes for SECONDS.
fuzz() {
  local target=$1 secs=$2 into=$3
  mkdir -p "artifacts/$target" "corpus/$target"
  "$bin/$target" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" "$into" "corpus/$target" \
    >"$logs/$target.log" 2>&1 || { tail -40 "$logs/$target.log" >&2; echo "fuzz: $target failed" >&2; return 1; }
  summary "$target"
}

# One line per target from libFuzzer's final lines.
summary() {
  local log="$logs/$1.log"
  local done execs rate
  done=$(grep -E '^#[0-9]+ +DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%-18s execs %10s  exec/s %6s  %s  corpus files %s\n' "$1" "$execs" "$rate" \
    "$(sed -E 's/^#[0-9]+ +DONE +//; s/ +exec\/s.*//' <<<"$done")" "$(ls "corpus/$1" | wc -l)"
}

case "${1:-}" in
  test)
    secs=${2:-30}
    build
    failed=0
    for t in $(targets); do
      scratch=$(mktemp -d)
      fuzz "$t" "$secs" "$scratch" || failed=1
      rm -rf "$scratch"
    done
    exit $failed
    ;;
  run)
    target=${2:?usage: run.sh run TARGET [SECONDS]}
    build "$target"
    fuzz "$target" "${3:-600}" "corpus/$target"
    cargo fuzz cmin -s none "$target" "corpus/$target" -- -max_len="$max_len" >/dev/null 2>&1
    echo "corpus/$target: $(ls "corpus/$target" | wc -l) files after cmin"
    ;;
  seed)
    python3 seed.py
    build
    for t in $(targets); do
      mkdir -p "corpus/$t"
      cp -n "seeds/$t"/* "corpus/$t/"
      cargo fuzz cmin -s none "$t" "corpus/$t" -- -max_len="$max_len" >/dev/null 2>&1
      echo "corpus/$t: $(ls "corpus/$t" | wc -l) files"
    done
    rm -rf seeds
    ;;
  *)
    echo "usage: fuzz/run.sh test [SECONDS] | run TARGET [SECONDS] | seed" >&2
    exit 64
    ;;
esac
