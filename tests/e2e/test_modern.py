"""MCP 2026-07-28 through the full native stack (edge, OAuth, sidecar), with the official Python
SDK client in `mode="2026-07-28"`: discovery, a multi-round-trip call driven by hand with a
tampered `requestState`, `subscriptions/listen` through the edge, both eras at once for one user,
the routing headers at the edge (CORS and a header rule), and the elicitation and sampling round
trips the SDK drives itself. (Every bundled server in both eras: test_servers.py, `mode`.)"""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import types
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPError

import raw
from client import connect
from test_lifecycle import login
from test_servers import text

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"


async def test_discovery_and_the_negotiated_revision(stack, users):
    async with connect(stack.url("everything"), users["dev"], "auto") as client:
        assert client.protocol_version == MODERN
        assert client.server_capabilities.tools is not None
        assert client.server_info is not None and client.server_info.name
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"echo", "trigger-sampling-request", "trigger-elicitation-request"} <= names


async def test_elicitation_and_sampling_round_trips_through_input_required(stack, users):
    asked: list[str] = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        asked.append("sampling")
        return types.CreateMessageResult(role="assistant", model="e2e-model",
                                         content=types.TextContent(type="text", text="modern-sample"))

    async def elicitation(context, params: types.ElicitRequestParams):
        asked.append("elicitation")
        return types.ElicitResult(action="accept", content={"name": "Modern Tester"})

    async with connect(stack.url("everything"), users["dev"], MODERN, sampling_callback=sampling,
                       elicitation_callback=elicitation) as client:
        sampled = await client.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 20})
        elicited = await client.call_tool("trigger-elicitation-request", {})
    assert "modern-sample" in text(sampled)
    assert "Modern Tester" in text(elicited)
    assert asked == ["sampling", "elicitation"]


async def test_a_tampered_request_state_is_refused_and_cancels_the_call(stack, users):
    async def never(context, params):  # declares the elicitation capability; input is given by hand
        raise AssertionError("the test answers the input request itself")

    async with connect(stack.url("everything"), users["dev"], MODERN, elicitation_callback=never) as client:
        first = await client.session.call_tool("trigger-elicitation-request", {}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        key = next(iter(first.input_requests))
        answer = {key: types.ElicitResult(action="accept", content={"name": "x"})}
        with pytest.raises(MCPError) as tampered:
            await client.session.call_tool("trigger-elicitation-request", {}, input_responses=answer,
                                           request_state=first.request_state + "x",
                                           allow_input_required=True)
        assert tampered.value.code == -32602
        # The refusal cancelled the held call: its genuine state is no good any more.
        with pytest.raises(MCPError) as genuine:
            await client.session.call_tool("trigger-elicitation-request", {}, input_responses=answer,
                                           request_state=first.request_state, allow_input_required=True)
        assert genuine.value.code == -32602


async def test_listen_carries_resource_updates_through_the_edge(stack, users):
    uri = "demo://resource/static/document/architecture.md"
    async with connect(stack.url("everything"), users["dev"], MODERN) as client:
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await client.call_tool("toggle-subscriber-updates", {})
            with anyio.fail_after(60):
                event = await subscription.__anext__()
        await client.call_tool("toggle-subscriber-updates", {})  # off again
    assert isinstance(event, ResourceUpdated) and event.uri == uri, event


async def test_both_eras_at_once_for_one_user(stack, users):
    async def call(mode: str, word: str) -> str:
        async with connect(stack.url("everything"), users["alice"], mode) as client:
            return (await client.call_tool("echo", {"message": word})).content[0].text

    results: dict[str, str] = {}
    async with anyio.create_task_group() as tg:
        for mode, word in [("legacy", "old"), (MODERN, "new"), ("legacy", "older"), (MODERN, "newer")]:
            async def one(mode=mode, word=word) -> None:
                results[word] = await call(mode, word)
            tg.start_soon(one)
    assert results == {w: f"Echo: {w}" for w in ["old", "new", "older", "newer"]}


# Caddy answers the preflight itself (scripts/routes.py CORS); behind Traefik authd answers it, with
# its own list of allowed headers (authd/src/router.rs), which is authd's to widen.
@pytest.mark.edges("caddy")
def test_cors_preflight_lets_the_stateless_headers_through(stack):
    asked = "authorization, content-type, mcp-method, mcp-name, mcp-param-region, mcp-protocol-version"
    resp = httpx.options(stack.url("time"), headers={
        "Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked}, timeout=10)
    assert resp.status_code == 204
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    # `*` covers every header of a request without credentials (Fetch standard, CORS protocol),
    # Mcp-Param-<name> included; Authorization must be named.
    assert "authorization" in allowed and "*" in allowed
    assert {"mcp-method", "mcp-name", "mcp-protocol-version"} <= allowed


async def test_a_header_rule_answers_through_the_edge(stack, users):
    token = await login(stack, users["dev"])
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": meta}}
    headers = raw.headers(token) | {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call"}
    resp = httpx.post(stack.url("time"), json=body, headers=headers, timeout=60)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == -32020 and resp.json()["id"] == 7
    headers["Mcp-Method"] = "tools/list"
    resp = httpx.post(stack.url("time"), json=body, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["resultType"] == "complete"
