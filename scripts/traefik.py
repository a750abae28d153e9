"""Traefik v3 rendering of the route table: compose service definitions with router labels.

Production edge (docs/architecture/overview.md#one-source-of-truth-for-routes): routers carry
priorities 4/3/2/1, MCP routers pass CORS (client requirement E3 of
docs/architecture/client-requirements.md), identity-header stripping and ForwardAuth to authd
`/verify`; host or path routing is chosen when rendering. The generated files land in
`compose/generated/` and are included by `docker-compose.yml`.

The shared middlewares live in a dynamic configuration file that Traefik's file provider loads
(`traefik-dynamic.yml`, referenced as `<name>@file`), not in authd's container labels: labels
vanish with their container, so while authd restarted every MCP router lost its forward-auth
middleware and answered 404. From the file they outlive any container, and the same file serves
compose, Docker Swarm (`swarm.py`) and, as Traefik CRDs, Kubernetes (`k8s.py`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

import container
from envfile import read_env
from fragments import DATA_TARGET, ROOT, Server, authd_env
from routes import AUTH_RESPONSE_HEADERS, CORS, IDENTITY_HEADERS, Route, routes

SIDECAR_PORT = 3000
# Middlewares applied to every MCP router, in this order: CORS headers (client requirement E3), client-sent
# identity headers dropped before authd's are copied, forward-auth, then the client's token dropped.
MCP_MIDDLEWARES = ("mcp-cors@file", "strip-identity@file", "mcp-auth@file", "strip-authorization@file")
# Where forward-auth reaches authd: the service name, which Docker's DNS resolves on the edge
# network (to every healthy task under Swarm).
VERIFY_URL = "http://authd:8000/verify"
DYNAMIC_FILE = "traefik-dynamic.yml"
# Traefik joins every MCP server's own network through this generated service, which its
# definition in compose/core.yml extends (the list changes with the fragments).
EDGE_NETWORKS = "edge-networks"
# Sidecar settings the generator fixes per service (the edge routes to port 3000 and path /mcp,
# the Host and Origin checks follow the routing); every other SIDECAR_* setting of .env.example is
# passed through from .env (a `null` value: compose takes it from .env, or leaves it unset).
EDGE_OWNED_SETTINGS = ("SIDECAR_LISTEN", "SIDECAR_MCP_PATH", "SIDECAR_SESSION_MODE",
                       "SIDECAR_ALLOWED_HOSTS", "SIDECAR_ALLOWED_ORIGINS", "SIDECAR_HEALTHCHECK_URL")


def passed_through_settings(example: Path = ROOT / ".env.example") -> list[str]:
    """SIDECAR_* settings documented in .env.example that each sidecar container takes from .env."""
    return [k for k in read_env(example) if k.startswith("SIDECAR_") and k not in EDGE_OWNED_SETTINGS]


def traefik_rule(route: Route) -> str:
    parts = []
    if route.host:
        parts.append(f"Host(`{route.host}`)")
    alts = [
        f"PathPrefix(`{p[:-1]}`)" if p.endswith("/*") else f"Path(`{p}`)" for p in route.paths
    ]
    if alts:
        parts.append(alts[0] if len(alts) == 1 else "(" + " || ".join(alts) + ")")
    return " && ".join(parts) if parts else "PathPrefix(`/`)"


def traefik_labels(route: Route) -> dict[str, str]:
    """Labels of one router (on the service that owns it); the shared middlewares are in the
    dynamic file (`dynamic_config`), the prefix strip of path routing on the router's own service."""
    r = f"traefik.http.routers.{route.id}"
    labels = {
        f"{r}.rule": traefik_rule(route),
        f"{r}.priority": str(route.priority),
        f"{r}.entrypoints": "websecure",
        f"{r}.tls.certresolver": "letsencrypt",
        f"{r}.service": route.target,
    }
    middlewares = list(MCP_MIDDLEWARES) if route.forward_auth else []
    if route.strip_prefix:
        m = f"{route.id}-strip"
        labels[f"traefik.http.middlewares.{m}.stripprefix.prefixes"] = route.strip_prefix
        middlewares.append(m)
    if middlewares:
        labels[f"{r}.middlewares"] = ",".join(middlewares)
    return labels


def middlewares(verify_url: str = VERIFY_URL) -> dict[str, dict]:
    """The middlewares every MCP router uses (MCP_MIDDLEWARES), in Traefik's dynamic-configuration
    schema: the file provider loads them as they are, and k8s.py wraps each in a `Middleware`."""
    cors = {k: [v.strip() for v in value.split(",")] for k, value in CORS.items()}
    return {
        "mcp-cors": {"headers": {
            "accessControlAllowOriginList": cors["Access-Control-Allow-Origin"],
            "accessControlAllowMethods": cors["Access-Control-Allow-Methods"],
            "accessControlAllowHeaders": cors["Access-Control-Allow-Headers"],
            "accessControlExposeHeaders": cors["Access-Control-Expose-Headers"],
            "accessControlMaxAge": int(CORS["Access-Control-Max-Age"]),
        }},
        # Identity headers a client sends itself are removed before forward-auth sets them.
        "strip-identity": {"headers": {"customRequestHeaders": {h: "" for h in IDENTITY_HEADERS}}},
        # ForwardAuth (docs/api/endpoints.md#verify-in-detail): authd /verify decides; its 401
        # (with WWW-Authenticate) goes back to the client unchanged; on 2xx these headers (and the
        # request id) are copied to the MCP request.
        "mcp-auth": {"forwardAuth": {"address": verify_url, "authResponseHeaders": list(AUTH_RESPONSE_HEADERS)}},
        # After forward-auth the client's bearer token has served its purpose: it never reaches a
        # sidecar (a token passed on could be replayed by anything behind the edge).
        "strip-authorization": {"headers": {"customRequestHeaders": {"Authorization": ""}}},
    }


def dynamic_config() -> dict:
    """Traefik's dynamic configuration file (file provider): the shared MCP middlewares."""
    return {"http": {"middlewares": middlewares()}}


# Traefik reaches sidecars over HTTP/2 without TLS (prior knowledge). Over HTTP/1 its proxy can close
# a streaming answer's connection right after the head: its server discards the client's request
# body once an answer starts, while its transport still reads that body's end (golang/go#40747,
# traefik/traefik#10381); an SSE stream then ends before its events. Over HTTP/2 the transport has
# read the body's end before the request is complete, so no answer can start first.
SIDECAR_SCHEME = "h2c"


def preflight_labels(route: Route) -> dict[str, str]:
    """A CORS preflight router in front of an MCP router, to authd, which answers every `OPTIONS`
    with 204 and the CORS headers of client requirement E3 (Traefik's CORS middleware answers a
    preflight itself, but with 200). Priority 3: above the MCP router, below the OAuth paths."""
    r = f"traefik.http.routers.{route.id}-preflight"
    return {
        f"{r}.rule": f"{traefik_rule(route)} && Method(`OPTIONS`)",
        f"{r}.priority": "3",
        f"{r}.entrypoints": "websecure",
        f"{r}.tls.certresolver": "letsencrypt",
        f"{r}.service": "authd",
    }


def compose_services(server: Server, own_routes: list[Route], routing: str) -> dict[str, dict]:
    """The compose services of one MCP server: its own (image, sidecar command, labels,
    healthcheck, confinement) and the one-shot that creates its repositories, if any."""
    network = container.internal_network(server)[1]["name"]
    labels = {"traefik.enable": "true", "traefik.docker.network": network}
    labels[f"traefik.http.services.{server.service}.loadbalancer.server.port"] = str(SIDECAR_PORT)
    labels[f"traefik.http.services.{server.service}.loadbalancer.server.scheme"] = SIDECAR_SCHEME
    for route in own_routes:
        labels.update(traefik_labels(route))
    host = f"{server.service}.${{BASE_DOMAIN}}" if routing == "host" else "${BASE_DOMAIN}"
    env = {
        "SIDECAR_LISTEN": f"0.0.0.0:{SIDECAR_PORT}",
        "SIDECAR_SESSION_MODE": server.session_mode,
        "SIDECAR_ALLOWED_HOSTS": host,
        # Any origin, as the CORS policy says (client requirement E3): bearer tokens are no ambient
        # credential, and the Host check stops DNS rebinding.
        "SIDECAR_ALLOWED_ORIGINS": "*",
        "LOG_LEVEL": "${LOG_LEVEL:-info}",
        "LOG_FORMAT": "json",
    }
    env.update({k: None for k in passed_through_settings()})
    env.update(server.environment(DATA_TARGET))
    svc = {
        **image(server),
        "command": ["serve", "--listen", f"0.0.0.0:{SIDECAR_PORT}", "--", *server.argv(DATA_TARGET)],
        "environment": env,
        "labels": labels,
        "restart": "unless-stopped",
        **container.confined(server),
        "healthcheck": {
            "test": ["CMD", "sidecar", "healthcheck", "--url", f"http://127.0.0.1:{SIDECAR_PORT}/health"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            # Generous: under load a server may take long to answer its first probe (the check
            # passes as soon as it does, so this costs nothing when it is quick).
            "start_period": "120s",
        },
    }
    init = container.repository_init(server, image(server))
    if init:
        svc["depends_on"] = {name: {"condition": "service_completed_successfully"} for name in init}
    return {server.service: svc, **init}


def image(server: Server) -> dict:
    return {
        "image": f"mcp-gateway/{server.service}:{server.version}",
        "build": {
            "context": "../..",
            "dockerfile": "images/Dockerfile",
            "target": f"mcp-{server.runtime}",
            "args": {"MCP_PACKAGE": server.package, "MCP_VERSION": server.version},
        },
    }


def render_compose(servers: list[Server], routing: str) -> dict[str, dict]:
    """Generated compose files: `mcp-servers.yml` (services + routers) and `authd-routes.yml`."""
    table = routes(servers, routing)
    services: dict[str, dict] = {}
    for s in servers:
        services.update(compose_services(s, [r for r in table if r.target == s.service], routing))
    # Routes that end at authd carry their labels on a small label-only companion file that
    # core.yml's authd service extends (compose `extends` keeps labels in one generated place).
    authd_labels = {}
    for route in table:
        if route.target == "authd":
            authd_labels.update(traefik_labels(route))
        elif route.forward_auth:
            authd_labels.update(preflight_labels(route))
    volumes = {container.data_volume(s): {} for s in servers if s.data}
    networks = {k: v for s in servers for k, v in container.networks(s).items()}
    mcp = {"services": services, "networks": networks}
    if volumes:
        mcp["volumes"] = volumes
    # compose `include` accepts a network defined in two files only when both are identical.
    internal = dict(container.internal_network(s) for s in servers)
    return {
        "mcp-servers.yml": mcp,
        "authd-routes.yml": {"services": {"authd-routes": {"labels": authd_labels}}},
        "edge-networks.yml": {"services": {EDGE_NETWORKS: {"networks": list(internal)}},
                              "networks": internal},
    }


def coverage_overlay(servers: list[Server]) -> dict:
    """The sidecars' part of docker-compose.coverage.yml (one entry per fragment)."""
    cov = {"environment": {"LLVM_PROFILE_FILE": "/profiles/%h-%4m.profraw"},
           "volumes": ["${GATEWAY_COVERAGE_DIR}:/profiles"]}
    return {"services": {s.service: cov for s in servers}}


def write_compose(servers: list[Server], routing: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    header = "# Generated by scripts/gateway.py from compose/mcp-*.yml: do not edit.\n"
    written = []
    for name, doc in render_compose(servers, routing).items():
        path = out / name
        path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200))
        written.append(path)
    dynamic = out / DYNAMIC_FILE
    dynamic.write_text(header + yaml.safe_dump(dynamic_config(), sort_keys=False, width=200))
    written.append(dynamic)
    env_path = out / "authd.env"
    env_path.write_text(header + "".join(f"{k}={v}\n" for k, v in authd_env(servers).items()))
    return written + [env_path]
