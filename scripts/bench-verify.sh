#!/usr/bin/env bash
# `just bench-verify`: throughput and latency of authd's /verify (the forward-auth hot path) against
# the Python service this design descends from (mcp-oauth-dynamicclient, its /verify with Redis), in
# the same run, on this machine, with valid tokens, at concurrency 1 and 64. A benchmark, not a test:
# it reports figures, it asserts nothing. Writes reports/bench-verify.json and reports/bench-verify.md.
#
# Settings (environment): BENCH_DURATION_SECS (default 10) per measurement, BENCH_WARMUP_SECS (2).
# Load generator: wrk (Debian package; scripts/setup.sh installs it), one thread at concurrency 1 and
# two threads (one per core) at 64 connections. Both servers run with their logging at warning level.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${BENCH_DURATION_SECS:-10}
warmup=${BENCH_WARMUP_SECS:-2}
target_dir=${CARGO_TARGET_DIR:-$root/target}
peer_version=0.2.0
say() { printf 'bench-verify: %s\n' "$*" >&2; }

command -v wrk >/dev/null || { say "wrk is missing: run 'just setup'"; exit 1; }
command -v redis-server >/dev/null || { say "redis-server is missing: run 'just setup'"; exit 1; }

say "building authd (release)"
cargo build --release -p authd --quiet
authd="$target_dir/release/authd"

# The peer: the exact PyPI release, in its own virtualenv (its dependencies differ from the tests').
if ! .venv-bench/bin/python -c "import importlib.metadata as m; assert m.version('mcp-oauth-dynamicclient') == '$peer_version'" 2>/dev/null; then
  say "installing mcp-oauth-dynamicclient==$peer_version into .venv-bench"
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check "mcp-oauth-dynamicclient==$peer_version"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Polls a command until it succeeds (bounded: 30 s), instead of sleeping.
wait_for() {
  local what=$1; shift
  for _ in $(seq 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1  # poll interval
  done
  say "$what did not become ready"; exit 1
}

# start_redis NAME: a throwaway Redis on the unix socket $work/NAME.sock (no TCP port to race for).
start_redis() {
  local sock="$work/$1.sock"
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' --appendonly no \
    --daemonize no >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for "redis $1" redis-cli -s "$sock" ping
}

# wait_port FILE: the port scripts/listen.py bound and wrote to FILE (bounded poll, 30 s).
wait_port() {
  for _ in $(seq 300); do
    if [ -s "$1" ]; then cat "$1"; return 0; fi
    sleep 0.1  # poll interval
  done
  say "no port in $1"; exit 1
}

# ---- authd ------------------------------------------------------------------------------------------
start_redis authd-redis
key_line=$("$authd" keygen)
authd_env=(
  "MCP_SERVICES=memory" "ROUTING=path" "REDIS_URL=redis+unix://$work/authd-redis.sock?db=0" "$key_line"
  "UPSTREAM=oidc" "OIDC_ISSUER=http://127.0.0.1:9" "OIDC_CLIENT_ID=bench" "OIDC_CLIENT_SECRET=bench-secret-0123456789"
  "ALLOW_ALL_USERS=true" "LOG_LEVEL=warn" "LOG_FORMAT=json" "PATH=$PATH"
)
# authd on a socket scripts/listen.py binds and hands over; its issuer names the port.
(cd "$work" && exec env -i "${authd_env[@]}" python3 "$root/scripts/listen.py" bind "$work/authd.port" -- \
  sh -c 'export AUTHD_LISTEN="127.0.0.1:$LISTEN_PORT" PUBLIC_URL="http://127.0.0.1:$LISTEN_PORT"; exec "$0" serve' \
  "$authd" >"$work/authd.log" 2>&1) &
pids+=($!)
authd_port=$(wait_port "$work/authd.port")
authd_env+=("AUTHD_LISTEN=127.0.0.1:$authd_port" "PUBLIC_URL=http://127.0.0.1:$authd_port")
wait_for authd curl -fsS "http://127.0.0.1:$authd_port/health"
authd_token=$(cd "$work" && env -i "${authd_env[@]}" "$authd" token mint --user oidc:bench \
  --resource "http://127.0.0.1:$authd_port/memory/mcp" --email bench@example.com --name bench)
authd_url="http://127.0.0.1:$authd_port/verify"
authd_headers=(-H "Authorization: Bearer $authd_token" -H "X-Forwarded-Proto: http"
  -H "X-Forwarded-Host: 127.0.0.1:$authd_port" -H "X-Forwarded-Uri: /memory/mcp" -H "X-Forwarded-Method: POST")
code=$(curl -s -o /dev/null -w '%{http_code}' "${authd_headers[@]}" "$authd_url")
[ "$code" = 200 ] || { say "authd /verify answered $code to the minted token"; cat "$work/authd.log" >&2; exit 1; }

# ---- the Python peer --------------------------------------------------------------------------------
start_redis peer-redis
py_key=$(.venv-bench/bin/python -c '
import base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
print(base64.b64encode(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
      serialization.NoEncryption())).decode())')
# Its settings (pydantic-settings, no defaults); RS256 as in its own deployment.
py_env=(
  "GITHUB_CLIENT_ID=bench" "GITHUB_CLIENT_SECRET=bench" "JWT_SECRET=bench-secret-0123456789" "JWT_ALGORITHM=RS256"
  "JWT_PRIVATE_KEY_B64=$py_key" "BASE_DOMAIN=bench.test" "REDIS_URL=unix://$work/peer-redis.sock?db=0" "REDIS_PASSWORD="
  "ACCESS_TOKEN_LIFETIME=3600" "REFRESH_TOKEN_LIFETIME=86400" "SESSION_TIMEOUT=300" "CLIENT_LIFETIME=0"
  "ALLOWED_GITHUB_USERS=bench" "MCP_PROTOCOL_VERSION=2025-06-18" "LOG_LEVEL=WARNING" "PYTHONWARNINGS=ignore"
  "PATH=$PATH"
)
# uvicorn (with uvloop and httptools, both installed with it), one worker as its CLI runs it, access
# log off so that it is not slowed by logging; on the socket scripts/listen.py hands over (fd 3).
(cd "$work" && exec env -i "${py_env[@]}" python3 "$root/scripts/listen.py" bind "$work/peer.port" -- \
  "$root/.venv-bench/bin/python" -c '
import uvicorn
from mcp_oauth_dynamicclient.server import app
uvicorn.run(app, fd=3, access_log=False, log_level="warning")' >"$work/peer.log" 2>&1) &
pids+=($!)
py_port=$(wait_port "$work/peer.port")
wait_for "the Python peer" curl -sS -o /dev/null "http://127.0.0.1:$py_port/verify"
# A token it issued itself: its own AuthManager.create_jwt_token, which also records it in Redis.
py_token=$(cd "$work" && env -i "${py_env[@]}" "$root/.venv-bench/bin/python" -c '
import asyncio
import redis.asyncio as redis
from mcp_oauth_dynamicclient.auth_authlib import AuthManager
from mcp_oauth_dynamicclient.config import Settings
async def main():
    s = Settings()
    r = redis.from_url(s.redis_url, decode_responses=True)
    print(await AuthManager(s).create_jwt_token({"sub": "bench", "username": "bench", "client_id": "bench", "scope": "mcp"}, r))
    await r.aclose()
asyncio.run(main())' 2>>"$work/peer.log")
py_url="http://127.0.0.1:$py_port/verify"
py_headers=(-H "Authorization: Bearer $py_token" -H "X-Forwarded-Proto: https"
  -H "X-Forwarded-Host: mcp-memory.bench.test" -H "X-Forwarded-Uri: /mcp" -H "X-Forwarded-Method: POST")
code=$(curl -s -o /dev/null -w '%{http_code}' "${py_headers[@]}" "$py_url")
[ "$code" = 200 ] || { say "the peer's /verify answered $code to its own token"; cat "$work/peer.log" >&2; exit 1; }

# ---- measurements -----------------------------------------------------------------------------------
cat >"$work/stats.lua" <<'EOF'
-- Prints one JSON line with wrk's own counts and latency percentiles (microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
EOF

results="$work/results.jsonl"
# Other work on the machine skews every figure: the load average is recorded with them.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
measure() {
  local name=$1 conc=$2 url=$3; shift 3
  local threads=1
  [ "$conc" -gt 1 ] && threads=2
  say "$name at concurrency $conc (${duration}s)"
  wrk -t"$threads" -c"$conc" -d"${warmup}s" "$@" "$url" >/dev/null
  local line
  line=$(wrk -t"$threads" -c"$conc" -d"${duration}s" -s "$work/stats.lua" "$@" "$url" | tail -n 1)
  printf '{"server":"%s","concurrency":%d,%s\n' "$name" "$conc" "${line#\{}" >>"$results"
}
measure authd 1 "$authd_url" "${authd_headers[@]}"
measure authd 64 "$authd_url" "${authd_headers[@]}"
measure mcp-oauth-dynamicclient 1 "$py_url" "${py_headers[@]}"
measure mcp-oauth-dynamicclient 64 "$py_url" "${py_headers[@]}"

mkdir -p reports
python3 - "$results" "$duration" "$peer_version" "$load_before" <<'EOF'
import json, os, platform, subprocess, sys, datetime
path, duration, peer_version, load_before = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = [json.loads(l) for l in open(path)]
for r in runs:
    r["rps"] = round(r["requests"] / (r["duration_us"] / 1e6), 1)
    r["p50_ms"], r["p90_ms"], r["p99_ms"] = (round(r[k] / 1000, 3) for k in ("p50_us", "p90_us", "p99_us"))
by = {(r["server"], r["concurrency"]): r for r in runs}
ratio = {c: round(by[("authd", c)]["rps"] / by[("mcp-oauth-dynamicclient", c)]["rps"], 1) for c in (1, 64)}
a64 = by[("authd", 64)]
report = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "command": "just bench-verify",
    "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_before": load_before},
    "duration_secs": duration,
    "load_generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
    "peer": f"mcp-oauth-dynamicclient=={peer_version} (uvicorn, uvloop, httptools; one worker)",
    "runs": runs,
    "throughput_ratio": {str(c): v for c, v in ratio.items()},
    "targets": {
        "throughput_ratio_at_64_ge_10": ratio[64] >= 10,
        "authd_p99_at_64_lt_2ms": a64["p99_ms"] < 2.0,
        "no_errors": all(r["socket_errors"] == 0 and r["non_2xx"] == 0 for r in runs),
    },
}
json.dump(report, open("reports/bench-verify.json", "w"), indent=2)
lines = [
    "# /verify benchmark: authd vs mcp-oauth-dynamicclient", "",
    f"`just bench-verify`, {report['date']}, {report['machine']['cpus']} CPUs (load average before: "
    f"{load_before}), {duration} s per run, "
    f"{report['load_generator']}; valid tokens, both services with Redis on loopback.", "",
    "| server | concurrency | requests/s | p50 ms | p90 ms | p99 ms | errors |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for r in runs:
    lines.append(f"| {r['server']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.3f} | "
                 f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['socket_errors'] + r['non_2xx']} |")
lines += ["", f"Throughput ratio authd / peer: {ratio[1]}x at concurrency 1, {ratio[64]}x at 64 "
          f"(target >= 10x). authd p99 at 64: {a64['p99_ms']:.3f} ms (target < 2 ms).", "",
          "The load generator shares the machine's cores with the server under test; figures are "
          "comparable within one run, not across machines.", ""]
open("reports/bench-verify.md", "w").write("\n".join(lines))
print("\n".join(lines))
EOF
