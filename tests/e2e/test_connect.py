"""Logins for machines without a browser and for stdio-only clients, through the edge of the native
stack: the device authorization grant (RFC 8628) as a device and a user do it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import browser

pytestmark = pytest.mark.anyio

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def register(http: httpx.AsyncClient, stack) -> str:
    resp = await http.post(f"{stack.authorization_server}/register", json={
        "client_name": "e2e device", "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
        "token_endpoint_auth_method": "none", "application_type": "native"})
    assert resp.status_code == 201, resp.text
    return resp.json()["client_id"]


async def device_codes(http: httpx.AsyncClient, stack, client_id: str, server: str = "time") -> dict:
    meta = (await http.get(f"{stack.authorization_server}/.well-known/oauth-authorization-server")).json()
    resp = await http.post(meta["device_authorization_endpoint"], data={
        "client_id": client_id, "resource": stack.url(server), "scope": "mcp"})
    assert resp.status_code == 200, resp.text
    codes = resp.json()
    assert codes["verification_uri"] == f"{stack.authorization_server}/device"
    return codes


async def poll(http: httpx.AsyncClient, stack, client_id: str, device_code: str) -> httpx.Response:
    return await http.post(f"{stack.authorization_server}/token", data={
        "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id})


async def answer(http: httpx.AsyncClient, stack, client_id: str, codes: dict) -> httpx.Response:
    """Polls at the given interval (5 s more after slow_down, RFC 8628 section 3.5) while pending."""
    interval = codes["interval"]
    for _ in range(120):
        await asyncio.sleep(interval)
        resp = await poll(http, stack, client_id, codes["device_code"])
        error = resp.json().get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            return resp
    raise AssertionError("the device was never answered")


async def test_device_login_through_the_edge(stack, users):
    async with httpx.AsyncClient(timeout=30) as http:
        client_id = await register(http, stack)
        codes = await device_codes(http, stack, client_id)
        # Two polls at once: one is the first (pending), the other too soon (slow_down).
        first, second = await asyncio.gather(*(poll(http, stack, client_id, codes["device_code"])
                                               for _ in range(2)))
        errors = sorted(r.json()["error"] for r in (first, second))
        assert errors == ["authorization_pending", "slow_down"]
        dev = users["dev"]
        end = await browser.authorize(codes["verification_uri_complete"], None, dev.login, dev.password)
        assert end["status"] == "200" and "Device connected" in end["page"], end
        resp = await answer(http, stack, client_id, codes)
        assert resp.status_code == 200, resp.text
        tokens = resp.json()
        assert resp.headers["cache-control"] == "no-store"
        # The token opens the server it names through the edge, and no other.
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}
        headers = {"Authorization": f"Bearer {tokens['access_token']}",
                   "Accept": "application/json, text/event-stream"}
        assert (await http.post(stack.url("time"), json=init, headers=headers)).status_code == 200
        assert (await http.post(stack.url("memory"), json=init, headers=headers)).status_code == 401
        # Replay of the used device code: refused, and what it issued is revoked.
        await asyncio.sleep(codes["interval"])
        replay = await poll(http, stack, client_id, codes["device_code"])
        assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
        assert (await http.post(stack.url("time"), json=init, headers=headers)).status_code == 401


async def test_device_login_denied(stack, users):
    async with httpx.AsyncClient(timeout=30) as http:
        client_id = await register(http, stack)
        codes = await device_codes(http, stack, client_id)
        alice = users["alice"]
        end = await browser.authorize(codes["verification_uri_complete"], None, alice.login,
                                      alice.password, approve=False)
        assert "Access denied" in end["page"], end
        resp = await answer(http, stack, client_id, codes)
        assert (resp.status_code, resp.json()["error"]) == (400, "access_denied")


async def test_device_code_expires(stack):
    async with httpx.AsyncClient(timeout=30) as http:
        client_id = await register(http, stack)
        codes = await device_codes(http, stack, client_id)
        assert codes["expires_in"] == 30
        resp = await answer(http, stack, client_id, codes)
        assert (resp.status_code, resp.json()["error"]) == (400, "expired_token")
        # The verification page refuses the dead user code.
        page = await http.post(f"{stack.authorization_server}/device", data={"user_code": codes["user_code"]})
        assert page.status_code == 400 and "not valid" in page.text
