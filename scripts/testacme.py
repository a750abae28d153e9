"""The ACME test CA of `just up-test` (docker-compose.test.yml): Pebble's settings and the key of
its API endpoint, Traefik's network aliases for every public name (Pebble validates HTTP-01 by
resolving them with Docker's DNS), the wait until each name serves a certificate from it, and the
wait until Traefik routes to authd and to every MCP service."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import yaml

from fragments import Server

PEBBLE_DIRECTORY = "https://pebble:14000/dir"
CERT_TIMEOUT_SECS = 300.0

T = TypeVar("T")
R = TypeVar("R")


def acme_settings(data: Path) -> dict[str, str]:
    """The production resolver's settings pointed at Pebble (compose interpolation)."""
    return {"ACME_CA_SERVER": PEBBLE_DIRECTORY, "ACME_CA_ROOT": str(data / "test-acme" / "api.pem")}


def public_names(env: dict[str, str], servers: list[Server]) -> list[str]:
    """Every host name clients use: the issuer and MCP hosts of the routing, the login."""
    base = env["BASE_DOMAIN"]
    if env.get("ROUTING", "path") == "host":
        return [f"auth.{base}", *[f"{s.service}.{base}" for s in servers], f"login.{base}"]
    return [urlsplit(env["PUBLIC_URL"]).hostname or base, f"login.{base}"]


def pebble_files(directory: Path, names: list[str], listen: str, key_dir: str) -> None:
    """Pebble's config, and the key and self-signed certificate of its API (made once): Pebble
    serves ACME over TLS only, and the ACME client trusts this certificate (ACME_CA_ROOT)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "api.pem").exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                        "-keyout", str(directory / "api.key"), "-out", str(directory / "api.pem"),
                        "-subj", f"/CN={names[0]}", "-addext",
                        "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
                       check=True, capture_output=True, timeout=60)
    (directory / "pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"{listen}:14000",
        "managementListenAddress": f"{listen}:15000",
        "certificate": f"{key_dir}/api.pem",
        "privateKey": f"{key_dir}/api.key",
        # Validate on the ports the edge serves (Pebble's defaults are 5002/5001).
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}, indent=1))


def write_acme_files(data: Path, env: dict[str, str], servers: list[Server]) -> None:
    """Pebble's files for its container, and the compose file of Traefik's aliases."""
    pebble_files(data / "test-acme", ["pebble", "localhost"], "0.0.0.0", "/etc/pebble")
    aliases = {"services": {"traefik": {"networks": {"edge": {"aliases": public_names(env, servers)}}}}}
    (data / "test-names.yml").write_text("# Written by scripts/testacme.py for `just up-test`.\n"
                                         + yaml.safe_dump(aliases, sort_keys=False))


def serves_certificate(address: str, name: str, ca: Path, port: int = 443) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((address, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=name):
                return True
    except (OSError, ssl.SSLError):
        return False


def edge_address(env: dict[str, str]) -> str:
    """Where Traefik's published ports are reached from this host."""
    address = env.get("PUBLISH_ADDRESS") or "127.0.0.1"
    return "127.0.0.1" if address == "0.0.0.0" else address


def poll_each(items: Iterable[T], answer: Callable[[T], R], done: Callable[[T, R], bool]) -> dict[T, R]:
    """Ask `answer` of every item not done yet, once a second, until all are done or
    CERT_TIMEOUT_SECS passed; the items left, each with its last answer."""
    left = list(items)
    deadline = time.monotonic() + CERT_TIMEOUT_SECS
    while True:
        pending = {item: got for item in left if not done(item, got := answer(item))}
        left = list(pending)
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(1)  # poll interval between real TLS handshakes or requests, bounded by the deadline


def wait_for_certificates(env: dict[str, str], servers: list[Server], ca: Path, port: int = 443) -> None:
    """Until every public name serves a certificate that chains to the test CA on `port` (bounded)."""
    if not ca.exists():
        raise RuntimeError(f"no test CA root at {ca}")
    address = edge_address(env)
    pending = poll_each(public_names(env, servers), lambda name: serves_certificate(address, name, ca, port),
                        lambda _, served: served)
    if pending:
        raise RuntimeError(f"no certificate from the test CA for {', '.join(pending)} after "
                           f"{CERT_TIMEOUT_SECS:.0f} s (see `docker compose logs traefik pebble`)")


def edge_routes(env: dict[str, str], servers: list[Server]) -> list[tuple[str, str, str, int]]:
    """(host name, method, path, status) of a request per router: authd's metadata (200) and an
    MCP request without a token (forward-auth's 401). Traefik answers 404 for a router it has not
    made yet: its providers see a new container or task only after it is healthy (the swarm
    provider at its next poll)."""
    metadata = "/.well-known/oauth-authorization-server"
    if env.get("ROUTING", "path") == "host":
        base = env["BASE_DOMAIN"]
        return [(f"auth.{base}", "GET", metadata, 200),
                *[(f"{s.service}.{base}", "POST", "/mcp", 401) for s in servers]]
    host = urlsplit(env["PUBLIC_URL"]).hostname or env["BASE_DOMAIN"]
    return [(host, "GET", metadata, 200), *[(host, "POST", f"/{s.name}/mcp", 401) for s in servers]]


def status_of(address: str, port: int, name: str, method: str, path: str, ca: Path) -> int | None:
    """The status of one request to `name` over TLS (verified against the test CA) on
    `address:port`, or None without an answer."""
    context = ssl.create_default_context(cafile=str(ca))
    conn = http.client.HTTPConnection(name, port, timeout=5)
    try:
        conn.sock = context.wrap_socket(socket.create_connection((address, port), timeout=5), server_hostname=name)
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_routed(env: dict[str, str], servers: list[Server], ca: Path, port: int = 443) -> None:
    """Until every router of `edge_routes` answers as authd does through it (bounded)."""
    address = edge_address(env)
    pending = poll_each(edge_routes(env, servers), lambda r: status_of(address, port, *r[:3], ca),
                        lambda r, got: got == r[3])
    if pending:
        raise RuntimeError("Traefik does not route " + ", ".join(f"{m} https://{n}{p} (got {got}, want {want})"
                                                                 for (n, m, p, want), got in pending.items())
                           + f" after {CERT_TIMEOUT_SECS:.0f} s (see the traefik service's log)")
