"""The official Python MCP SDK client, wired with its OAuth client provider, as a real user runs it.

Discovery from the 401, dynamic client registration, PKCE, the login at the upstream provider (the
`browser` module posts its real login form), consent, token and refresh: all done by the SDK's
`OAuthClientProvider`; this module only supplies the redirect and callback handlers and a token
store that tests can inspect or tamper with.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

import browser

REDIRECT_URI = "http://127.0.0.1:33418/callback"


@dataclass
class Store:
    """TokenStorage kept in memory: one per (user, server) so tests reuse a login."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None
    logins: int = 0

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class User:
    login: str
    password: str
    stores: dict[str, Store] = field(default_factory=dict)

    def store(self, url: str) -> Store:
        return self.stores.setdefault(url, Store())


def oauth(url: str, user: User) -> OAuthClientProvider:
    store = user.store(url)
    result: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        result.clear()
        result.update(await browser.authorize(authorization_url, REDIRECT_URI, user.login, user.password))
        store.logins += 1

    async def callback_handler() -> AuthorizationCodeResult:
        if "code" not in result:
            raise AssertionError(f"authorization failed: {result}")
        return AuthorizationCodeResult(code=result["code"], state=result.get("state"), iss=result.get("iss"))

    metadata = OAuthClientMetadata(
        client_name=f"e2e {user.login}",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope="mcp offline_access",
    )
    return OAuthClientProvider(url, metadata, store, redirect_handler, callback_handler)


@contextlib.asynccontextmanager
async def connect(url: str, user: User, mode: str = "legacy", expired: bool = False, **callbacks):
    """An initialized MCP client session on `url` as `user` (logging in when needed).

    `expired` makes the provider treat its stored access token as expired, so its first request
    refreshes it with the refresh token (RFC 6749 section 6).
    """
    provider = oauth(url, user)
    if expired:
        provider.context.token_expiry_time = 1.0
    http = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(60, read=300))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, **callbacks) as client:
        yield client
