"""Forward-auth as the sidecar sees it, read off the wire between the edge and the sidecar (wire.py),
through every edge: the identity headers authd decided reach the sidecar, identity headers a client
forged do not, and neither does the client's bearer token (docs/api/endpoints.md#verify-in-detail,
docs/architecture/overview.md#one-source-of-truth-for-routes); one request id in the logs of edge,
authd and sidecar. Also: a sidecar setting of the settings file takes effect behind every edge."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

import raw
from client import connect
from conftest import SSE_RETRY_MS
from wire import Capture

pytestmark = pytest.mark.anyio


async def token_for(stack, user, name: str) -> str:
    async with connect(stack.url(name), user) as client:
        await client.list_tools()
    return user.store(stack.url(name)).tokens.access_token


async def test_sidecar_gets_authd_identity_and_never_the_token(stack, users):
    marker = f"wire-{uuid.uuid4().hex}"
    forged = {"X-User-Id": "oidc:mallory", "X-User-Name": "mallory", "X-Client-Id": "mallory-client",
              "X-Scopes": "mallory-scope"}
    interface, port = stack.sidecar_wire("time")
    stack.fresh_wire("time")
    with Capture(interface, port) as wire:
        token = await token_for(stack, users["dev"], "time")
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
    # SIDECAR_SSE_RETRY_MS is 1700 in the suite's settings file (1000 by default): the priming event
    # of an SSE answer (protocol 2025-11-25 on) announces it, behind either edge.
    token = await token_for(stack, users["dev"], "time")
    headers = raw.headers(token) | {"Accept": "text/event-stream"}
    initialize = raw.INITIALIZE | {"params": raw.INITIALIZE["params"] | {"protocolVersion": "2025-11-25"}}
    resp = httpx.post(stack.url("time"), json=initialize, headers=headers, timeout=60)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert f"\nretry: {SSE_RETRY_MS}\n" in resp.text


def logged_everywhere(stack, request_id: str, components: tuple[str, ...], timeout: float = 30.0) -> list[str]:
    """The components whose log does not show `request_id` within `timeout` (logs are written as the
    request completes; the compose ones are read through `docker compose logs`)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [c for c in components if request_id not in stack.log_text(c)]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)  # poll interval between reads of the logs, bounded by the deadline


async def test_one_request_id_in_the_edge_authd_and_sidecar_logs(stack, users):
    # The suite's LOG_LEVEL logs every request of authd and the sidecars (at debug). A client's id is
    # kept; without one, authd's is copied by forward-auth, so the sidecar answers with authd's id
    # (it would mint its own otherwise, and authd's log would not have it).
    token = await token_for(stack, users["dev"], "time")
    for sent in (f"e2e-{uuid.uuid4().hex}", None):
        headers = raw.headers(token) | ({"X-Request-Id": sent} if sent else {})
        resp = httpx.post(stack.url("time"), json=raw.INITIALIZE, headers=headers, timeout=60)
        assert resp.status_code == 200, resp.text[:300]
        request_id = resp.headers["x-request-id"]
        assert request_id == sent if sent else request_id
        assert logged_everywhere(stack, request_id, ("edge", "authd", "mcp-time")) == []
