"""The traps a new deployer fell into, each pinned by a test that fails if it comes back:
Redis without a password, rendering that needs more than a Docker host has, SIDECAR_* settings that
never reached the containers, an MCP_SERVICES that selected nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from composestack import fill_internal_secrets
from conftest import ROOT
from envfile import read_env
from traefik import EDGE_OWNED_SETTINGS, render_compose

SYSTEM_PYTHON = "/usr/bin/python3"


def env_file(tmp_path, **values):
    path = tmp_path / "settings.env"
    text = (ROOT / ".env.example").read_text()
    for key, value in values.items():
        text = re.sub(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
    path.write_text(text)
    return path


def render(tmp_path, settings, python=sys.executable):
    return subprocess.run([python, str(ROOT / "scripts" / "gateway.py"), "compose", "--out", str(tmp_path / "gen")],
                          env=os.environ | {"GATEWAY_ENV_FILE": str(settings)}, capture_output=True, text=True,
                          timeout=60)


def test_compose_refuses_a_blank_redis_password(tmp_path):
    assert render(tmp_path, env_file(tmp_path)).returncode == 0  # compose/generated/ for the include
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gateway.py"), "compose"], check=True, timeout=60)
    for password in ("", "s3cret-long-enough"):
        settings = env_file(tmp_path, REDIS_PASSWORD=password)
        run = subprocess.run(["docker", "compose", "--env-file", str(settings), "-f", str(ROOT / "docker-compose.yml"),
                              "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
                             | {"GATEWAY_ENV_FILE": str(settings)})
        if password:
            assert run.returncode == 0, run.stderr
        else:
            assert run.returncode != 0
            assert "REDIS_PASSWORD" in run.stderr and "just up" in run.stderr


def test_up_generates_a_blank_redis_password(tmp_path):
    settings = env_file(tmp_path)
    assert read_env(settings)["REDIS_PASSWORD"] == ""
    assert fill_internal_secrets(settings) == ["REDIS_PASSWORD"]
    password = read_env(settings)["REDIS_PASSWORD"]
    assert len(password) >= 24
    assert fill_internal_secrets(settings) == []  # never replaced once set
    assert read_env(settings)["REDIS_PASSWORD"] == password


def test_docker_recipes_use_python3_only():
    # A fresh Debian server has `python3`, not `python`.
    for line in (ROOT / "justfile").read_text().splitlines():
        assert not re.match(r"^\s+python\s", line), line


def test_rendering_runs_on_the_system_python(tmp_path):
    # Debian's own python3 (+ python3-yaml, listed in docs/guides/production.md), no virtualenv.
    run = render(tmp_path, env_file(tmp_path), SYSTEM_PYTHON)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "gen" / "mcp-servers.yml").exists()


def test_every_sidecar_setting_reaches_the_containers(servers):
    documented = [k for k in read_env(ROOT / ".env.example") if k.startswith("SIDECAR_")]
    services = render_compose(servers, "path")["mcp-servers.yml"]["services"]
    for server in servers:
        env = services[server.service]["environment"]
        for key in documented:
            if key in EDGE_OWNED_SETTINGS:
                continue
            assert key in env and env[key] is None, key  # null: compose takes it from .env
    example = (ROOT / ".env.example").read_text()
    for key in EDGE_OWNED_SETTINGS:
        # .env.example says where a setting the launcher fixes does not apply.
        block = example.split(f"\n{key}=")[0].rsplit("\n\n", 1)[-1]
        assert "just run" in block and "just up" in block, key


def test_mcp_services_selects_servers(tmp_path):
    run = render(tmp_path, env_file(tmp_path, MCP_SERVICES="time,git"))
    assert run.returncode == 0, run.stderr
    generated = (tmp_path / "gen" / "mcp-servers.yml").read_text()
    assert "mcp-time:" in generated and "mcp-git:" in generated and "mcp-fetch:" not in generated
    assert "MCP_SERVICES=time,git" in (tmp_path / "gen" / "authd.env").read_text()
    bad = render(tmp_path, env_file(tmp_path, MCP_SERVICES="time,weather"))
    assert bad.returncode == 64 and "weather" in bad.stderr and "time" in bad.stderr


def test_native_launcher_selects_servers_too(tmp_path):
    from stack import Stack

    stack = Stack(env_file(tmp_path, MCP_SERVICES="memory"), "http://127.0.0.1:0", tmp_path / "data",
                  tmp_path / "logs", tmp_path)
    try:
        assert [s.name for s in stack.servers] == ["memory"]
    finally:
        stack.stop()


def test_native_launcher_lists_replica_problems_with_the_others(tmp_path):
    from stack import Stack

    settings = env_file(tmp_path, MCP_SERVICES="memory", PUBLIC_URL="ftp://x")
    settings.write_text(settings.read_text() + "MCP_REPLICAS_MEMORY=2\nAUTHD_REPLICAS=none\n")
    stack = Stack(settings, None, tmp_path / "data", tmp_path / "logs", tmp_path)
    try:
        problems = "\n".join(stack.settings_problems())
        assert "PUBLIC_URL" in problems and "MCP_REPLICAS_MEMORY=2" in problems and "AUTHD_REPLICAS" in problems
    finally:
        stack.stop()
