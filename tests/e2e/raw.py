"""Plain HTTP at the edge (httpx), for what an SDK hides: status codes, headers, session ids."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "e2e-raw", "version": "1"}},
}


def headers(token: str | None = None, session: str | None = None) -> dict[str, str]:
    h = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if session:
        h["Mcp-Session-Id"] = session
        h["MCP-Protocol-Version"] = "2025-06-18"
    return h


def post(url: str, body: dict, token: str | None = None, session: str | None = None) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers(token, session), timeout=60)


def result(resp: httpx.Response) -> dict:
    """The JSON-RPC message of a JSON or SSE answer."""
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        for line in resp.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                msg = json.loads(line[5:])
                if "result" in msg or "error" in msg:
                    return msg
        raise AssertionError(f"no JSON-RPC answer in the stream: {resp.text[:300]}")
    return resp.json()


def initialize(url: str, token: str) -> str:
    """A new legacy session; returns its Mcp-Session-Id (after notifications/initialized)."""
    resp = post(url, INITIALIZE, token)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    session = resp.headers["mcp-session-id"]
    note = post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, token, session)
    assert note.status_code == 202, note.status_code
    return session


def tools_list(url: str, token: str, session: str) -> httpx.Response:
    return post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, token, session)


def eventually(request: Callable[[], httpx.Response], status: int, timeout: float = 15.0) -> list[int]:
    """Repeat `request` until it answers `status` (bounded); returns every status seen."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(request().status_code)
        if seen[-1] == status:
            return seen
        time.sleep(0.2)  # poll interval between real requests; bounded by the deadline
    raise AssertionError(f"never {status} within {timeout} s: {seen}")
