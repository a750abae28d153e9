"""Tokens and sessions over time: refresh, revocation and user removal effective on the next
request, sessions bound to their user, and authd, sidecar and Redis restarts survived."""

from __future__ import annotations

import httpx
import pytest

import raw
from client import connect

pytestmark = pytest.mark.anyio


async def login(stack, user, name="time") -> str:
    """Log `user` in for server `name` (once per session) and return the access token."""
    async with connect(stack.url(name), user) as client:
        await client.list_tools()
    return user.store(stack.url(name)).tokens.access_token


async def test_refresh_rotates_without_a_new_login(stack, users):
    user = users["alice"]
    old = await login(stack, user, "memory")
    store = user.store(stack.url("memory"))
    logins, old_refresh = store.logins, store.tokens.refresh_token
    async with connect(stack.url("memory"), user, expired=True) as client:
        await client.list_tools()
    assert store.logins == logins  # refreshed, not logged in again
    assert store.tokens.access_token != old
    assert store.tokens.refresh_token != old_refresh  # rotation


async def test_revocation_effective_on_next_request(stack, users):
    user = users["dev"]
    async with connect(stack.url("sequential-thinking"), user) as client:
        await client.list_tools()
    store = user.store(stack.url("sequential-thinking"))
    token = store.tokens.access_token
    assert raw.post(stack.url("sequential-thinking"), raw.INITIALIZE, token).status_code == 200
    resp = httpx.post(f"{stack.authorization_server}/revoke", timeout=10, data={
        "token": token, "token_type_hint": "access_token", "client_id": store.client_info.client_id})
    assert resp.status_code == 200
    resp = raw.post(stack.url("sequential-thinking"), raw.INITIALIZE, token)
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


async def test_user_removal_effective_on_next_request(stack, users):
    token = await login(stack, users["bob"], "git")
    session = raw.initialize(stack.url("git"), token)
    stack.admin("users", "disable", "oidc:bob")
    try:
        assert raw.tools_list(stack.url("git"), token, session).status_code == 401
    finally:
        stack.admin("users", "enable", "oidc:bob")
    assert raw.tools_list(stack.url("git"), token, session).status_code == 200


async def test_session_id_useless_to_another_user(stack, users):
    dev = await login(stack, users["dev"], "time")
    alice = await login(stack, users["alice"], "time")
    session = raw.initialize(stack.url("time"), dev)
    assert raw.tools_list(stack.url("time"), dev, session).status_code == 200
    assert raw.tools_list(stack.url("time"), alice, session).status_code == 404


async def test_authd_restart_survived(stack, users):
    token = await login(stack, users["dev"], "time")
    stack.restart("authd")
    session = raw.initialize(stack.url("time"), token)  # key and token record outlive the process
    assert raw.tools_list(stack.url("time"), token, session).status_code == 200
    async with connect(stack.url("time"), users["dev"]) as client:
        assert (await client.list_tools()).tools


async def test_sidecar_restart_survived_by_reinitializing(stack, users):
    token = await login(stack, users["dev"], "filesystem")
    session = raw.initialize(stack.url("filesystem"), token)
    stack.restart("mcp-filesystem")
    assert raw.tools_list(stack.url("filesystem"), token, session).status_code == 404  # M4
    async with connect(stack.url("filesystem"), users["dev"]) as client:
        assert (await client.list_tools()).tools


async def test_redis_restart_keeps_clients_and_tokens(stack, users):
    user = users["alice"]
    token = await login(stack, user, "time")
    store = user.store(stack.url("time"))
    logins = store.logins
    stack.restart("redis")
    # Until authd has reconnected, /verify answers 503 (never a pass), then the same token works.
    seen = raw.eventually(lambda: raw.post(stack.url("time"), raw.INITIALIZE, token), 200)
    assert set(seen) <= {200, 503}, seen
    async with connect(stack.url("time"), user, expired=True) as client:  # refresh after restart
        assert (await client.list_tools()).tools
    assert store.logins == logins
