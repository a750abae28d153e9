"""End-to-end fixtures: the native stack started by the same launcher `just run` uses, on its own
PUBLIC_URL port, env file and data directory (so a running `just run` is not disturbed), plus a
loopback web page for the fetch server and three users of the development login.

Binaries: built with cargo unless `E2E_BIN_DIR` names a directory with `authd` and `sidecar` (the
coverage run points it at instrumented builds). Logs: `logs/e2e/<service>/`.
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
from envfile import create_env  # noqa: E402
from fragments import Server, load_servers  # noqa: E402
from run import build  # noqa: E402
from stack import Stack  # noqa: E402

PAGE_MARKER = "gateway-e2e-page-7f3a"
USERS = {"dev": "dev-password-e2e", "alice": "alice-password-e2e", "bob": "bob-password-e2e"}
# bob may use every server except `everything` (per-service allow list, DESIGN 4.2).
EVERYTHING_USERS = "dev,alice"
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
def stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("stack")
    bin_dir = Path(os.environ["E2E_BIN_DIR"]) if os.environ.get("E2E_BIN_DIR") else build(False)
    # Port 0: the stack chooses the public port (and another if Caddy finds it taken).
    public_url = "http://127.0.0.1:0"
    env_file = root / ".env"
    create_env(ROOT / ".env.example", env_file, bin_dir / "authd", {
        "PUBLIC_URL": public_url,
        "DEV_LOGIN_USER": "dev",
        "DEV_LOGIN_PASSWORD": USERS["dev"],
        "ALLOWED_USERS": ",".join(USERS),
        "ALLOWED_USERS_EVERYTHING": EVERYTHING_USERS,
        "REGISTER_RATE_LIMIT": "100000",
        "SIDECAR_PROBE_INTERVAL_SECS": "2",
        # Device logins (test_connect.py): quick polls, and codes that expire within a test.
        "DEVICE_POLL_INTERVAL_SECS": "1",
        "DEVICE_CODE_TTL_SECS": "30",
        # `sidecar connect --client-metadata-url` with a document served on loopback (test_connect.py).
        "CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY": "true",
        # `E2E_MCP_SANDBOX=off` shows what the confinement tests catch without the sandbox.
        "MCP_SANDBOX": os.environ.get("E2E_MCP_SANDBOX", "bubblewrap"),
    })
    extra = {"OIDC_USERS": ",".join(f"{u}:{p}" for u, p in USERS.items() if u != "dev")}
    s = Stack(env_file, public_url, root / "data", ROOT / "logs" / "e2e", bin_dir, extra_env=extra,
              servers=e2e_servers())
    s.start()
    try:
        yield s
    finally:
        s.stop()


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
def page_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    finally:
        server.shutdown()
        server.server_close()
