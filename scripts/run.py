#!/usr/bin/env python3
"""`just run`: the whole gateway on this machine (native mode, no Docker).

Creates `.env` from `.env.example` on first use (fresh secrets, never overwriting), builds the
binaries, installs every fragment's server at its pinned version, starts Redis (data kept in
`data/redis/`), the development OpenID Connect login (unless UPSTREAM=github), authd, one sidecar
per fragment and Caddy on PUBLIC_URL, waits until each answers (printing each step and how long it
took), prints how to log in and connect, and stops everything on Ctrl-C or SIGTERM (`just stop`).
Logs: `logs/<service>/`.

`--detach` runs the same launcher in the background (its own output in `logs/run/run.log`), shows
its progress until the gateway is ready, and returns. The launcher's pid is in `data/run.pid` while
it runs, foreground or background; a second launcher on the same data directory is refused.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import create_env, read_env  # noqa: E402
from fragments import ROOT, FragmentError  # noqa: E402
from gateway import selected_servers  # noqa: E402
from stack import Stack, StackError  # noqa: E402

# Printed after the banner once the gateway answers (a detached launch follows the output until it).
READY = "run: gateway ready in "
PIDFILE = "run.pid"


def shown(path: Path | str) -> str:
    """A path as printed: relative to the repository when inside it."""
    p = Path(path)
    return str(p.relative_to(ROOT)) if p.is_absolute() and p.is_relative_to(ROOT) else str(p)


def say(line: str) -> None:
    print(f"run: {line}", flush=True)


def build(release: bool) -> Path:
    """Build both binaries; returns the directory that holds them."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    cmd = ["cargo", "build", "-p", "authd", "-p", "sidecar"] + (["--release"] if release else [])
    began = time.monotonic()
    say(f"building the {'release' if release else 'debug'} binaries (cargo build)")
    subprocess.run(cmd, cwd=ROOT, check=True)
    say(f"binaries ready in {time.monotonic() - began:.1f} s")
    return target / ("release" if release else "debug")


def running_launcher(pidfile: Path) -> int | None:
    """The pid of a launcher still running per `pidfile` (a stale file names no run.py)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    return pid if any(arg.endswith(b"run.py") for arg in cmdline) else None


def banner(stack: Stack, show_password: bool, detached: bool) -> str:
    user = stack.env.get("DEV_LOGIN_USER", "dev")
    names = [s.name for s in stack.servers]
    example = "time" if "time" in names or not names else names[0]
    url = stack.url(example)
    lines = [
        "",
        f"MCP OAuth gateway running on {stack.public_url} (status page: {stack.public_url}/)",
        "",
        *[f"  {s.name:22} {stack.url(s.name)}" for s in stack.servers],
        "",
        "MCP servers confined by bubblewrap to their data directories (data/mcp/<name>, seen as /data)"
        if stack.sandbox == "bubblewrap" else
        "WARNING: MCP_SANDBOX=off: every MCP server can read and change all this user can (.env too)",
        "",
        "Log in from a client:",
        f"  1. Give the client a server URL, e.g. `claude mcp add --transport http {example} {url}`",
        "     (then /mcp in Claude Code), or `npx @modelcontextprotocol/inspector` with that URL.",
    ]
    if stack.dev_login:
        password = stack.env.get("DEV_LOGIN_PASSWORD", "") if show_password else "DEV_LOGIN_PASSWORD in .env"
        lines += [
            f"  2. Your browser opens the development login: user '{user}', password {password}",
            f"     (a local OpenID Connect provider at {stack.issuer}; not for production).",
        ]
    else:
        lines.append(f"  2. Your browser opens the {stack.env.get('UPSTREAM')} login ({stack.issuer}).")
    lines += [
        "  3. Allow access on the consent page: the client is connected.",
        f"Without a client: `just mint-token oidc:{user} {url} --name {user}` prints a bearer token.",
        "`just status` shows each service, `just logs [SERVICE]` its log, `just stop` stops the gateway."
        + ("" if detached else " Ctrl-C stops it too."),
    ]
    return "\n".join(lines)


def detach(argv: list[str], log: Path, pidfile: Path) -> int:
    """Start this launcher in the background and follow its output until the gateway is ready."""
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv, "--detached-child"],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=ROOT)
    with open(log, "rb") as f:
        f.seek(offset)
        pending = b""
        while True:
            chunk = f.read()
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace")
                print(line, flush=True)
                if line.startswith(READY):
                    return 0
            if not chunk and child.poll() is not None:
                print(pending.decode(errors="replace"))
                say(f"the launcher exited with {child.returncode} before the gateway was ready; see {log}")
                return 1
            if not chunk:
                time.sleep(0.2)  # poll interval while following the log, not a readiness wait


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    parser.add_argument("--public-url", help="override PUBLIC_URL from the env file")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs")
    parser.add_argument("--bin-dir", type=Path, help="use these binaries instead of building")
    parser.add_argument("--release", action="store_true", help="build and run release binaries")
    parser.add_argument("--pidfile", type=Path, help=f"this launcher's pid while it runs (default DATA_DIR/{PIDFILE})")
    parser.add_argument("--detach", action="store_true", help="run in the background (`just stop` stops it)")
    parser.add_argument("--detached-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.pidfile = args.pidfile or args.data_dir / PIDFILE
    other = running_launcher(args.pidfile)
    if other:
        print(f"run.py: the gateway is already running (pid {other}); `just stop` stops it", file=sys.stderr)
        return 1
    if args.detach:
        code = detach([a for a in argv if a != "--detach"], args.log_dir / "run" / "run.log", args.pidfile)
        if code == 0:
            env = read_env(args.env_file)
            if sys.stdout.isatty() and env.get("DEV_LOGIN_USER") and env.get("UPSTREAM", "oidc") == "oidc":
                say(f"development login: user '{env['DEV_LOGIN_USER']}', password {env.get('DEV_LOGIN_PASSWORD', '')}")
            say(f"running in the background (pid {running_launcher(args.pidfile)}), output in "
                f"{shown(args.log_dir / 'run' / 'run.log')}")
        return code

    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.pidfile.write_text(f"{os.getpid()}\n")
    try:
        return launch(args)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if running_launcher(args.pidfile) == os.getpid():
            args.pidfile.unlink(missing_ok=True)


def launch(args: argparse.Namespace) -> int:
    """Build, install, start, wait for Ctrl-C / SIGTERM, stop."""
    stop, started = threading.Event(), threading.Event()

    def on_signal(*_):
        # While starting, unwind at once (start() stops what it started); later, leave the loop.
        if not stop.is_set() and not started.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    bin_dir = args.bin_dir or build(args.release)
    if create_env(ROOT / ".env.example", args.env_file, bin_dir / "authd"):
        say(f"created {shown(args.env_file)} with fresh secrets and a development password (edit it to change settings)")
    try:
        servers = selected_servers(read_env(args.env_file).get("MCP_SERVICES", ""))
    except FragmentError as err:
        print(f"run.py: {err}", file=sys.stderr)
        return 64
    public_url = args.public_url or read_env(args.env_file).get("PUBLIC_URL")
    stack = Stack(args.env_file, public_url, args.data_dir, args.log_dir, bin_dir, servers=servers,
                  progress=say)
    problems = stack.settings_problems()
    if problems:
        print("run.py: invalid configuration:\n" + "".join(f"  - {p}\n" for p in problems),
              file=sys.stderr, end="")
        return 64

    try:
        began = time.monotonic()
        stack.start()
        started.set()
        print(banner(stack, sys.stdout.isatty(), args.detached_child), flush=True)
        print(f"{READY}{time.monotonic() - began:.1f} s", flush=True)
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
        say("stopped")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
