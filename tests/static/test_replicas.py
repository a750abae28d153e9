"""Replicas in native mode, without starting anything: the launcher's plan (names, sockets, keys,
settings per replica) and the Caddyfile that balances over the replicas (validated by Caddy)."""

from __future__ import annotations

import subprocess

from caddy import render_caddyfile
from conftest import ROOT
from test_deploy_traps import env_file


def plan(tmp_path, **settings):
    from stack import Stack

    path = env_file(tmp_path, MCP_SERVICES="time,everything,memory")
    path.write_text(path.read_text() + "".join(f"{k}={v}\n" for k, v in settings.items()))
    return Stack(path, None, tmp_path / "data", tmp_path / "logs", tmp_path)


def test_the_launcher_runs_the_replicas_asked_for(tmp_path):
    stack = plan(tmp_path, AUTHD_REPLICAS=2, MCP_REPLICAS=2, MCP_REPLICAS_TIME=3)
    try:
        assert stack.authds == ["authd", "authd.2"]
        assert stack.sidecars == {"mcp-everything": ["mcp-everything", "mcp-everything.2"],
                                  "mcp-memory": ["mcp-memory"],  # a data directory: one replica
                                  "mcp-time": ["mcp-time", "mcp-time.2", "mcp-time.3"]}
        addresses = [stack.address(n) for n in stack.listeners]
        assert len(set(addresses)) == len(addresses) == 8
        # Only replicas of a replicated service hold their socket alone.
        assert "mcp-memory" not in stack.sole_holders and "authd.2" in stack.sole_holders
        time = next(s for s in stack.servers if s.name == "time")
        everything = next(s for s in stack.servers if s.name == "everything")
        envs = [stack.sidecar(time, n).env for n in stack.sidecars["mcp-time"]]
        assert len({e["SIDECAR_SESSION_KEY"] for e in envs}) == 1  # shared by the replicas
        assert envs[0]["SIDECAR_SESSION_KEY"] != stack.sidecar(everything).env["SIDECAR_SESSION_KEY"]
        assert [e["SIDECAR_ADVERTISE_URL"] for e in envs] == \
            [f"http://{stack.address(n)}" for n in stack.sidecars["mcp-time"]]
        memory = next(s for s in stack.servers if s.name == "memory")
        assert "SIDECAR_SESSION_KEY" not in stack.sidecar(memory).env or \
            not stack.sidecar(memory).env["SIDECAR_SESSION_KEY"]
        assert stack.authd("authd.2").env["AUTHD_LISTEN"] == stack.address("authd.2")
    finally:
        stack.stop()


def test_a_session_key_in_the_env_file_is_used(tmp_path):
    key = "q83vEjRWeJC8V8t1z3rJ1E3l2b8cN0pZsQ2wYv5m6aE="
    stack = plan(tmp_path, MCP_REPLICAS=2, SIDECAR_SESSION_KEY=key)
    try:
        time = next(s for s in stack.servers if s.name == "time")
        assert stack.sidecar(time, "mcp-time.2").env["SIDECAR_SESSION_KEY"] == key
    finally:
        stack.stop()


def test_caddy_balances_over_replicas_and_checks_their_health(servers, tmp_path):
    served = [s for s in servers if s.name in ("time", "memory")]
    text = render_caddyfile(served, "http://127.0.0.1:18080", ["127.0.0.1:1", "127.0.0.1:2"],
                            {"mcp-time": ["127.0.0.1:3", "127.0.0.1:4"], "mcp-memory": "127.0.0.1:5"},
                            str(tmp_path))
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    run = subprocess.run(["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    blocks = text.split("reverse_proxy ")
    time_block = next(b for b in blocks if b.startswith("127.0.0.1:3 127.0.0.1:4 {"))
    memory_block = next(b for b in blocks if b.startswith("127.0.0.1:5 {"))
    for line in ("lb_policy round_robin", "health_uri /health", "lb_try_duration"):
        assert line in time_block.split("}")[0]
        assert line not in memory_block.split("}")[0]  # one replica: as before
    auth = text.split("forward_auth 127.0.0.1:1 127.0.0.1:2 {")[1].split("}")[0]
    assert "health_uri /health" in auth and "lb_policy round_robin" in auth
