"""Replicas behind the native edge (issue 12, native proof): Redis, two authd and two sidecars per
MCP server (everything: isolated sessions; time: shared mode) behind Caddy, which takes the
replicas in turn (round robin) so that a session's requests keep landing on the replica that does
not hold it, and checks each on `/health`. Driven by the official Python SDK (and plain HTTP where
the test must see status codes and event ids):

- a session's calls all succeed while half of them arrive at the non-owner, which forwards them;
- `Last-Event-ID` replays a broken stream through the non-owner;
- 2026-07-28 (stateless) requests are served by both replicas, nothing forwarded;
- stopping one authd loses no request;
- `kill -9` of a session's owner: 404, and the client's new session lands on the survivor;
- the negative control: with SIDECAR_FORWARD_SESSIONS=false the same follow-up requests fail;
- the launcher's view of Caddy's rotation (its health-check log) follows a real Caddy.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from mcp.shared.exceptions import MCPError

import raw
from client import connect
from caddy import out_of_rotation, render_caddyfile
from conftest import COMMON_SETTINGS, ROOT, e2e_servers
from envfile import create_env
from listen import loopback_listener
from stack import Stack, wait_until
from test_lifecycle import login
from test_servers import text

pytestmark = pytest.mark.anyio

SERVERS = ("everything", "time")  # isolated and shared session mode
MODERN = "2026-07-28"


def replica_stack(tmp_path_factory, bin_dir, name: str, **settings: str) -> Stack:
    root = tmp_path_factory.mktemp(name)
    env_file = root / ".env"
    create_env(ROOT / ".env.example", env_file, bin_dir / "authd", COMMON_SETTINGS | {
        "PUBLIC_URL": "http://127.0.0.1:0",
        "MCP_SANDBOX": os.environ.get("E2E_MCP_SANDBOX", "bubblewrap"),
        "AUTHD_REPLICAS": "2",
        "MCP_REPLICAS": "2",
    } | settings)
    servers = [s for s in e2e_servers() if s.name in SERVERS]
    return Stack(env_file, "http://127.0.0.1:0", root / "data", ROOT / "logs" / f"e2e-{name}", bin_dir,
                 servers=servers)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, bin_dir):
    stack = replica_stack(tmp_path_factory, bin_dir, "replicas")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def unforwarded(tmp_path_factory, bin_dir):
    stack = replica_stack(tmp_path_factory, bin_dir, "unforwarded", SIDECAR_FORWARD_SESSIONS="false")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def owner_of(session_id: str) -> str:
    """`host:port` of the replica a sealed session id names (the middle part, base64url)."""
    middle = session_id.split(".")[1]
    url = base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)).decode()
    return url.removeprefix("http://")


def replica_names(stack: Stack, server: str) -> list[str]:
    return stack.sidecars[f"mcp-{server}"]


def by_address(stack: Stack, server: str, address: str) -> str:
    return next(n for n in replica_names(stack, server) if stack.address(n) == address)


def requests(stack: Stack, name: str, method: str) -> int:
    """Requests of `method` (a metrics label) the replica `name` answered, any status."""
    text_ = httpx.get(f"http://{stack.address(name)}/metrics", timeout=10).text
    pattern = re.compile(r'^sidecar_requests_total\{method="' + re.escape(method) + r'",[^}]*\} (\d+)$', re.M)
    return sum(int(n) for n in pattern.findall(text_))


def counts(stack: Stack, server: str, method: str) -> dict[str, int]:
    return {name: requests(stack, name, method) for name in replica_names(stack, server)}


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


@pytest.mark.parametrize("server", SERVERS)
async def test_a_sessions_calls_succeed_through_the_non_owner(replicas, users, server):
    assert replicas.replicas.authd == 2 and len(replica_names(replicas, server)) == 2
    before = counts(replicas, server, "forwarded")
    async with connect(replicas.url(server), users["dev"]) as client:
        for _ in range(6):
            if server == "time":
                result = await client.call_tool("get_current_time", {"timezone": "UTC"})
                assert "UTC" in text(result)
            else:
                result = await client.call_tool("echo", {"message": "round robin"})
                assert "round robin" in text(result)
    forwarded = grown(before, counts(replicas, server, "forwarded"))
    # Round robin: about half of the session's requests reached the replica without it.
    assert sum(forwarded.values()) >= 3, forwarded


def sse_events(resp: httpx.Response):
    """(id, data) of each event of an SSE response as it arrives."""
    event_id, data = None, []
    for line in resp.iter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "":
            if data or event_id:
                yield event_id, "\n".join(data)
            event_id, data = None, []


async def test_last_event_id_replays_through_the_non_owner(replicas, users):
    url = replicas.url("everything")
    token = await login(replicas, users["dev"], "everything")
    session = raw.initialize(url, token)
    owner = by_address(replicas, "everything", owner_of(session))
    other = next(n for n in replica_names(replicas, "everything") if n != owner)
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "trigger-long-running-operation", "arguments": {"duration": 2, "steps": 4},
                       "_meta": {"progressToken": "replay"}}}
    headers = raw.headers(token, session) | {"Accept": "text/event-stream"}
    with httpx.stream("POST", url, json=call, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200
        first = next((i, d) for i, d in sse_events(resp) if d and '"notifications/progress"' in d)
    # The connection broke after the first progress; resume until a resumption went through the
    # replica that does not hold the session (round robin: the next request or the one after).
    resumed_through_other = False
    for _ in range(4):
        before = requests(replicas, other, "forwarded")
        get = raw.headers(token, session) | {"Accept": "text/event-stream", "Last-Event-ID": first[0]}
        with httpx.stream("GET", url, headers=get, timeout=60) as resp:
            assert resp.status_code == 200
            messages = [json.loads(d) for _, d in sse_events(resp) if d]
        progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
        assert progress == [2, 3, 4], messages
        assert "Steps: 4" in messages[-1]["result"]["content"][0]["text"]
        if requests(replicas, other, "forwarded") > before:
            resumed_through_other = True
            break
    assert resumed_through_other


async def test_stateless_requests_are_served_by_both_replicas(replicas, users):
    before = {m: counts(replicas, "time", m) for m in ("tools/call", "forwarded")}
    async with connect(replicas.url("time"), users["dev"], MODERN) as client:
        assert client.protocol_version == MODERN
        for _ in range(6):
            assert "UTC" in text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    calls = grown(before["tools/call"], counts(replicas, "time", "tools/call"))
    assert all(n >= 2 for n in calls.values()), calls
    assert sum(grown(before["forwarded"], counts(replicas, "time", "forwarded")).values()) == 0


async def test_stopping_one_authd_loses_no_request(replicas, users):
    async with connect(replicas.url("time"), users["dev"]) as client:
        for n in range(30):
            if n == 10:
                replicas.kill("authd.2")  # SIGTERM; its socket closes with it
            assert "UTC" in text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    assert replicas.services["authd.2"].proc.poll() is not None


async def test_killing_the_owner_gives_404_and_the_new_session_lands_on_the_survivor(replicas, users):
    url = replicas.url("everything")
    token = await login(replicas, users["dev"], "everything")
    session = raw.initialize(url, token)
    owner = by_address(replicas, "everything", owner_of(session))
    survivor = next(n for n in replica_names(replicas, "everything") if n != owner)
    assert raw.tools_list(url, token, session).status_code == 200
    proc = replicas.services[owner].proc
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # Whichever replica the edge picks (a refused connection is retried on the survivor), the
    # session is gone: 404, never a hang or a 5xx.
    for _ in range(4):
        resp = raw.tools_list(url, token, session)
        assert resp.status_code == 404, (resp.status_code, resp.text[:200])
    # The client starts over (MCP: a 404 for a session means initialize again).
    async with connect(url, users["dev"]) as client:
        assert "again" in text(await client.call_tool("echo", {"message": "again"}))
    again = raw.initialize(url, token)
    assert owner_of(again) == replicas.address(survivor)
    for _ in range(4):
        assert raw.tools_list(url, token, again).status_code == 200


def leaves(exc: BaseException):
    """The exceptions inside exception groups (the SDK raises from its task group)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


async def sdk_failure(url: str, user) -> list[BaseException]:
    """What a session driven by the SDK ran into (nothing: [])."""
    try:
        async with connect(url, user) as client:
            for _ in range(6):
                await client.call_tool("get_current_time", {"timezone": "UTC"})
    except Exception as err:  # noqa: BLE001 (inspected below)
        return list(leaves(err))
    return []


async def test_without_forwarding_follow_up_requests_fail(unforwarded, users):
    """The negative control: the same requests as above fail when replicas do not forward, so the
    tests above can fail."""
    failures = await sdk_failure(unforwarded.url("time"), users["dev"])
    assert any(isinstance(e, MCPError) and "session not found" in str(e) for e in failures), failures
    url = unforwarded.url("everything")
    await sdk_failure(url, users["dev"])  # logs in (the token is what the rest needs)
    token = users["dev"].store(url).tokens.access_token
    resp = raw.post(url, raw.INITIALIZE, token)
    assert resp.status_code == 200, resp.text[:200]
    session = resp.headers["mcp-session-id"]
    statuses = [raw.post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, token, session).status_code]
    statuses += [raw.tools_list(url, token, session).status_code for _ in range(4)]
    # Round robin: every other request reaches the replica without the session, which now refuses.
    assert 404 in statuses and {200, 202} & set(statuses), statuses


class Replica(ThreadingHTTPServer):
    """A replica's `/health` on a socket bound before Caddy starts (as the launcher binds them):
    503 until `healthy` is set."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), self.Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = loopback_listener()
        self.healthy = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200 if self.server.healthy.is_set() else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    @property
    def address(self) -> str:
        return "%s:%d" % self.socket.getsockname()


def test_the_launchers_view_of_the_rotation_follows_caddy(tmp_path):
    """scripts/stack.py reports a stack ready once Caddy holds every replica in rotation, read from
    Caddy's health-check log (`out_of_rotation`): replicas failing `/health` leave it, and come back
    once it passes."""
    replicas = [Replica(), Replica()]
    for replica in replicas:
        threading.Thread(target=replica.serve_forever, daemon=True).start()
    hosts = [r.address for r in replicas]
    time_server = [s for s in e2e_servers() if s.name == "time"]
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(render_caddyfile(time_server, "http://127.0.0.1:0", hosts, {"mcp-time": hosts},
                                          str(tmp_path)))
    log = tmp_path / "caddy.log"
    caddy = subprocess.Popen(["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert out_of_rotation("", hosts) == []  # Caddy's start: in rotation until a check fails
        wait_until("out of rotation", lambda: log.exists() and out_of_rotation(log.read_text(), hosts) == hosts,
                   caddy, log)
        replicas[0].healthy.set()
        wait_until("one back in rotation", lambda: out_of_rotation(log.read_text(), hosts) == [hosts[1]], caddy, log)
        replicas[1].healthy.set()
        wait_until("both back in rotation", lambda: out_of_rotation(log.read_text(), hosts) == [], caddy, log)
    finally:
        caddy.terminate()
        caddy.wait(timeout=30)
        for replica in replicas:
            replica.shutdown()
            replica.server_close()
