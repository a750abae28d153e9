"""End-to-end fixtures: the suite runs through every edge (`stack` is parametrised, see edges.py):

- `caddy`: the native stack started by the same launcher `just run` uses, on its own PUBLIC_URL port,
  env file and data directory (so a running `just run` is not disturbed);
- `traefik-path`, `traefik-host`: the compose stack started by `just up-test` (Traefik, HTTPS with
  certificates from the Pebble test CA, which the clients here trust through SSL_CERT_FILE), in both
  routing modes, each on its own compose project, loopback address and domain.

Plus a web page for the fetch server and three users of the development login. Tests marked
`@pytest.mark.edges(...)` run only through the edges named (the others are deselected, not skipped).

Binaries: built with cargo unless `E2E_BIN_DIR` names a directory with `authd` and `sidecar` (the
coverage run points it at instrumented builds); the compose stacks' images carry the same binaries.
Logs: `logs/e2e/<service>/` (native), `docker compose logs` (compose).
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import User  # noqa: E402
from edges import ComposeEdge, NativeEdge  # noqa: E402
from envfile import create_env  # noqa: E402
from fragments import Server, load_servers  # noqa: E402
from run import build  # noqa: E402
from stack import Stack  # noqa: E402

PAGE_MARKER = "gateway-e2e-page-7f3a"
USERS = {"dev": "dev-password-e2e", "alice": "alice-password-e2e", "bob": "bob-password-e2e"}
# bob may use every server except `everything` (per-service allow list,
# docs/architecture/security.md#users-consent-and-allow-lists).
EVERYTHING_USERS = "dev,alice"
EDGES = ("caddy", "traefik-path", "traefik-host")
# Edges whose stack failed to start: their other tests fail at once instead of starting it again.
FAILED_EDGES: set[str] = set()
# Settings every stack of the suite shares. SIDECAR_SSE_RETRY_MS (1000 by default) shows that a
# sidecar setting of the settings file reaches the sidecars in both modes (test_forward_auth.py).
SSE_RETRY_MS = "1700"
COMMON_SETTINGS = {
    # Every request of authd and the sidecars logged, with its request id (test_forward_auth.py).
    "LOG_LEVEL": "info,authd=debug,sidecar=debug",
    "DEV_LOGIN_USER": "dev",
    "DEV_LOGIN_PASSWORD": USERS["dev"],
    "ALLOWED_USERS": ",".join(USERS),
    "ALLOWED_USERS_EVERYTHING": EVERYTHING_USERS,
    "REGISTER_RATE_LIMIT": "100000",
    "SIDECAR_PROBE_INTERVAL_SECS": "2",
    "SIDECAR_SSE_RETRY_MS": SSE_RETRY_MS,
    "OIDC_USERS": ",".join(f"{u}:{p}" for u, p in USERS.items() if u != "dev"),
    # Device logins (test_connect.py): quick polls, and codes that expire within a test.
    "DEVICE_POLL_INTERVAL_SECS": "1",
    "DEVICE_CODE_TTL_SECS": "30",
}


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "edges(*names): run only through these edges")


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect the edges a test does not apply to (`@pytest.mark.edges`)."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("edges")
        edge = item.callspec.params.get("stack") if hasattr(item, "callspec") else None
        (drop if marker and edge and edge not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    return Path(os.environ["E2E_BIN_DIR"]) if os.environ.get("E2E_BIN_DIR") else build(False)


OFFLINE_FETCH = "fetch-offline"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def e2e_servers() -> list[Server]:
    """The bundled servers, fetch with its private-address guard off: the test page is served on
    loopback, which it refuses by default (its SSRF guard). `fetch-offline` is that fetch without
    egress, so that only the confinement keeps it from the gateway's loopback ports."""
    servers = [dataclasses.replace(s, command=s.command + ("--allow-private-ips",)) if s.name == "fetch"
               else s for s in load_servers()]
    fetch = next(s for s in servers if s.name == "fetch")
    return servers + [dataclasses.replace(fetch, name=OFFLINE_FETCH, egress=False)]


@pytest.fixture(scope="session")
def native(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path):
    root = tmp_path_factory.mktemp("stack")
    # Port 0: the stack chooses the public port (and another if Caddy finds it taken).
    public_url = "http://127.0.0.1:0"
    env_file = root / ".env"
    create_env(ROOT / ".env.example", env_file, bin_dir / "authd", COMMON_SETTINGS | {
        "PUBLIC_URL": public_url,
        # `sidecar connect --client-metadata-url` with a document on this machine's loopback
        # (test_connect.py; native only: a container's loopback is its own).
        "CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY": "true",
        # `E2E_MCP_SANDBOX=off` shows what the confinement tests catch without the sandbox.
        "MCP_SANDBOX": os.environ.get("E2E_MCP_SANDBOX", "bubblewrap"),
    })
    s = Stack(env_file, public_url, root / "data", ROOT / "logs" / "e2e", bin_dir, servers=e2e_servers())
    s.start()
    try:
        yield NativeEdge(s, env_file)
    finally:
        s.stop()


@pytest.fixture(scope="session", params=EDGES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bin_dir: Path):
    """The stack under test, through each edge in turn (one compose stack at a time)."""
    if request.param == "caddy":
        yield request.getfixturevalue("native")
        return
    if request.param in FAILED_EDGES:
        pytest.fail(f"{request.param}: the stack did not start (see the first error)")
    routing = request.param.split("-", 1)[1]
    workdir = tmp_path_factory.mktemp(request.param)
    edge = ComposeEdge(workdir, routing, f"{os.getpid()}", COMMON_SETTINGS, bin_dir)
    edge.extra_compose(fetch_test_page(workdir))
    try:
        try:
            edge.start()
        except BaseException:
            FAILED_EDGES.add(request.param)
            raise
        # The clients of the suite (httpx, the MCP SDK) trust the test CA of this stack only.
        os.environ["SSL_CERT_FILE"] = str(edge.data_dir / "test-ca.pem")
        yield edge
    finally:
        os.environ.pop("SSL_CERT_FILE", None)
        edge.stop()


@pytest.fixture(scope="session")
def users() -> dict[str, User]:
    """One User per login; their token stores live for the whole session (a login is reused)."""
    return {name: User(name, pw) for name, pw in USERS.items()}


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path == "/robots.txt":
            body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
        else:
            body = f"<html><head><title>e2e</title></head><body><h1>{PAGE_MARKER}</h1></body></html>".encode()
            kind = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def loopback_page():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    finally:
        server.shutdown()
        server.server_close()


# The compose stacks' test page: a container beside the fetch server on its own egress network.
PAGE_SERVICE_URL = "http://page:8000/page.html"


def fetch_test_page(workdir: Path) -> dict:
    """Compose overrides of the test stacks: the page, and the fetch server allowed to fetch it
    (a private address, refused by its SSRF guard by default, as in the native stack)."""
    site = workdir / "page"
    site.mkdir()
    (site / "page.html").write_text(f"<html><head><title>e2e</title></head><body><h1>{PAGE_MARKER}</h1></body></html>")
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    fetch = next(s for s in load_servers() if s.name == "fetch")
    return {"services": {
        "mcp-fetch": {"command": ["serve", "--listen", "0.0.0.0:3000", "--", *fetch.argv("/data"),
                                  "--allow-private-ips"]},
        "page": {
            "image": "mcp-gateway-ci/python:bookworm",
            "command": ["python3", "-m", "http.server", "--directory", "/site", "8000"],
            "volumes": [f"{site}:/site:ro"],
            "networks": [f"{fetch.service}-egress"],
        },
    }}


@pytest.fixture(scope="session")
def page_url(stack, loopback_page) -> str:
    return loopback_page if stack.name == "caddy" else PAGE_SERVICE_URL
