"""Router priorities as clients meet them
(docs/architecture/overview.md#one-source-of-truth-for-routes), through every edge: the OAuth
endpoints are answered by authd with their protocol answers, and a path no route claims on any host
the gateway serves falls to the catch-all, authd, never to an MCP server or the edge's own 404."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_oauth_endpoints_answered_by_authd(stack, path):
    resp = httpx.post(stack.authorization_server + path, timeout=10,
                      data={"grant_type": "e2e-unknown", "token": "e2e", "client_id": "e2e-unknown"})
    assert resp.status_code in (400, 401), (path, resp.status_code, resp.text[:200])
    # RFC 6749 section 5.2 error codes: only the authorization server speaks them.
    assert resp.json()["error"] in {"invalid_request", "invalid_client", "unsupported_grant_type"}


def test_jwks_answered_by_authd(stack):
    keys = httpx.get(f"{stack.authorization_server}/jwks", timeout=10).json()["keys"]
    assert keys and all(k["kid"] for k in keys)


@pytest.mark.parametrize("server", ["time", "everything"])
def test_unrouted_paths_fall_to_authd(stack, server):
    # Beside the MCP endpoint, on the MCP server's own host in host routing.
    url = stack.url(server).removesuffix("/mcp") + "/not-a-route"
    resp = httpx.get(url, timeout=10)
    assert resp.status_code == 404
    assert resp.headers.get("x-request-id"), "answered by authd (every answer carries X-Request-Id)"
    assert "404 page not found" not in resp.text  # the edge's own 404
