"""The edge route table (docs/architecture/overview.md#one-source-of-truth-for-routes), derived from
the fragments; rendered by both edges.

Priorities: 4 = OAuth endpoints, the well-known tree and the protected-resource metadata path of
every MCP resource (RFC 9728 section 3); 3 = authd support pages; 2 = MCP endpoints behind
forward-auth; 1 = catch-all (authd answers 404). Hosts are compose-interpolated templates
(`${BASE_DOMAIN}`); the Caddy renderer replaces them by the native origin.
"""

from __future__ import annotations

import dataclasses

from fragments import Server

# RFC 8414 / 7591 / 7592 / 7009 / 7662 / 7517 / 8628 endpoints and the callback (authd/CONTRACT.md).
OAUTH_PATHS = ("/register", "/register/*", "/authorize", "/token", "/callback", "/revoke",
               "/introspect", "/jwks", "/device_authorization", "/.well-known/*")
# authd pages that are not OAuth endpoints (authd/CONTRACT.md: the consent form post, the device
# verification page of RFC 8628 section 3.3).
SUPPORT_PATHS = ("/consent", "/device")
# Headers the edge copies from a 2xx forward-auth answer to the MCP request
# (docs/api/endpoints.md#verify-in-detail).
IDENTITY_HEADERS = ("X-User-Id", "X-User-Name", "X-Client-Id", "X-Scopes")
# ... and the request id: authd keeps the client's `X-Request-Id` when sane or mints one, so with it
# copied the sidecar logs the same id as authd and the edge (neither edge can mint one itself in
# every version we support; authd always can). One id per request across all three logs.
AUTH_RESPONSE_HEADERS = (*IDENTITY_HEADERS, "X-Request-Id")
# Client requirement E3 (docs/architecture/client-requirements.md) for the MCP routes (authd answers
# CORS itself on its routes, and the edge must not duplicate Access-Control-* there). `*` lets the
# Mcp-Param-<name> headers of 2026-07-28 through (one per annotated tool argument: no fixed list);
# for requests without credentials it covers every header but Authorization, which stays named
# (Fetch standard, "CORS protocol").
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Mcp-Session-Id, "
    "MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name, *",
    "Access-Control-Expose-Headers": "Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version",
    "Access-Control-Max-Age": "86400",
}
ROUTINGS = ("path", "host")
BASE = "${BASE_DOMAIN}"


@dataclasses.dataclass(frozen=True)
class Route:
    """One edge route: what it matches, where it goes, and which middlewares apply."""

    id: str
    priority: int
    host: str | None  # host template; None = any host
    paths: tuple[str, ...]  # exact paths, or prefixes written `/x/*`; () = every path
    target: str  # "authd" or the MCP service (`mcp-<name>`)
    forward_auth: bool = False
    strip_prefix: str | None = None


def mcp_path(server: Server, routing: str) -> str:
    """Path of the MCP endpoint at the edge (issue 4 contract: `/<name>/mcp` in path routing)."""
    return f"/{server.name}/mcp" if routing == "path" else "/mcp"


def routes(servers: list[Server], routing: str) -> list[Route]:
    """The whole table, highest priority first."""
    if routing not in ROUTINGS:
        raise ValueError(f"routing must be path or host, not {routing!r}")
    host_mode = routing == "host"
    auth_host = f"auth.{BASE}" if host_mode else BASE
    table = [Route("oauth", 4, auth_host, OAUTH_PATHS, "authd")]
    for s in servers:
        # RFC 9728 section 3.1: the metadata of resource https://h/p is at
        # https://h/.well-known/oauth-protected-resource/p.
        host = f"{s.service}.{BASE}" if host_mode else BASE
        prm = "/.well-known/oauth-protected-resource"
        paths = (prm, prm + mcp_path(s, routing))
        table.append(Route(f"{s.service}-prm", 4, host, paths if host_mode else paths[1:], "authd"))
    table.append(Route("auth-support", 3, auth_host, () if host_mode else SUPPORT_PATHS, "authd"))
    for s in servers:
        host = f"{s.service}.{BASE}" if host_mode else BASE
        strip = None if host_mode else f"/{s.name}"
        table.append(Route(s.service, 2, host, (mcp_path(s, routing),), s.service, True, strip))
    table.append(Route("catch-all", 1, None, (), "authd"))
    return table
