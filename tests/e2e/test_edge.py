"""The edge as clients see it (client requirements E1-E4, M1, M2, P1, P2 of
docs/architecture/client-requirements.md): every MCP route challenges with `resource_metadata`, the
metadata of every resource is served, CORS preflight needs no token, nothing on the OAuth paths
redirects, and a token for one server is refused by another."""

from __future__ import annotations

import httpx
import pytest

import raw
from client import connect

SERVERS = ["fetch", "filesystem", "memory", "time", "git", "everything", "sequential-thinking"]


@pytest.mark.parametrize("name", SERVERS)
def test_protected_resource_metadata_of_every_server(stack, name):
    resp = httpx.get(stack.prm_url(name), timeout=10)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["resource"] == stack.url(name)  # P2: byte-equal to the URL the user pastes
    assert doc["authorization_servers"] == [stack.authorization_server]
    assert doc["bearer_methods_supported"] == ["header"]
    assert "mcp" in doc["scopes_supported"]


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_every_mcp_route_challenges_with_resource_metadata(stack, name, method):
    resp = httpx.request(method, stack.url(name), headers=raw.headers(),
                         content=b"{}" if method == "POST" else None, timeout=10)
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{stack.prm_url(name)}"' in challenge
    assert "error=" not in challenge  # no token sent: no error code (RFC 6750 section 3.1)


def test_bad_token_is_invalid_token(stack):
    resp = raw.post(stack.url("time"), raw.INITIALIZE, token="not-a-jwt")
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


@pytest.mark.parametrize("name", SERVERS)
def test_cors_preflight_without_token(stack, name):
    resp = httpx.options(stack.url(name), headers={
        "Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id"}, timeout=10)
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"mcp-session-id", "www-authenticate", "mcp-protocol-version"} <= exposed
    assert len(resp.headers.get_list("access-control-allow-origin")) == 1


def test_challenge_carries_cors_headers(stack):
    resp = raw.post(stack.url("time"), raw.INITIALIZE)
    assert resp.status_code == 401
    assert resp.headers.get_list("access-control-allow-origin") == ["*"]
    assert "www-authenticate" in resp.headers["access-control-expose-headers"].lower()


def protocol_url(stack, which: str) -> str:
    """The URL of a protocol path as clients call it, in either routing."""
    if which == "mcp":
        return stack.url("time")
    if which == "mcp/":
        return stack.url("time") + "/"
    if which == "prm":
        return stack.prm_url("time")
    return stack.authorization_server + which


@pytest.mark.parametrize("which", ["mcp", "mcp/", "/.well-known/oauth-authorization-server", "prm",
                                   "/authorize", "/token", "/register"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_redirects_on_protocol_paths(stack, which, method):
    url = protocol_url(stack, which)
    resp = httpx.request(method, url, timeout=10, follow_redirects=False)
    assert not resp.is_redirect, (url, resp.status_code, resp.headers.get("location"))


def test_authorization_server_metadata_at_the_issuer(stack):
    issuer = stack.authorization_server
    doc = httpx.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"] == f"{issuer}/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.anyio
async def test_token_for_one_server_refused_by_another(stack, users):
    async with connect(stack.url("time"), users["alice"]) as client:
        await client.list_tools()
    token = users["alice"].store(stack.url("time")).tokens.access_token
    assert raw.post(stack.url("time"), raw.INITIALIZE, token).status_code == 200
    resp = raw.post(stack.url("fetch"), raw.INITIALIZE, token)
    assert resp.status_code == 401  # M2: audience is /time/mcp, not /fetch/mcp
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


@pytest.mark.anyio
async def test_oversize_body_gets_the_sidecars_413_through_the_edge(stack, users):
    # 5 MiB against the sidecar's 4 MiB default: its 413 and JSON-RPC error reach the client, never
    # the edge's 502 for a connection closed while it was still sending the body.
    async with connect(stack.url("time"), users["alice"]) as client:
        await client.list_tools()
    token = users["alice"].store(stack.url("time")).tokens.access_token
    session = raw.initialize(stack.url("time"), token)
    body = raw.INITIALIZE | {"method": "tools/list", "params": {"padding": "x" * (5 << 20)}}
    resp = raw.post(stack.url("time"), body, token, session)
    assert resp.status_code == 413, resp.text[:300]
    assert resp.json()["error"]["code"] == -32600
    assert raw.tools_list(stack.url("time"), token, session).status_code == 200


def test_identity_headers_from_the_client_are_not_trusted(stack):
    # Without a token a forged X-User-Id must not get through forward-auth.
    h = raw.headers() | {"X-User-Id": "oidc:dev", "X-Scopes": "mcp"}
    resp = httpx.post(stack.url("time"), json=raw.INITIALIZE, headers=h, timeout=10)
    assert resp.status_code == 401


@pytest.mark.anyio
async def test_per_service_allow_list(stack, users):
    # bob is a valid user but not on ALLOWED_USERS_EVERYTHING.
    with pytest.raises(Exception):
        async with connect(stack.url("everything"), users["bob"]) as client:
            await client.list_tools()
    async with connect(stack.url("time"), users["bob"]) as client:
        assert (await client.list_tools()).tools


@pytest.mark.anyio
async def test_browser_origin_with_token_is_served(stack, users):
    # The MCP Inspector's web UI calls from its own origin (client requirement E3).
    async with connect(stack.url("time"), users["dev"]) as client:
        await client.list_tools()
    token = users["dev"].store(stack.url("time")).tokens
    h = raw.headers(token.access_token) | {"Origin": "http://localhost:6274"}
    resp = httpx.post(stack.url("time"), json=raw.INITIALIZE, headers=h, timeout=30)
    assert resp.status_code == 200
    assert resp.headers.get_list("access-control-allow-origin") == ["*"]
    assert resp.headers["mcp-session-id"]


@pytest.mark.anyio
async def test_client_in_auto_mode_negotiates_through_the_edge(stack, users):
    # Client requirement M3: the SDK's default mode probes `server/discover` first and falls back to
    # the initialize handshake where the server answers -32601; either way the tools are reachable.
    async with connect(stack.url("time"), users["dev"], mode="auto") as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "convert_time" in names
