"""Every MCP server is confined to what its fragment grants (docs/architecture/security.md), shown through the edge
with the official Python SDK client, as a logged-in user would try it: each test asks a server for
something outside its grant, in a configuration where the server's own guard would not stop it, so
that only the confinement does. `E2E_MCP_SANDBOX=off pytest tests/e2e/test_confinement.py` runs the
same stack without the sandbox: then these tests fail.

Only the `stack` fixture's public interface is used (`url`, `env`, `env_file`, `data_dir`,
`data_path`, `server_path`), so the tests hold for any edge and any way of confining.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from client import connect
from conftest import OFFLINE_FETCH, ROOT
from stack import SECRET_RE

# Host paths of the native stack (data_path, env_file): through the Caddy edge. The compose
# containers are confined by their generated services (tests/static/test_confinement.py).
pytestmark = [pytest.mark.anyio, pytest.mark.edges("caddy")]

# Bounded wait for the filesystem server to apply the roots a client announced (it asks for them
# after `initialized`, on the standalone stream, and answers tool calls meanwhile).
ROOTS_APPLIED_TIMEOUT_SECS = 60.0
# Settings only authd and the development login may know, besides every secret-named one.
AUTHD_ONLY = ("REDIS_", "OIDC_", "AUTHD_", "GITHUB_", "DEV_LOGIN_", "JWT_")


async def attempt(call) -> tuple[bool, str]:
    """(succeeded, text) of a tool call: a tool error and a JSON-RPC error both count as refused."""
    try:
        result: types.CallToolResult = await call
    except MCPError as err:
        return False, err.error.message
    out = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
    return not result.is_error, out


async def test_filesystem_cannot_reach_the_project_env_file_or_other_data(stack, users):
    # MCP roots replace the directories the filesystem server allows (server-filesystem, "roots"
    # protocol): any client can name any path. The server keeps only roots that exist for it.
    probe = stack.data_path("filesystem") / "roots-probe"
    probe.mkdir(exist_ok=True)
    memory_file = stack.data_path("memory") / "memory.jsonl"
    memory_file.parent.mkdir(parents=True, exist_ok=True)
    memory_file.touch()
    outside = [ROOT, stack.env_file.parent, stack.data_dir, stack.data_path("memory")]
    roots = [types.Root(uri=p.resolve().as_uri()) for p in outside]
    roots.append(types.Root(uri=Path(stack.server_path("filesystem", "roots-probe")).as_uri()))

    async def list_roots(context) -> types.ListRootsResult:
        return types.ListRootsResult(roots=roots)

    async with connect(stack.url("filesystem"), users["dev"], list_roots_callback=list_roots) as client:
        deadline = time.monotonic() + ROOTS_APPLIED_TIMEOUT_SECS
        allowed = ""
        while "roots-probe" not in allowed:
            assert time.monotonic() < deadline, f"roots never applied: {allowed}"
            ok, allowed = await attempt(client.call_tool("list_allowed_directories", {}))
            assert ok, allowed
        assert not any(str(p.resolve()) in allowed for p in outside), allowed
        env_read = await attempt(client.call_tool("read_text_file", {"path": str(stack.env_file)}))
        tree = await attempt(client.call_tool("list_directory", {"path": str(ROOT)}))
        memory = await attempt(client.call_tool("read_text_file", {"path": str(memory_file)}))
        redis = await attempt(client.call_tool("list_directory", {"path": str(stack.data_dir / "redis")}))
    for what, (ok, out) in {"env file": env_read, "project tree": tree, "memory's data": memory,
                            "redis data": redis}.items():
        assert not ok, f"{what} reachable: {out[:200]}"
    assert stack.env["JWT_PRIVATE_KEY"] not in env_read[1]


def commit(repo: Path, message: str) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(repo), "-c", "user.name=E2E", "-c", "user.email=e2e@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "file.txt").write_text(message)
    subprocess.run([*git, "add", "file.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True)


async def test_git_reaches_only_the_repository_it_lists(stack, users, tmp_path):
    served = stack.server_path("git", "repo")
    # A repository next to the served one, not listed: refused by the server (`--repository`).
    commit(stack.data_path("git") / "unlisted", "unlisted commit")
    # A repository elsewhere on the host, and a path inside the served repository that leads to it
    # (a `.git` file naming another git directory): it passes the server's own path check, which
    # looks at the path it is given, and only the confinement keeps the other repository away.
    outside = tmp_path / "outside"
    outside.mkdir()
    commit(outside, "outside commit")
    link = stack.data_path("git") / "repo" / "linked"
    link.mkdir(parents=True)
    (link / ".git").write_text(f"gitdir: {outside / '.git'}\n")
    try:
        async with connect(stack.url("git"), users["dev"]) as client:
            own = await attempt(client.call_tool("git_status", {"repo_path": served}))
            unlisted = await attempt(client.call_tool("git_log", {
                "repo_path": stack.server_path("git", "unlisted")}))
            project = await attempt(client.call_tool("git_status", {"repo_path": str(ROOT)}))
            linked = await attempt(client.call_tool("git_log", {"repo_path": f"{served}/linked"}))
    finally:
        (link / ".git").unlink()
        link.rmdir()
    for what, (ok, out) in {"unlisted": unlisted, "project": project, "linked": linked}.items():
        assert not ok, f"{what} repository reachable: {out[:200]}"
    assert "unlisted commit" not in unlisted[1] and "outside commit" not in linked[1]
    assert own[0], own[1]


async def test_git_commits_in_the_repository_it_lists(stack, users):
    (stack.data_path("git") / "repo" / "from-e2e.txt").write_text("committed through the gateway\n")
    repo = stack.server_path("git", "repo")
    async with connect(stack.url("git"), users["dev"]) as client:
        added = await attempt(client.call_tool("git_add", {"repo_path": repo, "files": ["from-e2e.txt"]}))
        committed = await attempt(client.call_tool("git_commit", {"repo_path": repo,
                                                                  "message": "e2e commit"}))
    assert added[0] and committed[0], (added, committed)
    log = subprocess.run(["git", "-C", str(stack.data_path("git") / "repo"), "log", "--format=%s"],
                         check=True, capture_output=True, text=True).stdout
    assert "e2e commit" in log.splitlines()


async def test_fetch_without_egress_cannot_reach_the_gateway(stack, users):
    # The server's private-address guard is off in this stack (conftest.e2e_servers): without the
    # sandbox it fetches the gateway's own metadata from loopback.
    target = f"{stack.public_url}/.well-known/oauth-authorization-server"
    async with connect(stack.url(OFFLINE_FETCH), users["dev"]) as client:
        ok, out = await attempt(client.call_tool("fetch", {"url": target, "raw": True}))
    assert not ok, out[:200]
    assert "authorization_endpoint" not in out
    assert "connection" in out, out[:200]  # stopped by the network, not by a guard of the server


async def test_everything_environment_holds_no_gateway_secret(stack, users):
    async with connect(stack.url("everything"), users["dev"]) as client:
        ok, out = await attempt(client.call_tool("get-env", {}))
    assert ok, out
    env = json.loads(out)
    leaked = sorted(k for k in env if SECRET_RE.search(k) or k.startswith(AUTHD_ONLY))
    assert not leaked, leaked
    for key, value in stack.env.items():
        if SECRET_RE.search(key) and value:
            assert value not in out, key
