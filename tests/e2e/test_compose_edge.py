"""What only the compose stack has to prove (docs/architecture/overview.md#networks-docker): the
MCP containers cannot reach Redis, no sidecar port is published on the host, and host routing
serves the protected-resource metadata at the root of every MCP host (RFC 9728 section 3; client
requirement P1 of docs/architecture/client-requirements.md)."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.edges("traefik-path", "traefik-host")

SERVERS = ["fetch", "filesystem", "memory", "time", "git", "everything", "sequential-thinking"]
# Opens a TCP connection from inside a container: exit 0 connected, 1 refused or unreachable.
PROBE = ("import socket, sys\n"
         "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
         "except OSError as err:\n    print(err)\n    sys.exit(1)\n")


def connects(stack, service: str, host: str, port: int) -> bool:
    return stack.exec(service, ["python3", "-c", PROBE, host, str(port)]).returncode == 0


def test_mcp_container_cannot_reach_redis(stack):
    # The probe works from there: Traefik shares the internal network with the MCP services.
    assert connects(stack, "mcp-time", "traefik", 80)
    addresses = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                        stack.container("redis")))
    targets = ["redis", *(n["IPAddress"] for n in addresses.values())]
    for service in ("mcp-time", "mcp-fetch", "mcp-git"):
        for target in targets:
            assert not connects(stack, service, target, 6379), (service, target)


def test_no_sidecar_port_published_on_the_host(stack):
    for name in SERVERS:
        ports = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                                        stack.container(f"mcp-{name}")))
        assert all(binding is None for binding in ports.values()), (name, ports)
    traefik = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                                      stack.container("traefik")))
    published = sorted((p, b["HostIp"], b["HostPort"]) for p, bs in traefik.items() if bs for b in bs)
    assert published == [("443/tcp", stack.address, "443"), ("80/tcp", stack.address, "80")]


@pytest.mark.edges("traefik-host")
@pytest.mark.parametrize("name", SERVERS)
def test_metadata_at_the_root_of_every_mcp_host(stack, name):
    resp = httpx.get(f"https://mcp-{name}.{stack.base}/.well-known/oauth-protected-resource", timeout=10)
    assert resp.status_code == 200
    assert resp.json()["resource"] == stack.url(name)


def test_http_redirects_to_https(stack):
    resp = httpx.get(stack.url("time").replace("https://", "http://"), timeout=10)
    assert resp.status_code in (301, 308)
    assert resp.headers["location"].startswith("https://")


@pytest.mark.edges("traefik-path")
def test_rebuild_replaces_one_container(stack):
    before = {s: stack.container(s) for s in ("mcp-time", "mcp-git", "authd")}
    stack.just("rebuild", "mcp-time")
    stack.wait_routed("mcp-time")
    after = {s: stack.container(s) for s in before}
    assert after["mcp-time"] != before["mcp-time"]
    assert after["mcp-git"] == before["mcp-git"] and after["authd"] == before["authd"]
