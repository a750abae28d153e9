"""Docker Swarm (issue 12): the stack `just stack-deploy` renders from the same fragments as
compose, deployed on a one-node swarm with two replicas of authd and of two MCP services, behind
Traefik's swarm provider over HTTPS from the test CA. Login and a tool call on every server; then
a rolling update of authd and scaling of a sidecar while a client keeps calling: every failed call
is one the client recovers from by re-initializing.

The replicated MCP services are called with 2026-07-28 requests (stateless: any replica answers).
Legacy sessions are called on the servers that keep one replica: a legacy session lives on the
replica that holds its child, and reaching it from another replica needs the session forwarding of
the sidecar (SIDECAR_SESSION_KEY), which this stack passes on as a secret once the sidecar has it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from mcp import types

from client import connect
from conftest import COMMON_SETTINGS, PAGE_MARKER, PAGE_SERVICE_URL, fetch_test_page
from edges import ComposeEdge
from envfile import read_env, set_values
from fragments import load_servers

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
# Two MCP services with two replicas (no data directory: they may run anywhere).
REPLICATED = ("time", "fetch")
REPLICAS = {"AUTHD_REPLICAS": "2", **{f"MCP_REPLICAS_{n.upper()}": "2" for n in REPLICATED}}
# One warm and one shared child per sidecar (the default is two of each): twice the replicas
# start twice the server processes at once, which a loaded 2-core host is slow to start.
POOLS = {"SIDECAR_WARM_POOL": "1", "SIDECAR_SHARED_POOL": "1"}
# One cheap tool call per bundled server: (tool, arguments, text the answer contains).
CALLS = {
    "time": ("convert_time", {"source_timezone": "Europe/Berlin", "time": "12:00", "target_timezone": "UTC"}, "UTC"),
    "fetch": ("fetch", {"url": PAGE_SERVICE_URL}, PAGE_MARKER),
    "filesystem": ("list_allowed_directories", {}, "/data"),
    "memory": ("read_graph", {}, "entities"),
    "git": ("git_status", {"repo_path": "/data/repo"}, "branch"),
    "everything": ("echo", {"message": "through the swarm"}, "through the swarm"),
    "sequential-thinking": ("sequentialthinking", {"thought": "swarm", "thoughtNumber": 1, "totalThoughts": 1,
                                                   "nextThoughtNeeded": False}, "thoughtNumber"),
}


class SwarmEdge(ComposeEdge):
    """`just stack-deploy` with its own settings file, data directory, stack name and port."""

    name = "swarm"

    def __init__(self, workdir: Path, overrides: dict[str, str], bin_dir: Path):
        super().__init__(workdir, "path", f"swarm{os.getpid()}", overrides, bin_dir)
        # The routing mesh takes the published port on every local address: one of its own,
        # below the ephemeral range, so that no compose stack of the suite (port 443) meets it.
        self.port = 24000 + os.getpid() % 1000
        self.public_url = f"https://{self.base}:{self.port}"
        self.env_file.write_text(set_values(self.env_file.read_text(), {"PUBLIC_URL": self.public_url, **REPLICAS, **POOLS}))
        self.env = read_env(self.env_file)

    def start(self) -> None:
        self.just("stack-deploy")

    def stop(self) -> None:
        try:
            self.just("stack-rm")
        finally:
            volumes = self.docker("volume", "ls", "-q", "--filter",
                                  f"label=com.docker.stack.namespace={self.project}").split()
            if volumes:
                self.docker("volume", "rm", "-f", *volumes)

    def service(self, name: str) -> str:
        return f"{self.project}_{name}"

    def replicas(self) -> dict[str, str]:
        out = self.docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={self.project}",
                          "--format", "{{.Name}} {{.Replicas}}")
        return {n.removeprefix(f"{self.project}_"): r for n, r in (line.split(" ", 1) for line in out.splitlines())}


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path):
    workdir = tmp_path_factory.mktemp("swarm")
    edge = SwarmEdge(workdir, COMMON_SETTINGS, bin_dir)
    edge.extra_compose(fetch_test_page(workdir))
    saved = os.environ.get("SSL_CERT_FILE")
    try:
        edge.start()
        os.environ["SSL_CERT_FILE"] = str(edge.data_dir / "test-ca.pem")
        yield edge
    finally:
        os.environ.pop("SSL_CERT_FILE", None)
        if saved:
            os.environ["SSL_CERT_FILE"] = saved
        edge.stop()


def text(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def mode_for(server: str) -> str:
    return MODERN if server in REPLICATED else "legacy"


async def call(swarm, users, server: str) -> str:
    tool, args, _ = CALLS[server]
    async with connect(swarm.url(server), users["dev"], mode_for(server)) as client:
        return text(await client.call_tool(tool, args))


def test_replicas_running_and_secrets_not_in_the_service_definitions(swarm):
    replicas = swarm.replicas()
    assert replicas["authd"] == "2/2", replicas
    for name in REPLICATED:
        assert replicas[f"mcp-{name}"] == "2/2", replicas
    for s in load_servers():
        if s.name not in REPLICATED:
            assert replicas[s.service] == "1/1", replicas
    spec = json.loads(swarm.docker("service", "inspect", swarm.service("authd")))[0]["Spec"]
    env = spec["TaskTemplate"]["ContainerSpec"].get("Env", [])
    assert not [e for e in env if e.startswith(("JWT_PRIVATE_KEY=", "REDIS_PASSWORD="))]
    secrets = {s["File"]["Name"] for s in spec["TaskTemplate"]["ContainerSpec"]["Secrets"]}
    assert secrets == {"jwt_private_key", "redis_password"}
    assert spec["UpdateConfig"]["Order"] == "start-first"


@pytest.mark.parametrize("server", list(CALLS))
async def test_login_and_a_tool_call_on_every_server(swarm, users, server):
    assert CALLS[server][2] in await call(swarm, users, server)


def test_mcp_services_cannot_reach_redis(swarm):
    # Segmentation as in compose: an MCP task shares no network with Redis.
    networks = {}
    for name in ("redis", "mcp-time", "mcp-fetch", "mcp-git", "authd", "traefik"):
        spec = json.loads(swarm.docker("service", "inspect", swarm.service(name)))[0]["Spec"]
        networks[name] = {n["Target"] for n in spec["TaskTemplate"]["Networks"]}
    for name in ("mcp-time", "mcp-fetch", "mcp-git"):
        assert not networks[name] & networks["redis"], name
        assert networks[name] <= networks["traefik"] | {n for n in networks[name] if n.endswith("egress")}
    assert networks["redis"] <= networks["authd"]


async def test_rolling_update_and_scaling_while_a_client_calls(swarm, users):
    """`docker service update --force` of authd (start-first) and `docker service scale` of a
    replicated sidecar up and down while a client keeps calling a replicated server (stateless)
    and a single-replica one (legacy session). A failed call makes the client re-initialize; its
    next call must succeed."""
    done = threading.Event()
    errors: list[BaseException] = []

    def operate() -> None:
        try:
            swarm.docker("service", "update", "--force", "--detach=false", swarm.service("authd"))
            swarm.docker("service", "scale", "--detach=false", f"{swarm.service('mcp-time')}=3")
            swarm.docker("service", "scale", "--detach=false", f"{swarm.service('mcp-time')}=2")
        except BaseException as err:  # reported by the test below, after the client stops
            errors.append(err)
        finally:
            done.set()

    outcomes: list[str] = []
    operator = threading.Thread(target=operate)
    operator.start()
    while not done.is_set():
        try:  # a new session (re-initialize) after every failure
            async with connect(swarm.url("time"), users["dev"], MODERN) as modern, \
                    connect(swarm.url("sequential-thinking"), users["dev"]) as legacy:
                while not done.is_set():
                    for client, server in ((modern, "time"), (legacy, "sequential-thinking")):
                        tool, args, expected = CALLS[server]
                        assert expected in text(await client.call_tool(tool, args))
                        outcomes.append("ok")
        except Exception as err:  # noqa: BLE001 (any failure counts; the client re-initializes)
            outcomes.append(f"failed: {err!r}"[:300])
    operator.join()
    assert not errors, errors
    for server in ("time", "sequential-thinking"):  # the client's last re-initialization
        assert CALLS[server][2] in await call(swarm, users, server)
        outcomes.append("ok")
    failures = [o for o in outcomes if o != "ok"]
    print(f"swarm rolling update: {len(outcomes) - len(failures)} calls ok, {len(failures)} failed "
          f"and recovered: {failures}")
    assert outcomes.count("ok") >= 10, outcomes
    # Recovered: after every failure the re-initialized client's next call succeeded.
    for i, outcome in enumerate(outcomes):
        if outcome != "ok":
            assert outcomes[i + 1] == "ok", outcomes[i:i + 3]
    replicas = swarm.replicas()
    assert replicas["authd"] == "2/2" and replicas["mcp-time"] == "2/2", replicas
