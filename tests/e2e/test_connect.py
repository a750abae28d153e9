"""Logins for machines without a browser and for stdio-only clients, through the edge of the native
stack: the device authorization grant (RFC 8628) as a device and a user do it, and `sidecar connect`
driven by the official Python SDK's stdio client, logging in through the real pages."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from mcp import Client, types
from mcp.client.stdio import StdioServerParameters

import browser
from conftest import PAGE_MARKER, ROOT

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


# ------------------------------------------------------------------------------------------------
# `sidecar connect`: the official Python SDK's stdio client drives the bridge, which logs in
# through the real pages (the scripted browser above stands in for the system browser).
# ------------------------------------------------------------------------------------------------

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class Bridge:
    """One user's `sidecar connect` set-up: a config directory (token file) and a browser log."""

    stack: object
    bin_dir: Path
    home: Path
    login: str
    password: str

    @property
    def token_file(self) -> Path:
        return self.home / "mcp-gateway" / "connect.json"

    @property
    def logins(self) -> int:
        log = self.home / "browser.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def env(self) -> dict[str, str]:
        return {**os.environ, "XDG_CONFIG_HOME": str(self.home), "BROWSER": str(HERE / "connect_browser.py"),
                "E2E_BROWSER_LOG": str(self.home / "browser.log"), "E2E_LOGIN": self.login,
                "E2E_PASSWORD": self.password, "NO_PROXY": "127.0.0.1,localhost",
                "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}

    def command(self, server: str, *extra: str) -> list[str]:
        return [str(self.bin_dir / "sidecar"), "connect", self.stack.url(server), *extra]

    def client(self, server: str, mode: str = "legacy", **callbacks) -> Client:
        cmd = self.command(server)
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=self.env())
        return Client(params, mode=mode, **callbacks)

    def tokens(self) -> dict:
        return json.loads(self.token_file.read_text())["tokens"]


@pytest.fixture(scope="module")
def dev_bridge(stack, users, bin_dir, tmp_path_factory) -> Bridge:
    """The dev user's bridge set-up, shared by the tests of this module (one registration)."""
    return Bridge(stack, bin_dir, tmp_path_factory.mktemp("connect-dev"), "dev", users["dev"].password)


def text(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


CALLS = {
    "time": ("get_current_time", {"timezone": "UTC"}, "UTC"),
    "fetch": ("fetch", None, PAGE_MARKER),
    "filesystem": ("list_allowed_directories", {}, "/"),
    "memory": ("read_graph", {}, "entities"),
    "git": ("git_status", None, "branch"),
    "everything": ("echo", {"message": "through sidecar connect"}, "through sidecar connect"),
    "sequential-thinking": ("sequentialthinking", {"thought": "bridged", "thoughtNumber": 1, "totalThoughts": 1,
                                                   "nextThoughtNeeded": False}, "thoughtNumber"),
}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("server", sorted(CALLS))
async def test_a_tool_call_on_every_server_over_stdio(stack, dev_bridge, page_url, server, mode):
    tool, args, expected = CALLS[server]
    if server == "fetch":
        args = {"url": page_url}
    if server == "git":
        # The repository the git fragment serves (created by the launcher), as the server sees it.
        args = {"repo_path": stack.server_path("git", "repo")}
    async with dev_bridge.client(server, mode) as client:
        out = text(await client.call_tool(tool, args))
    assert expected in out, out
    # One registration for the issuer, one token per server (issuer and resource).
    data = json.loads(dev_bridge.token_file.read_text())
    assert len(data["clients"]) == 1
    assert any(t["resource"] == stack.url(server) for t in data["tokens"].values())
    assert oct(dev_bridge.token_file.stat().st_mode & 0o777) == "0o600"


async def test_sampling_and_elicitation_relayed_over_stdio(dev_bridge):
    seen: dict[str, object] = {}

    async def sampling(context, params: types.CreateMessageRequestParams):
        seen["sampling"] = params.messages[0].content
        return types.CreateMessageResult(role="assistant", model="e2e-model",
                                         content=types.TextContent(type="text", text="sampled-over-stdio"))

    async def elicitation(context, params: types.ElicitRequestParams):
        seen["elicitation"] = params.message
        return types.ElicitResult(action="accept", content={"name": "Stdio Tester"})

    async with dev_bridge.client("everything", sampling_callback=sampling,
                                 elicitation_callback=elicitation) as client:
        sampled = text(await client.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 20}))
        elicited = text(await client.call_tool("trigger-elicitation-request", {}))
    assert "sampled-over-stdio" in sampled and "Stdio Tester" in elicited
    assert set(seen) == {"sampling", "elicitation"}


async def test_a_second_run_reuses_registration_and_token(stack, bin_dir, users, tmp_path):
    bridge = Bridge(stack, bin_dir, tmp_path, "alice", users["alice"].password)
    for _ in range(2):
        async with bridge.client("time") as client:
            text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    assert bridge.logins == 1


async def test_an_expired_token_is_refreshed_with_rotation(stack, bin_dir, users, tmp_path):
    bridge = Bridge(stack, bin_dir, tmp_path, "alice", users["alice"].password)
    async with bridge.client("time") as client:
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    before = next(iter(bridge.tokens().values()))
    data = json.loads(bridge.token_file.read_text())
    for t in data["tokens"].values():
        t["expires_at"] = 1  # long expired
    bridge.token_file.write_text(json.dumps(data))
    async with bridge.client("time") as client:
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    after = next(iter(bridge.tokens().values()))
    assert after["refresh_token"] != before["refresh_token"]  # rotated (OAuth 2.1 section 4.3.1)
    assert after["access_token"] != before["access_token"]
    assert bridge.logins == 1  # refreshed, not logged in again


async def test_a_revoked_grant_means_a_new_login(stack, bin_dir, users, tmp_path):
    bridge = Bridge(stack, bin_dir, tmp_path, "bob", users["bob"].password)
    async with bridge.client("time") as client:
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
        # Everything bob holds is revoked: the next call gets a 401, the refresh is refused, and
        # the bridge logs in again without the client noticing.
        stack.admin("tokens", "revoke", "--user", "oidc:bob")
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    assert bridge.logins == 2


async def test_a_restarted_sidecar_is_invisible_to_the_client(stack, dev_bridge):
    async with dev_bridge.client("time") as client:
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
        stack.restart("mcp-time")
        # The gateway answers 404 for the old session; the bridge initializes again.
        text(await client.call_tool("get_current_time", {"timezone": "UTC"}))


def test_a_token_file_others_can_read_is_refused(stack, bin_dir, tmp_path):
    bridge = Bridge(stack, bin_dir, tmp_path, "dev", "unused")
    bridge.token_file.parent.mkdir(parents=True)
    bridge.token_file.write_text('{"clients": {}, "tokens": {}}')
    bridge.token_file.chmod(0o644)
    run = subprocess.run(bridge.command("time"), env=bridge.env(), input="", capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 77
    assert "permissions are 0644" in run.stderr and "chmod 600" in run.stderr
    assert run.stdout == ""


class _Document(http.server.BaseHTTPRequestHandler):
    """Serves one client ID metadata document at /client.json, naming its own URL."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = f"http://127.0.0.1:{self.server.server_address[1]}/client.json"
        body = json.dumps({"client_id": url, "client_name": "sidecar connect (document)",
                           "redirect_uris": ["http://127.0.0.1/callback"],
                           "grant_types": ["authorization_code", "refresh_token"],
                           "token_endpoint_auth_method": "none"}).encode()
        self.send_response(200 if self.path == "/client.json" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.edges("caddy")  # authd fetches the document from this machine's loopback
async def test_a_client_metadata_document_instead_of_a_registration(stack, bin_dir, users, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Document)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/client.json"
    try:
        bridge = Bridge(stack, bin_dir, tmp_path, "alice", users["alice"].password)
        cmd = bridge.command("time", "--client-metadata-url", url)
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=bridge.env())
        async with Client(params) as client:
            text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    finally:
        server.shutdown()
        server.server_close()
    data = json.loads(bridge.token_file.read_text())
    assert data["clients"] == {}  # nothing registered
    assert [t["client_id"] for t in data["tokens"].values()] == [url]
    assert bridge.logins == 1


async def test_device_login_with_sidecar_connect(stack, bin_dir, users, tmp_path):
    """`sidecar connect --device --print-token` (what `just login` runs): the code and URL on
    stderr, the user approves in a browser elsewhere, the token on stdout."""
    bridge = Bridge(stack, bin_dir, tmp_path, "alice", users["alice"].password)
    proc = await asyncio.create_subprocess_exec(
        *bridge.command("time", "--device", "--print-token"), env=bridge.env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    url = None
    while url is None:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, "sidecar connect ended before printing the device URL"
        if "or open " in line:
            url = line.split("or open ", 1)[1].strip()
    end = await browser.authorize(url, None, bridge.login, bridge.password)
    assert "Device connected" in end["page"], end
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0
    token = out.decode().strip()
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(stack.url("time"), json=init, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})
    assert resp.status_code == 200
    assert bridge.logins == 0  # no browser opened on this machine
    # `just login URL` for a script: the kept token, on stdout and nothing else, without a login.
    again = subprocess.run(["just", "login", stack.url("time")], cwd=ROOT, env=bridge.env(),
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and again.stdout.strip() == token, again.stderr
    # Once the grant is revoked, the kept token is refused: a new login is needed.
    stack.admin("tokens", "revoke", "--user", "oidc:alice")
    revoked = subprocess.run(bridge.command("time", "--print-token", "--no-browser", "--login-timeout-secs", "2"),
                             env=bridge.env(), capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 1 and "log in at" in revoked.stderr, revoked.stderr
