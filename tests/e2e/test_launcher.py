"""The launcher's own contract: `.env` created once with fresh secrets and never overwritten,
secrets kept out of process arguments, logs per service, Redis data on disk."""

from __future__ import annotations

import stat

from conftest import ROOT
from envfile import create_env, read_env


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
