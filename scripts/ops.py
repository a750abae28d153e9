#!/usr/bin/env python3
"""The operator's everyday commands for a running gateway: `just status`, `just logs [SERVICE]`,
`just stop`.

Native mode (`just run`): the launcher writes `data/run.pid` while it runs and `data/stack.json`
(each service's pid, address and log file) once the gateway answers; these commands read them.
Docker compose mode (`just up`), with `--compose`: `docker compose ps` plus each public origin's
certificate expiry, and `docker compose logs`.

    ops.py status [--compose]           each service: up or down, URL, health, open sessions
    ops.py logs [SERVICE] [--lines N] [--no-follow] [--compose]
    ops.py stop                         SIGTERM to the launcher, wait until it has stopped everything
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import read_env  # noqa: E402
from fragments import ROOT  # noqa: E402
from run import PIDFILE, running_launcher, shown  # noqa: E402
from stack import STATE_FILE, redis_ping  # noqa: E402

# The launcher gives each service 15 s to stop, then kills it: stopping all of them is bounded.
STOP_TIMEOUT_SECS = 180.0


def load_state(data_dir: Path) -> dict | None:
    """The running native gateway's `stack.json`, or None when no launcher runs."""
    if not running_launcher(data_dir / PIDFILE):
        return None
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET (any status), or (0, error text) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, ValueError) as err:
        return 0, str(err).encode()


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def certificate_expiry(url: str, cafile: str | None = None) -> str:
    """'expires <date> (N days)' for an https URL's certificate; whether it is trusted, too."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=cafile)
    trusted = ""
    try:
        with socket.create_connection((host, port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as err:
        trusted = f", NOT TRUSTED ({err.verify_message})"
        loose = ssl.create_default_context()
        loose.check_hostname, loose.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=5) as raw, \
                loose.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except OSError as err:
        return f"no TLS answer ({err})"
    from cryptography import x509

    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    days = (not_after - datetime.datetime.now(datetime.timezone.utc)).days
    return f"certificate expires {not_after:%Y-%m-%d} ({days} days){trusted}"


def health_line(name: str, svc: dict, state: dict, env: dict[str, str]) -> tuple[bool, str, str]:
    """(healthy, where, detail) of one native service."""
    address = svc.get("address")
    if name == "caddy":
        url = state["public_url"]
        code, _ = get(url + "/")
        return code == 200, url, f"status page {code or 'no answer'}"
    if name == "redis":
        sock = Path(state["redis_socket"])
        try:
            ok = redis_ping(sock, env.get("REDIS_PASSWORD", ""))
        except OSError as err:
            return False, shown(sock), f"no answer ({err})"
        return ok, shown(sock), "PING answered" if ok else "PING refused"
    if name == "oidc":
        code, _ = get(state["issuer"] + "/.well-known/openid-configuration")
        return code == 200, state["issuer"], f"discovery {code or 'no answer'}"
    code, body = get(f"http://{address}/health")
    try:
        info = json.loads(body)
    except ValueError:
        info = {}
    if name == "authd":
        return code == 200, address or "", f"health {code or 'no answer'}, signing key {info.get('kid', '?')}"
    server = next((s for s, v in state["servers"].items() if v["service"] == name), None)
    url = state["servers"][server]["url"] if server else address or ""
    detail = (f"health {code or 'no answer'}, {info.get('sessions', '?')} open sessions, "
              f"{info.get('children', '?')} children")
    return code == 200, url, detail


def public_origins(env: dict[str, str]) -> list[str]:
    """The https origins of the compose stack: one in path routing, auth + one per server in host."""
    domain = env.get("BASE_DOMAIN", "")
    if env.get("ROUTING", "path") != "host":
        return [env.get("PUBLIC_URL", f"https://{domain}").rstrip("/")]
    services = [s for s in env.get("MCP_SERVICES", "").split(",") if s]
    return [f"https://auth.{domain}"] + [f"https://mcp-{s}.{domain}" for s in services]


def compose_status(env: dict[str, str]) -> int:
    """`docker compose ps`, then each public origin's certificate."""
    code = subprocess.run(["docker", "compose", "ps"], cwd=ROOT).returncode
    for origin in public_origins(env):
        if origin.startswith("https://"):
            print(f"  {origin:45} {certificate_expiry(origin)}")
    return code


def status(data_dir: Path, env_file: Path, compose: bool) -> int:
    env = read_env(env_file) if env_file.exists() else {}
    if compose:
        return compose_status(env)
    state = load_state(data_dir)
    if state is None:
        print("status: the gateway is not running (start it with `just run` or `just run --detach`; "
              "docker compose: `just status --compose`)")
        return 1
    print(f"gateway on {state['public_url']} (launcher pid {state['launcher_pid']})")
    healthy = True
    for name, svc in state["services"].items():
        up = alive(svc.get("pid"))
        ok, where, detail = health_line(name, svc, state, env) if up else (False, "", "process gone")
        healthy = healthy and up and ok
        print(f"  {name:26} {'up' if up and ok else 'DOWN':5} {where:45} {detail}")
    return 0 if healthy else 1


def log_files(data_dir: Path, log_dir: Path) -> dict[str, Path]:
    """Log file per service: the running gateway's, else every `logs/<name>/<name>.log`."""
    state = load_state(data_dir)
    if state:
        return {name: Path(svc["log"]) for name, svc in state["services"].items()}
    return {p.parent.name: p for p in sorted(log_dir.glob("*/*.log")) if p.stem == p.parent.name}


def tail_lines(path: Path, count: int, end: int) -> list[str]:
    """The last `count` lines before byte `end` (of the 256 KiB before it: a first line cut in two
    is dropped)."""
    with open(path, "rb") as f:
        start = max(0, end - 256 * 1024)
        f.seek(start)
        lines = f.read(end - start).decode(errors="replace").splitlines()
    return (lines[1:] if start else lines)[-count:] if count > 0 else []


def logs(service: str | None, lines: int, follow: bool, data_dir: Path, log_dir: Path, compose: bool) -> int:
    if compose:
        cmd = ["docker", "compose", "logs", "--tail", str(lines)] + (["-f"] if follow else [])
        return subprocess.run(cmd + ([service] if service else []), cwd=ROOT).returncode
    files = log_files(data_dir, log_dir)
    if service:
        if service not in files:
            print(f"logs: no log for {service!r}; services: {', '.join(files) or 'none yet'}", file=sys.stderr)
            return 1
        files = {service: files[service]}
    if not files:
        print(f"logs: no logs in {log_dir} yet (start the gateway with `just run`)", file=sys.stderr)
        return 1
    width = max(len(n) for n in files)
    prefix = (lambda n: f"{n:{width}} | ") if len(files) > 1 else (lambda n: "")
    # Where following starts is fixed before the history is shown: nothing appended in between is lost.
    offsets = {name: path.stat().st_size if path.exists() else 0 for name, path in files.items()}
    for name, path in files.items():
        for line in tail_lines(path, lines, offsets[name]) if offsets[name] else []:
            print(prefix(name) + line)
    sys.stdout.flush()
    try:
        while follow:
            quiet = True
            for name, path in files.items():
                if not path.exists():
                    continue
                with open(path, "rb") as f:
                    f.seek(offsets[name] if path.stat().st_size >= offsets[name] else 0)
                    data = f.read()
                    complete = data[: data.rfind(b"\n") + 1]
                    offsets[name] = f.tell() - (len(data) - len(complete))
                for line in complete.decode(errors="replace").splitlines():
                    print(prefix(name) + line, flush=True)
                    quiet = False
            if quiet:
                time.sleep(0.5)  # poll interval of a follow, not a readiness wait
    except KeyboardInterrupt:
        pass
    return 0


def stop(data_dir: Path) -> int:
    pid = running_launcher(data_dir / PIDFILE)
    if pid is None:
        print("stop: no gateway is running (`just down` stops a docker compose stack)")
        return 0
    began = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    print(f"stop: stopping the gateway (launcher pid {pid})", flush=True)
    while alive(pid):
        if time.monotonic() - began > STOP_TIMEOUT_SECS:
            print(f"stop: the launcher (pid {pid}) did not stop within {STOP_TIMEOUT_SECS:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.1)  # poll interval while waiting for the process to exit
    print(f"stop: stopped in {time.monotonic() - began:.1f} s")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ops.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs")
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    sub = parser.add_subparsers(dest="command", required=True)
    p_status = sub.add_parser("status", help="each service: up or down, URL, health")
    p_status.add_argument("--compose", action="store_true", help="the docker compose stack")
    p_logs = sub.add_parser("logs", help="show and follow the logs")
    p_logs.add_argument("--compose", action="store_true", help="the docker compose stack")
    p_logs.add_argument("service", nargs="?", help="one service (caddy, redis, oidc, authd, mcp-<name>)")
    p_logs.add_argument("--lines", "-n", type=int, default=50, help="lines of history per service")
    p_logs.add_argument("--no-follow", action="store_true", help="print and exit")
    sub.add_parser("stop", help="stop a gateway started by `just run` (foreground or --detach)")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status(args.data_dir, args.env_file, args.compose)
    if args.command == "logs":
        return logs(args.service, args.lines, not args.no_follow, args.data_dir, args.log_dir, args.compose)
    return stop(args.data_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
