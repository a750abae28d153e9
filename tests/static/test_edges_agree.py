"""The two edges agree route for route: the Caddyfile of native mode (adapted to JSON by the real
`caddy adapt`) and the Traefik labels of production (path routing) carry the same matches, targets,
forward-auth and prefix stripping, in the same priority order; and `caddy validate` accepts it."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from caddy import render_caddyfile
from routes import AUTH_RESPONSE_HEADERS
from test_compose import all_labels, routers

AUTHD = "127.0.0.1:18000"


@pytest.fixture(scope="module")
def caddyfile(servers, tmp_path_factory):
    sidecars = {s.service: f"127.0.0.1:{19000 + i}" for i, s in enumerate(servers)}
    path = tmp_path_factory.mktemp("caddy") / "Caddyfile"
    path.write_text(render_caddyfile(servers, "http://127.0.0.1:18080", AUTHD, sidecars,
                                     str(path.parent)))
    return path, {v: k for k, v in sidecars.items()} | {AUTHD: "authd"}


def handlers(node):
    """Every handler in a Caddy JSON subtree, depth first, in execution order."""
    if isinstance(node, dict):
        if "handler" in node:
            yield node
        for key in ("handle", "routes"):
            for child in node.get(key, []):
                yield from handlers(child)
    elif isinstance(node, list):
        for child in node:
            yield from handlers(child)


def caddy_routes(path, upstreams):
    out = subprocess.run(["caddy", "adapt", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    server = json.loads(out)["apps"]["http"]["servers"]["srv0"]
    site = server["routes"][0]["handle"][0]["routes"][0]["handle"][0]["routes"]
    table = []
    for route in site:
        paths = tuple(route["match"][0]["path"]) if route.get("match") else ()
        hs = list(handlers(route["handle"]))
        proxies = [h for h in hs if h["handler"] == "reverse_proxy"]
        auth = [p for p in proxies if p.get("rewrite", {}).get("uri") == "/verify"]
        final = [p for p in proxies if p not in auth][-1]
        strip = [h["strip_path_prefix"] for h in hs if h.get("strip_path_prefix")]
        table.append({
            "paths": paths,
            "target": upstreams[final["upstreams"][0]["dial"]],
            "forward_auth": bool(auth),
            "strip": strip[0] if strip else None,
            "flush": final.get("flush_interval"),
            "copied": sorted(auth[0]["handle_response"][0]["routes"][0]["handle"][0]["request"]["set"])
            if auth else [],
        })
    return table


def traefik_paths(rule):
    paths = [f"{p}*" for p in re.findall(r"PathPrefix\(`([^`]+/)`\)", rule)]
    paths += re.findall(r"\bPath\(`([^`]+)`\)", rule)
    return paths


def test_caddy_validate_accepts_the_generated_caddyfile(caddyfile):
    path, _ = caddyfile
    run = subprocess.run(["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]


def test_routes_agree_route_for_route(servers, caddyfile):
    caddy = caddy_routes(*caddyfile)
    # Traefik's preflight routers stand for Caddy's in-route `respond @preflight 204` (test_compose).
    traefik = {n: r for n, r in routers(all_labels(servers, "path")).items() if not n.endswith("-preflight")}
    strips = {k.split(".")[3]: v for k, v in all_labels(servers, "path").items()
              if k.endswith(".stripprefix.prefixes")}
    assert len(caddy) == len(traefik)
    priorities = []
    for c in caddy:
        matches = [(n, r) for n, r in traefik.items() if sorted(traefik_paths(r["rule"])) == sorted(c["paths"])]
        assert len(matches) == 1, c["paths"]
        name, r = matches[0]
        priorities.append(int(r["priority"]))
        assert r["service"] == c["target"], name
        assert ("mcp-auth@file" in r.get("middlewares", "")) == c["forward_auth"], name
        assert strips.get(f"{name}-strip") == c["strip"], name
        if c["forward_auth"]:
            assert c["copied"] == sorted(AUTH_RESPONSE_HEADERS)
            assert c["flush"] == -1  # SSE never buffered
    # Caddy takes the first match in file order; Traefik the highest priority: same order.
    assert priorities == sorted(priorities, reverse=True)


def test_no_compression_and_no_redirects_in_caddy(caddyfile):
    path, _ = caddyfile
    text = path.read_text()
    assert "encode" not in text and "redir" not in text


def test_every_proxied_request_body_is_buffered(caddyfile):
    # A streamed request body races Go's HTTP/1 server in Caddy 2.6 (see BUFFER_REQUESTS in
    # scripts/caddy.py): a large answer then reaches the client truncated. Every proxy to a sidecar
    # buffers; authd's do not (open to anyone: an unbounded buffer there is a memory hazard).
    path, upstreams = caddyfile
    out = subprocess.run(["caddy", "adapt", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    proxies = [h for h in handlers(json.loads(out)["apps"]["http"]["servers"]["srv0"]["routes"])
               if h["handler"] == "reverse_proxy" and upstreams[h["upstreams"][0]["dial"]] != "authd"]
    assert {upstreams[p["upstreams"][0]["dial"]] for p in proxies} == set(upstreams.values()) - {"authd"}
    unbuffered = [p["upstreams"][0]["dial"] for p in proxies if not p.get("buffer_requests")]
    assert not unbuffered, f"request bodies streamed to sidecars {unbuffered}"
    # Caddy 2.6 leaves a body shorter than `max_buffer_size` open after buffering: the race stays.
    assert not [p for p in proxies if "max_buffer_size" in p]
    # The buffer is bounded (the sidecar's discard bound, 64 MiB) on every route that buffers.
    limits = [h for h in handlers(json.loads(out)["apps"]["http"]["servers"]["srv0"]["routes"])
              if h["handler"] == "request_body"]
    assert len(limits) == len(proxies) and all(h["max_size"] == 64 << 20 for h in limits), limits
