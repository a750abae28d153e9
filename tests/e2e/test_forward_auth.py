"""Forward-auth as the sidecar sees it, read off the wire between the edge and the sidecar (wire.py),
through every edge: the identity headers authd decided reach the sidecar, identity headers a client
forged do not, and neither does the client's bearer token (DESIGN 4.4, 5). Also: a sidecar setting
of the settings file takes effect behind every edge."""

from __future__ import annotations

import uuid

import httpx
import pytest

import raw
from client import connect
from wire import Capture

pytestmark = pytest.mark.anyio


async def token_for(stack, user, name: str) -> str:
    async with connect(stack.url(name), user) as client:
        await client.list_tools()
    return user.store(stack.url(name)).tokens.access_token


async def test_sidecar_gets_authd_identity_and_never_the_token(stack, users):
    token = await token_for(stack, users["dev"], "time")
    marker = f"wire-{uuid.uuid4().hex}"
    forged = {"X-User-Id": "oidc:mallory", "X-User-Name": "mallory", "X-Client-Id": "mallory-client",
              "X-Scopes": "mallory-scope"}
    interface, port = stack.sidecar_wire("time")
    with Capture(interface, port) as wire:
        resp = httpx.post(stack.url("time"), json=raw.INITIALIZE | {"id": marker},
                          headers=raw.headers(token) | forged, timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    seen = wire.text()
    assert marker in seen, "the request was not seen on the wire to the sidecar"
    request = seen.lower()
    assert "x-user-id: oidc:dev\r\n" in request
    assert "x-user-name: dev\r\n" in request
    assert "x-scopes: mcp" in request
    assert "mallory" not in request
    assert token not in seen
    assert "\r\nauthorization:" not in request


async def test_sidecar_setting_from_the_settings_file_takes_effect(stack, users):
    # SIDECAR_MAX_BODY_BYTES is 1 MiB in the suite's settings file (4 MiB by default): a 2 MiB
    # body is refused by the sidecar itself (413), behind either edge.
    token = await token_for(stack, users["dev"], "time")
    padding = "x" * (2 * 1024 * 1024)
    resp = httpx.post(stack.url("time"), json=raw.INITIALIZE | {"padding": padding},
                      headers=raw.headers(token), timeout=60)
    assert resp.status_code == 413, (resp.status_code, resp.text[:200])
    small = httpx.post(stack.url("time"), json=raw.INITIALIZE | {"padding": padding[:1024]},
                       headers=raw.headers(token), timeout=60)
    assert small.status_code == 200
