"""The pages a person sees, clicked through in a real browser: Debian's Chromium driven by Playwright
through every edge (the development login, authd's consent page, the status page at `/`, the error
pages). The run through the native edge writes the screenshots the documentation shows
(docs/images/).

Chromium runs headless with the flags that keep it off the network (no background connections,
component updates or sync: this machine's network is closed and they would only fail), in a fresh
temporary profile Playwright creates for every launch. Playwright's own browser download is never
used: `executable_path` is Debian's browser. Through Traefik the pages are served over HTTPS with
certificates of the test ACME CA, which the browser trusts as a person's browser trusts a public CA:
the CA is in the NSS certificate store of a home directory of its own (Chromium on Linux reads
`~/.pki/nssdb`); certificate errors are never ignored.

The OAuth client is this test: it registers at `/register` like a real client, sends the browser to
`/authorize` with PKCE, and receives the redirect on a loopback page of its own.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import secrets
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import ROOT, USERS
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "docs" / "images"
VIEWPORT = {"width": 960, "height": 720}


class ClientPage:
    """The client's redirect URI: a loopback page that records every redirect it receives."""

    def __init__(self) -> None:
        hits: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urlsplit(self.path)
                if url.path == "/callback":  # not the browser's own /favicon.ico
                    hits.append({k: v[0] for k, v in parse_qs(url.query).items()})
                body = b"<!doctype html><title>Client</title><h1>Back at the client</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Authorization:
    """One registered client and one authorization request of it (PKCE S256, a fresh state)."""

    def __init__(self, stack, client: ClientPage, name: str = "Browser test client") -> None:
        self.issuer = stack.authorization_server
        resp = httpx.post(f"{self.issuer}/register", json={
            "client_name": name, "redirect_uris": [client.redirect_uri],
            "token_endpoint_auth_method": "none"}, timeout=30)
        assert resp.status_code == 201, resp.text
        self.stack, self.client_id = stack, resp.json()["client_id"]
        self.redirect_uri = client.redirect_uri
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=")
        self.state = secrets.token_urlsafe(16)
        self.resource = stack.url("time")
        self.params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "code_challenge": challenge.decode(), "code_challenge_method": "S256", "state": self.state,
            "resource": self.resource, "scope": "mcp offline_access"}
        self.url = self.url_with()

    def url_with(self, **changes: str) -> str:
        return str(httpx.URL(f"{self.issuer}/authorize", params=self.params | changes))

    def redeem(self, code: str) -> httpx.Response:
        return httpx.post(f"{self.issuer}/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier, "client_id": self.client_id, "resource": self.resource},
            timeout=30)


def trusting(home: Path, ca: Path) -> dict[str, str]:
    """The environment of a browser whose certificate store (in `home`) trusts the CA `ca`."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-n", "gateway test CA", "-t", "C,,",
                    "-i", str(ca)], check=True)
    return os.environ | {"HOME": str(home)}


@pytest.fixture(scope="module")
def browser(stack):
    # Through an HTTPS edge the test clients trust its CA by SSL_CERT_FILE (tests/e2e/conftest.py).
    ca = os.environ.get("SSL_CERT_FILE")
    if ca:
        # Requests made by Playwright itself (`page.request`) go out from its Node driver, which
        # reads extra CAs from this variable when it starts (below).
        os.environ["NODE_EXTRA_CA_CERTS"] = ca
    else:
        os.environ.pop("NODE_EXTRA_CA_CERTS", None)
    with tempfile.TemporaryDirectory() as home, sync_playwright() as p:
        env = trusting(Path(home), Path(ca)) if ca else None
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def client():
    c = ClientPage()
    try:
        yield c
    finally:
        c.close()


def shot(page: Page, name: str, full_page: bool = False) -> None:
    """The documentation's screenshot `name`, from the native edge's run (the one the docs describe)."""
    if urlsplit(page.url).scheme != "http":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 1000, name


def click(page: Page, label: str) -> None:
    """Press a button as a person would and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=label, exact=True).click()


def sign_in(page: Page, auth: Authorization, login: str, screenshot: bool = False) -> None:
    """From the authorization request through the development login to authd's consent page."""
    page.goto(auth.url)
    assert page.title() == "Sign in", page.content()
    if screenshot:
        shot(page, "login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(USERS[login])
    click(page, "Sign in")
    # The provider asks once whether authd may read the identity.
    assert page.title() == "Authorize", page.content()
    click(page, "Allow")
    assert page.title() == "Allow access?", page.content()


def test_login_and_consent_clicked_through_give_a_working_token(stack, page, client):
    auth = Authorization(stack, client, "Claude (browser test)")
    sign_in(page, auth, "alice", screenshot=True)
    body = page.locator("body").inner_text()
    for shown in ("alice", "Claude (browser test)", auth.resource, "mcp offline_access"):
        assert shown in body, shown
    shot(page, "consent")
    click(page, "Allow")
    assert page.url.startswith(auth.redirect_uri)
    assert len(client.hits) == 1
    answer = client.hits[0]
    assert answer["state"] == auth.state
    assert answer["iss"] == auth.issuer
    tokens = auth.redeem(answer["code"])
    assert tokens.status_code == 200, tokens.text
    # The token opens the MCP server it was issued for.
    mcp = httpx.post(auth.resource, headers={
        "Authorization": f"Bearer {tokens.json()['access_token']}",
        "Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "browser-test", "version": "1"}}}, timeout=60)
    assert mcp.status_code == 200, mcp.text
    assert mcp.headers.get("mcp-session-id")


def test_deny_returns_access_denied_to_the_client(stack, page, client):
    auth = Authorization(stack, client)
    sign_in(page, auth, "bob")
    click(page, "Deny")
    assert len(client.hits) == 1
    answer = client.hits[0]
    assert answer["error"] == "access_denied"
    assert answer["state"] == auth.state and answer["iss"] == auth.issuer
    assert "code" not in answer


def test_back_button_and_replayed_consent_issue_nothing_more(stack, page, client):
    auth = Authorization(stack, client)
    sign_in(page, auth, "dev")
    form = page.locator("form")
    action = form.get_attribute("action")
    csrf = form.locator("input[name=csrf]").get_attribute("value")
    click(page, "Allow")
    assert len(client.hits) == 1 and "code" in client.hits[0]
    # Back to the consent page: the browser asks for it again (it is never cached), and the login
    # it belonged to is used up.
    page.go_back()
    assert page.title() == "Authorization error", page.content()
    assert "expired or was already used" in page.locator("body").inner_text()
    shot(page, "error")
    # The form's own resubmission, as the browser would send it (its cookie included).
    replay = page.request.post(action, form={"csrf": csrf, "decision": "approve"}, max_redirects=0)
    assert replay.status == 400, replay.text()
    assert "expired or was already answered" in replay.text()
    assert len(client.hits) == 1, client.hits


def test_authorization_errors_are_pages_never_redirects(stack, page, client):
    auth = Authorization(stack, client)
    response = page.goto(auth.url_with(client_id="no-such-client"))
    assert response is not None and response.status == 400
    assert page.title() == "Authorization error"
    assert urlsplit(page.url).path == "/authorize"
    response = page.goto(auth.url_with(redirect_uri="https://evil.example/callback"))
    assert response is not None and response.status == 400
    assert page.title() == "Authorization error"
    assert urlsplit(page.url).netloc == urlsplit(stack.authorization_server).netloc
    assert not client.hits


def test_status_page_shows_servers_health_and_login(stack, page):
    response = page.goto(f"{stack.authorization_server}/")
    assert response is not None and response.status == 200
    assert page.title() == "MCP OAuth gateway"
    body = page.locator("body").inner_text()
    assert "Healthy" in body
    for server in stack.servers:
        assert stack.url(server.name) in body, server.name
    assert "OpenID Connect provider" in body and stack.issuer in body
    for user in USERS:
        assert f"{user}-password" not in body
    shot(page, "status", full_page=True)
    with page.expect_navigation():
        page.get_by_role("link", name="metadata").click()
    assert f'"issuer":"{stack.authorization_server}"' in page.content().replace(" ", "")

