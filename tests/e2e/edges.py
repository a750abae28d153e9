"""The two edges the end-to-end suite runs through, behind one interface the tests use:

- `NativeEdge`: the native stack (`just run`'s launcher, scripts/stack.py) behind Caddy, plain http
  on loopback, path routing.
- `ComposeEdge`: the production compose stack behind Traefik, started by `just up-test` (HTTPS with
  certificates from the Pebble test CA, the development login behind Traefik), in path or host
  routing, on its own compose project, loopback address, domain and edge network, so that it never
  meets another stack on this machine.

What differs between them (URLs, where a server keeps its files, how a service is restarted or an
admin command run) is a method here; the tests are the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import yaml

import composestack
from envfile import create_env, read_env
from fragments import load_servers

ROOT = Path(__file__).resolve().parents[2]
ROUTED_TIMEOUT_SECS = 60.0


class NativeEdge:
    """The native stack (scripts/stack.py's Stack) seen as an edge."""

    name = "caddy"

    def __init__(self, stack, env_file: Path):
        self.stack = stack
        self.env_file = env_file

    def __getattr__(self, attr):
        return getattr(self.stack, attr)

    @property
    def authorization_server(self) -> str:
        return self.stack.public_url

    def url(self, server: str) -> str:
        return self.stack.url(server)

    def prm_url(self, server: str) -> str:
        return f"{self.stack.public_url}/.well-known/oauth-protected-resource/{server}/mcp"

    def sidecar_wire(self, server: str) -> tuple[str, int]:
        """(interface, port) on which the edge talks to the server's sidecar."""
        return "lo", int(self.stack.address(f"mcp-{server}").rsplit(":", 1)[1])

    def fresh_wire(self, server: str) -> None:
        """Caddy talks HTTP/1.1 to the sidecars: a capture can start at any request (wire.py)."""

    def log_text(self, component: str) -> str:
        """What a component logged so far: `edge` (Caddy's access log), `authd` or `mcp-<name>`."""
        path = self.stack.log_dir / ("caddy/access.log" if component == "edge" else f"{component}/{component}.log")
        return path.read_text(errors="replace")

    def run_in_data(self, server: str, argv: list[str]) -> str:
        """A command run in the server's data directory where it lives (here: this machine)."""
        return subprocess.run(argv, cwd=self.stack.data_path(server), check=True, capture_output=True,
                              text=True, timeout=60).stdout


class ComposeEdge:
    """A compose stack brought up by `just up-test` with its own settings file and data dir."""

    name = "traefik"

    def __init__(self, workdir: Path, routing: str, tag: str, overrides: dict[str, str], bin_dir: Path):
        self.routing = routing
        self.data_dir = workdir / "data"
        self.env_file = workdir / ".env"
        # A loopback address, domain, project and edge network of its own (two runs of the suite
        # on one machine never share a name or a published port).
        pid = os.getpid()
        self.address = f"127.77.{(pid >> 8) & 255}.{(pid & 255) | 1}"
        self.base = f"{routing}-{tag}.e2e.test"
        self.project = f"mcp-e2e-{tag}-{routing}"
        self.public_url = f"https://{self.base}"
        create_env(ROOT / ".env.example", self.env_file, bin_dir / "authd", overrides | {
            "PUBLIC_URL": self.public_url,
            "BASE_DOMAIN": self.base,
            "ROUTING": routing,
            "EDGE_NETWORK": f"{self.project}-edge",
            "PUBLISH_ADDRESS": self.address,
            "DOCKER_BUILD": "local",
        })
        self.env = read_env(self.env_file)
        self.process_env = os.environ | {
            "GATEWAY_ENV_FILE": str(self.env_file),
            "GATEWAY_DATA_DIR": str(self.data_dir),
            "COMPOSE_PROJECT_NAME": self.project,
            "GATEWAY_BIN_DIR": str(bin_dir),
        }

    # ------------------------------------------------------------------ lifecycle
    def extra_compose(self, doc: dict) -> None:
        """A compose file of test-only overrides, added after the stack's own files."""
        path = self.data_dir.parent / "overrides.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.process_env["GATEWAY_EXTRA_COMPOSE"] = str(path)

    def just(self, *recipe: str) -> None:
        subprocess.run(["just", "--justfile", str(ROOT / "justfile"), *recipe], env=self.process_env,
                       check=True, timeout=1800)

    def start(self) -> None:
        self.just("up-test")
        self.state = json.loads((self.data_dir / composestack.STATE).read_text())

    def stop(self) -> None:
        self.save_logs()
        try:
            self.just("down")
        finally:
            volumes = self.docker("volume", "ls", "-q", "--filter",
                                  f"label=com.docker.compose.project={self.project}").split()
            if volumes:
                self.docker("volume", "rm", *volumes)
            subprocess.run(["docker", "network", "rm", self.env["EDGE_NETWORK"]], capture_output=True)

    def save_logs(self) -> None:
        """Every service's log, before `down` removes the containers: logs/e2e-<routing>/ (the
        native stacks log to logs/e2e*/ too), so that a failed test can be read afterwards."""
        if not hasattr(self, "state"):  # `just up-test` did not get as far as writing its state
            return
        out = ROOT / "logs" / f"e2e-{self.routing}"
        out.mkdir(parents=True, exist_ok=True)
        try:
            (out / "compose.log").write_text(self.compose("logs", "--no-color", "--timestamps"))
        except subprocess.SubprocessError as err:
            (out / "compose.log").write_text(f"docker compose logs failed: {err}\n")

    # ------------------------------------------------------------------ addresses
    @property
    def authorization_server(self) -> str:
        return self.public_url if self.routing == "path" else f"https://auth.{self.base}"

    @property
    def issuer(self) -> str:
        """The upstream login's issuer: the development provider behind Traefik
        (docker-compose.test.yml)."""
        return f"https://login.{self.base}"

    @property
    def servers(self) -> list:
        """The MCP servers the stack runs (`MCP_SERVICES` blank: every fragment)."""
        return load_servers()

    def url(self, server: str) -> str:
        if self.routing == "path":
            return f"{self.public_url}/{server}/mcp"
        return f"https://mcp-{server}.{self.base}/mcp"

    def prm_url(self, server: str) -> str:
        if self.routing == "path":
            return f"{self.public_url}/.well-known/oauth-protected-resource/{server}/mcp"
        return f"https://mcp-{server}.{self.base}/.well-known/oauth-protected-resource/mcp"

    # ------------------------------------------------------------------ docker
    def docker(self, *args: str) -> str:
        return subprocess.run(["docker", *args], check=True, capture_output=True, text=True,
                              timeout=300).stdout

    def compose(self, *args: str) -> str:
        return subprocess.run([*composestack.compose_cmd(self.state), *args],
                              env=composestack.compose_env(self.state), check=True, capture_output=True,
                              text=True, timeout=600).stdout

    def exec(self, service: str, argv: list[str]) -> subprocess.CompletedProcess:
        """A command in a running service's container (its exit status is the caller's to judge)."""
        return subprocess.run([*composestack.compose_cmd(self.state), "exec", "-T", service, *argv],
                              env=composestack.compose_env(self.state), capture_output=True, text=True,
                              timeout=120)

    def log_text(self, component: str) -> str:
        """What a service logged so far: `edge` (Traefik, whose access log is on its stdout),
        `authd` or `mcp-<name>`."""
        return self.compose("logs", "--no-color", "--no-log-prefix", "traefik" if component == "edge" else component)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).strip()

    def restart(self, service: str) -> None:
        """`docker compose restart`, then wait until the service is healthy again and Traefik
        routes through it (its docker provider drops a container's routes while it is not
        healthy; the MCP routers' middlewares come from the file provider and stay)."""
        self.compose("restart", service)
        self.compose("up", "-d", "--no-build", "--wait", service)
        self.wait_routed(service)

    def wait_routed(self, service: str) -> None:
        """Until an MCP request through the service (authd, Redis: any) gets forward-auth's 401."""
        url = self.url(service.removeprefix("mcp-") if service.startswith("mcp-") else "time")
        deadline = time.monotonic() + ROUTED_TIMEOUT_SECS
        while time.monotonic() < deadline:
            try:
                if httpx.post(url, json={}, timeout=5).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # poll interval between real requests, bounded by the deadline
        raise AssertionError(f"{url} not routed {ROUTED_TIMEOUT_SECS} s after restarting {service}")

    def admin(self, *args: str) -> str:
        return self.compose("exec", "-T", "authd", "authd", *args)

    def server_path(self, server: str, relative: str = "") -> str:
        """A path as the server names it: its data volume is mounted at /data."""
        return f"/data/{relative}" if relative else "/data"

    def sidecar_wire(self, server: str) -> tuple[str, int]:
        """The bridge of the server's own network (Traefik <-> its sidecar) and port 3000."""
        network_id = self.docker("network", "inspect", "-f", "{{.Id}}", f"{self.project}-{server}").strip()
        return f"br-{network_id[:12]}", 3000

    def fresh_wire(self, server: str) -> None:
        """Restarts the server's sidecar, so that Traefik's next request opens a new HTTP/2
        connection to it: a capture started now sees the connection from its start (wire.py)."""
        self.restart(f"mcp-{server}")

    def run_in_data(self, server: str, argv: list[str]) -> str:
        """A command in the server's container, in its data volume (as the server's user)."""
        return self.compose("exec", "-T", "--workdir", "/data", f"mcp-{server}", *argv)
