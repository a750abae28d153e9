"""Loopback aliases of a loopback PUBLIC_URL (docs/guides/clients.md#the-url-of-a-server): with
PUBLIC_URL `http://127.0.0.1:PORT`, `http://localhost:PORT` (and `http://[::1]:PORT` where this host
has IPv6 loopback) is the same gateway, as the official Python SDK client sees it: the challenge,
the protected-resource metadata and the token audience all name the URL the client used (RFC 9728
sections 3.3 and 7.3, RFC 8707), the authorization server stays PUBLIC_URL's origin (RFC 8414
section 3.3), and a token for one origin's resource is refused on another's."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import httpx
import pytest
from mcp import types

import raw
from client import connect
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from caddy import ipv6_loopback  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.edges("caddy")]


def on(host: str, url: str) -> str:
    """`url` with its host replaced by `host` (same scheme and port)."""
    u = urlsplit(url)
    return u._replace(netloc=f"{host}:{u.port}").geturl()


def prm_of(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}/.well-known/oauth-protected-resource{u.path}"


def alias_hosts() -> list[str]:
    return ["localhost", *(["[::1]"] if ipv6_loopback() else [])]


def test_public_url_is_loopback(stack):
    # The premise of this file: the native suite's PUBLIC_URL is 127.0.0.1.
    assert urlsplit(stack.public_url).hostname == "127.0.0.1"


@pytest.mark.parametrize("host", ["localhost", "[::1]"])
def test_alias_challenge_and_metadata_name_the_alias(stack, host):
    if host not in alias_hosts():
        # No IPv6 loopback here: Caddy does not listen on ::1 (refused, not another site).
        with pytest.raises(httpx.ConnectError):
            httpx.get(prm_of(on(host, stack.url("time"))), timeout=10)
        return
    url = on(host, stack.url("time"))
    resp = raw.post(url, raw.INITIALIZE)
    assert resp.status_code == 401
    assert f'resource_metadata="{prm_of(url)}"' in resp.headers["www-authenticate"]
    doc = httpx.get(prm_of(url), timeout=10).json()
    # RFC 9728 section 3.3: identical to the resource the metadata was fetched for.
    assert doc["resource"] == url
    # The authorization server is PUBLIC_URL's origin on every alias, and its metadata names
    # that same issuer (RFC 8414 section 3.3).
    assert doc["authorization_servers"] == [stack.public_url]
    meta = httpx.get(f"{stack.public_url}/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["issuer"] == stack.public_url


async def test_sdk_client_works_through_localhost(stack, users):
    url = on("localhost", stack.url("time"))
    async with connect(url, users["alice"]) as client:
        out = await client.call_tool("convert_time", {
            "source_timezone": "Europe/Berlin", "time": "12:00", "target_timezone": "UTC"})
    assert not out.is_error, out
    assert any(isinstance(c, types.TextContent) and ("11:00" in c.text or "10:00" in c.text)
               for c in out.content), out
    store = users["alice"].store(url)
    assert store.logins == 1
    # The token's audience is the localhost resource: introspection says so.
    resp = httpx.post(f"{stack.public_url}/introspect", data={
        "token": store.tokens.access_token, "client_id": store.client_info.client_id}, timeout=10)
    assert resp.json()["aud"] == url
    # A refresh on the alias (the SDK sends the alias resource again, RFC 8707 section 2.2).
    async with connect(url, users["alice"], expired=True) as client:
        assert (await client.list_tools()).tools
    assert store.logins == 1


async def test_token_for_one_origin_is_refused_on_another(stack, users):
    """Audience binding per origin: the aliases are distinct resource URLs, so a token issued for
    one is not accepted at another (RFC 8707 section 2, MCP authorization "Token Audience
    Binding")."""
    canonical = stack.url("time")
    alias = on("localhost", canonical)
    for url in (canonical, alias):
        async with connect(url, users["bob"]) as client:
            assert (await client.list_tools()).tools
    tokens = {url: users["bob"].store(url).tokens.access_token for url in (canonical, alias)}
    for issued_for, used_at in ((alias, canonical), (canonical, alias)):
        resp = raw.post(used_at, raw.INITIALIZE, token=tokens[issued_for])
        assert resp.status_code == 401, (issued_for, used_at)
        challenge = resp.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge
        assert "another resource" in challenge
        # The challenge sends the client to the metadata of the resource it called.
        assert f'resource_metadata="{prm_of(used_at)}"' in challenge
        # Its own token still works where it was issued for.
        assert raw.post(used_at, raw.INITIALIZE, token=tokens[used_at]).status_code == 200
