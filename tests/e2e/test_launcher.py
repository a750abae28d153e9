"""The launcher's own contract: `.env` created once with fresh secrets and never overwritten,
secrets kept out of process arguments, logs per service, Redis data on disk."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from conftest import ROOT
from envfile import create_env, read_env
from install import install_dir


def test_env_file_created_with_fresh_secrets_and_never_overwritten(native, tmp_path):
    authd = native.bin_dir / "authd"
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    assert create_env(ROOT / ".env.example", first, authd)
    assert create_env(ROOT / ".env.example", second, authd)
    a, b = read_env(first), read_env(second)
    for key in ("JWT_PRIVATE_KEY", "OIDC_CLIENT_SECRET", "REDIS_PASSWORD"):
        assert a[key] and a[key] != b[key], key
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    before = first.read_text()
    assert not create_env(ROOT / ".env.example", first, authd)
    assert first.read_text() == before


def test_no_secret_in_any_process_arguments(native):
    secrets = [native.env[k] for k in ("JWT_PRIVATE_KEY", "OIDC_CLIENT_SECRET", "REDIS_PASSWORD")]
    for name, svc in native.services.items():
        cmdline = (f"/proc/{svc.proc.pid}/cmdline")
        args = open(cmdline, "rb").read().decode(errors="replace")
        assert not any(s in args for s in secrets), name


def test_logs_per_service_and_redis_data_on_disk(native):
    for name in native.services:
        assert (native.log_dir / name / f"{name}.log").stat().st_size > 0, name
    assert any((native.data_dir / "redis").iterdir())


def test_an_invalid_sandbox_setting_stops_the_launcher_with_exit_64(native, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(native.env_file.read_text() + "MCP_SANDBOX=nsjail\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "run.py"), "--env-file", str(env_file),
                           "--bin-dir", str(native.bin_dir), "--data-dir", str(tmp_path / "data"),
                           "--log-dir", str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 64, done.stderr
    assert "MCP_SANDBOX must be one of bubblewrap, off (got 'nsjail')" in done.stderr
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_servers_are_installed_at_the_tested_versions(native):
    # Every package of every server's own install is the version the project pins and tests:
    # tests/constraints.txt for Python, tests/package-lock.json for Node.
    pins = {line.lower() for line in (ROOT / "tests" / "constraints.txt").read_text().splitlines()}
    locked = json.loads((ROOT / "tests" / "package-lock.json").read_text())["packages"]
    for server in native.servers:
        home = install_dir(server)
        if server.runtime == "python":
            frozen = subprocess.run([str(home / "venv" / "bin" / "pip"), "freeze", "--exclude", "pip",
                                     "--exclude", "setuptools"], check=True, capture_output=True, text=True)
            unpinned = [p for p in frozen.stdout.lower().splitlines() if p not in pins]
        else:
            packages = json.loads((home / "package-lock.json").read_text())["packages"]
            unpinned = [k for k, v in packages.items()
                        if k and v.get("version") != locked.get(k, {}).get("version")]
        assert not unpinned, (server.name, unpinned)
