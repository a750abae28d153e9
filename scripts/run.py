#!/usr/bin/env python3
"""`just run`: the whole gateway on this machine (native mode, no Docker).

Creates `.env` from `.env.example` on first use (fresh secrets, never overwriting), builds the
binaries, installs every fragment's server at its pinned version, starts Redis (data kept in
`data/redis/`), the development OpenID Connect login (unless UPSTREAM=github), authd, one sidecar
per fragment and Caddy on PUBLIC_URL, waits until each answers, prints how to connect, and stops
everything on Ctrl-C or SIGTERM. Logs: `logs/<service>/`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import create_env, read_env  # noqa: E402
from fragments import ROOT, FragmentError  # noqa: E402
from gateway import selected_servers  # noqa: E402
from stack import Stack, StackError  # noqa: E402


def build(release: bool) -> Path:
    """Build both binaries; returns the directory that holds them."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    cmd = ["cargo", "build", "-p", "authd", "-p", "sidecar"] + (["--release"] if release else [])
    subprocess.run(cmd, cwd=ROOT, check=True)
    return target / ("release" if release else "debug")


def banner(stack: Stack) -> str:
    user = stack.env.get("DEV_LOGIN_USER", "dev")
    lines = [
        "",
        f"MCP OAuth gateway running on {stack.public_url} (authorization server = issuer)",
        "",
        *[f"  {s.name:22} {stack.url(s.name)}" for s in stack.servers],
        "",
        "MCP servers confined by bubblewrap to their data directories (data/mcp/<name>, seen as /data)"
        if stack.sandbox == "bubblewrap" else
        "WARNING: MCP_SANDBOX=off: every MCP server can read and change all this user can (.env too)",
        "",
    ]
    if stack.dev_login:
        lines += [
            f"Login: DEVELOPMENT LOGIN (local OpenID Connect provider at {stack.issuer}), user",
            f"  '{user}' with the password DEV_LOGIN_PASSWORD from .env. Not for production:",
            "  set UPSTREAM=github and GITHUB_* in .env to log in with GitHub instead.",
        ]
    else:
        lines.append(f"Login: upstream {stack.env.get('UPSTREAM')} ({stack.issuer})")
    lines += [
        "",
        "Connect a client (it discovers OAuth from the 401 and registers itself):",
        f"  claude mcp add --transport http time {stack.url('time')}",
        f"  npx @modelcontextprotocol/inspector   # then enter {stack.url('time')}",
        f"Logs in {stack.log_dir}/<service>/. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    parser.add_argument("--public-url", help="override PUBLIC_URL from the env file")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs")
    parser.add_argument("--bin-dir", type=Path, help="use these binaries instead of building")
    parser.add_argument("--release", action="store_true", help="build and run release binaries")
    parser.add_argument("--pidfile", type=Path, help="write this launcher's pid here while it runs")
    args = parser.parse_args(argv)

    bin_dir = args.bin_dir or build(args.release)
    if create_env(ROOT / ".env.example", args.env_file, bin_dir / "authd"):
        print(f"run.py: created {args.env_file} with fresh secrets (edit it to change settings)")
    try:
        servers = selected_servers(read_env(args.env_file).get("MCP_SERVICES", ""))
    except FragmentError as err:
        print(f"run.py: {err}", file=sys.stderr)
        return 64
    public_url = args.public_url or read_env(args.env_file).get("PUBLIC_URL")
    stack = Stack(args.env_file, public_url, args.data_dir, args.log_dir, bin_dir, servers=servers)
    problems = stack.settings_problems()
    if problems:
        print("run.py: invalid configuration:\n" + "".join(f"  - {p}\n" for p in problems),
              file=sys.stderr, end="")
        return 64

    stop = threading.Event()

    def on_signal(*_):
        # While starting, unwind at once (start() stops what it started); later, leave the loop.
        if not stop.is_set() and not stack.services.get("caddy"):
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    if args.pidfile:
        args.pidfile.write_text(f"{os.getpid()}\n")
    try:
        stack.start()
        print(banner(stack), flush=True)
        while not stop.wait(1.0):
            dead = [n for n, s in stack.services.items() if s.proc and s.proc.poll() is not None]
            if dead:
                print(f"run.py: {', '.join(dead)} exited; see {args.log_dir}/<service>/", file=sys.stderr)
                return 1
        return 0
    except StackError as err:
        print(f"run.py: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
        if args.pidfile:
            args.pidfile.unlink(missing_ok=True)
        print("run.py: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
