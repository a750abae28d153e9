"""Confinement of an MCP server's container to what its fragment grants (the compose counterpart of
`confine.py`), rendered into its generated compose service by `traefik.py`.

Every MCP container runs as the image's unprivileged user on a read-only root filesystem with a
private /tmp, every capability dropped and no way to gain privileges (no-new-privileges: setuid
binaries do not elevate). It mounts its data volume at /data when the fragment grants one, plus the
fragment's volumes, and nothing else. It joins a network of its own that only Traefik shares (so no
MCP server reaches another's sidecar, whose identity headers come from the edge, nor authd or
Redis), and, when the fragment grants egress, a second network of its own with a route out.
"""

from __future__ import annotations

from fragments import DATA_TARGET, Server

# uid:gid the images run their servers as (images/Dockerfile: `USER 10001` in mcp-python, the
# node image's own `node` user, uid 1000, in mcp-node); never root.
RUNTIME_USERS = {"python": "10001:10001", "node": "1000:1000"}
HARDENING = {
    "read_only": True,
    "tmpfs": ["/tmp"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}


def data_volume(server: Server) -> str:
    return f"{server.service}-data"


def internal_network(server: Server) -> tuple[str, dict]:
    """The network the server shares with Traefik only (key, definition)."""
    # Scoped by the compose project (Traefik's label names it), so two stacks never share one.
    return f"{server.service}-internal", {"name": f"${{COMPOSE_PROJECT_NAME:-mcp-gateway}}-{server.name}",
                                          "internal": True}


def networks(server: Server) -> dict[str, dict]:
    """Every network the server's container joins, keyed as its service names them."""
    key, spec = internal_network(server)
    nets = {key: spec}
    if server.egress:
        nets[f"{server.service}-egress"] = {"name": f"${{COMPOSE_PROJECT_NAME:-mcp-gateway}}-{server.name}-egress"}
    return nets


def volumes(server: Server) -> list[str]:
    data = [f"{data_volume(server)}:{DATA_TARGET}"] if server.data else []
    return data + [v.compose() for v in server.volumes]


def confined(server: Server) -> dict:
    """The compose keys that confine one server's container."""
    svc = {"user": RUNTIME_USERS[server.runtime], **HARDENING, "networks": list(networks(server))}
    if volumes(server):
        svc["volumes"] = volumes(server)
    return svc


def repository_init(server: Server, image: dict) -> dict[str, dict]:
    """A one-shot service creating the server's repositories below /data before it starts (the git
    server refuses to start on a path that is not a repository; `git init` keeps an existing one).
    Same image and confinement, no network at all. `image`: the server's image and build keys."""
    repos = [r for r in server.repository_paths(DATA_TARGET) if r.startswith(f"{DATA_TARGET}/")]
    if not repos:
        return {}
    # One repository at most (fragments.MAX_REPOSITORIES), which is what `git init` takes.
    init = {**image, "entrypoint": ["git", "init", "--quiet"], "command": repos,
            "user": RUNTIME_USERS[server.runtime], **HARDENING, "network_mode": "none",
            "restart": "no", "volumes": [f"{data_volume(server)}:{DATA_TARGET}"]}
    return {f"{server.service}-init": init}
