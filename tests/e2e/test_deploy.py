"""Deployer traps that need a running stack, each pinned by a test that fails if it comes back:
a request for a host the native gateway does not serve (its loopback aliases it serves:
test_loopback_aliases.py), `authd keys rotate` through the scripts
writing another directory's .env, and signing keys that needed a Rust toolchain."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys

import httpx
import pytest

from conftest import ROOT
from envfile import read_env


@pytest.mark.edges("caddy")
@pytest.mark.parametrize("host", ["gateway.example", "127.0.0.2", "localhost.example"])
def test_other_host_gets_an_error_naming_the_right_url(stack, host):
    port = stack.public_url.rsplit(":", 1)[1]
    resp = httpx.post(stack.url("time"), json={}, headers={"Host": f"{host}:{port}"}, timeout=10)
    assert resp.status_code == 421
    assert f"{stack.public_url}/time/mcp" in resp.text


@pytest.mark.edges("caddy")
def test_keys_rotate_writes_the_env_file_it_was_given(stack, tmp_path):
    shutil.copy(stack.env_file, tmp_path / ".env")
    before = read_env(tmp_path / ".env")["JWT_PRIVATE_KEY"]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "admin.py"), "--data-dir", str(stack.data_dir),
                    "--bin-dir", str(stack.bin_dir), "keys", "rotate", "--env-file", ".env"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    after = read_env(tmp_path / ".env")["JWT_PRIVATE_KEY"]
    assert after and after != before


@pytest.mark.edges("traefik-path")
def test_signing_key_from_the_authd_image_without_rust(stack, tmp_path):
    settings = tmp_path / "settings.env"
    shutil.copy(stack.env_file, settings)
    before = read_env(settings)["JWT_PRIVATE_KEY"]
    # A server with Docker, python3 and just, but no Rust toolchain.
    path = "/usr/local/bin:/usr/bin:/bin"
    assert shutil.which("cargo", path=path) is None
    env = {"PATH": path, "HOME": os.environ["HOME"], "GATEWAY_ENV_FILE": str(settings)}
    subprocess.run([shutil.which("just"), "--justfile", str(ROOT / "justfile"), "generate-jwt-secret"],
                   env=env, check=True, capture_output=True, timeout=300)
    after = read_env(settings)["JWT_PRIVATE_KEY"]
    assert after != before
    assert base64.b64decode(after).startswith(b"-----BEGIN PRIVATE KEY-----")
