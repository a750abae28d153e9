"""Real work on every bundled MCP server through the edge, as the official Python SDK client does it:
OAuth discovery from the 401, registration, PKCE, login at the upstream provider, consent, token,
then tool calls answered by the official server behind its sidecar; each test in both protocol
eras (`mode`: a legacy session, and 2026-07-28 stateless requests, where the sidecar turns the
server's sampling and elicitation into multi-round-trip results)."""

from __future__ import annotations

import json
import time

import pytest
from mcp import types

from client import connect
from conftest import PAGE_MARKER

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["legacy", "2026-07-28"])
def mode(request) -> str:
    return request.param


def text(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_time_conversion(stack, users, mode):
    async with connect(stack.url("time"), users["dev"], mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"get_current_time", "convert_time"} <= names
        out = text(await client.call_tool("convert_time", {
            "source_timezone": "Europe/Berlin", "time": "12:00", "target_timezone": "UTC"}))
    assert "11:00" in out or "10:00" in out, out
    assert users["dev"].store(stack.url("time")).logins == 1


async def test_fetch_page_served_on_loopback(stack, users, page_url, mode):
    async with connect(stack.url("fetch"), users["dev"], mode) as client:
        out = text(await client.call_tool("fetch", {"url": page_url}))
    assert PAGE_MARKER in out


async def test_filesystem_write_then_read(stack, users, mode):
    # Paths as the server names them (/data when confined or in a container).
    path = stack.server_path("filesystem", "e2e-note.txt")
    async with connect(stack.url("filesystem"), users["dev"], mode) as client:
        text(await client.call_tool("write_file", {"path": path, "content": "written through the gateway"}))
        out = text(await client.call_tool("read_text_file", {"path": path}))
        listing = text(await client.call_tool("list_directory", {"path": stack.server_path("filesystem")}))
    assert out == "written through the gateway"
    # On disk in its data directory, not only in its answers.
    assert stack.run_in_data("filesystem", ["cat", "e2e-note.txt"]) == "written through the gateway"
    assert "e2e-note.txt" in listing


async def test_memory_graph_round_trip(stack, users, mode):
    entity = {"name": "gateway-e2e", "entityType": "test", "observations": ["made by pytest"]}
    async with connect(stack.url("memory"), users["dev"], mode) as client:
        text(await client.call_tool("create_entities", {"entities": [entity]}))
    # A new session (a new child process) reads the same graph from the data directory.
    async with connect(stack.url("memory"), users["dev"], mode) as client:
        graph = json.loads(text(await client.call_tool("read_graph", {})))
    assert any(e["name"] == "gateway-e2e" and "made by pytest" in e["observations"]
               for e in graph["entities"])


async def test_git_log_of_the_served_repository(stack, users, mode):
    # The repository the git fragment lists (created empty by the launcher or the compose one-shot),
    # committed to where the server runs, with the git it uses.
    git = ["git", "-C", "repo", "-c", "user.name=E2E", "-c", "user.email=e2e@example.com"]
    # One commit per era: each run of this test changes the file, so there is always one to make.
    stack.run_in_data("git", ["sh", "-c", f"echo hello {mode} > repo/README"])
    stack.run_in_data("git", [*git, "add", "README"])
    stack.run_in_data("git", [*git, "commit", "-q", "-m", f"first commit through e2e ({mode})"])
    async with connect(stack.url("git"), users["dev"], mode) as client:
        out = text(await client.call_tool("git_log", {"repo_path": stack.server_path("git", "repo"),
                                                      "max_count": 5}))
    assert f"first commit through e2e ({mode})" in out


async def test_sequential_thinking(stack, users, mode):
    async with connect(stack.url("sequential-thinking"), users["dev"], mode) as client:
        out = json.loads(text(await client.call_tool("sequentialthinking", {
            "thought": "the gateway forwards this thought", "thoughtNumber": 1,
            "totalThoughts": 2, "nextThoughtNeeded": True})))
    assert out["thoughtNumber"] == 1 and out["totalThoughts"] == 2


async def test_everything_sampling_and_elicitation_answered_by_client_callbacks(stack, users, mode):
    seen: dict[str, object] = {}

    async def sampling(context, params: types.CreateMessageRequestParams):
        seen["sampling"] = params.messages[0].content
        return types.CreateMessageResult(role="assistant", model="e2e-model",
                                         content=types.TextContent(type="text", text="sampled-by-e2e"))

    async def elicitation(context, params: types.ElicitRequestParams):
        seen["elicitation"] = params.message
        return types.ElicitResult(action="accept", content={"name": "E2E Tester"})

    async with connect(stack.url("everything"), users["dev"], mode, sampling_callback=sampling,
                       elicitation_callback=elicitation) as client:
        sampled = text(await client.call_tool("trigger-sampling-request", {"prompt": "say hi", "maxTokens": 20}))
        elicited = text(await client.call_tool("trigger-elicitation-request", {}))
    assert "sampled-by-e2e" in sampled
    assert "E2E Tester" in elicited
    assert "sampling" in seen and "elicitation" in seen


async def test_mcp_servers_never_see_authd_secrets(stack, users, mode):
    # `get-env` of the everything server prints its whole environment.
    async with connect(stack.url("everything"), users["dev"], mode) as client:
        env = text(await client.call_tool("get-env", {}))
    for key in ("JWT_PRIVATE_KEY", "OIDC_CLIENT_SECRET", "REDIS_PASSWORD", "DEV_LOGIN_PASSWORD",
                "SIDECAR_REQUEST_STATE_KEY"):
        value = stack.env.get(key)
        assert value and value not in env, key


async def test_progress_streams_through_the_edge_unbuffered(stack, users, mode):
    # Client requirement E4 (docs/architecture/client-requirements.md): SSE is not buffered.
    # Progress events of a 2 s operation must reach the client while it runs, not all at once with
    # the result.
    arrivals: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        arrivals.append(time.monotonic())

    async with connect(stack.url("everything"), users["dev"], mode) as client:
        out = text(await client.call_tool("trigger-long-running-operation", {"duration": 2, "steps": 4},
                                          progress_callback=progress))
        done = time.monotonic()
    assert "completed" in out.lower() or "operation" in out.lower(), out
    assert len(arrivals) == 4
    assert done - arrivals[0] > 0.75, (done - arrivals[0])
