"""The operator's everyday commands on a gateway of their own (own env file, data and log
directories, public port chosen at start), run exactly as the just recipes run them: `run.py
--detach`, `ops.py status|logs|stop`, `backup.py backup|restore`, `doctor.py`."""

from __future__ import annotations

import json
import os
import queue
import socket
import ssl
import subprocess
import sys
import threading
import time

from pathlib import Path

import httpx
import pytest
from conftest import ROOT
from envfile import create_env, read_env
from run import build

SCRIPTS = ROOT / "scripts"
# Starting every server takes a while on a loaded machine; each step below is bounded anyway.
COMMAND_TIMEOUT = 600


def script(name: str, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True,
                         timeout=COMMAND_TIMEOUT, cwd=ROOT)
    if check is not None:
        assert out.returncode == check, f"{name} {args}: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return Path(os.environ["E2E_BIN_DIR"]) if os.environ.get("E2E_BIN_DIR") else build(False)


@pytest.fixture
def gateway(bin_dir, tmp_path):
    """Paths of a gateway that `run.py --detach` starts; stopped at the end whatever happened."""
    env_file, data, logs = tmp_path / ".env", tmp_path / "data", tmp_path / "logs"
    create_env(ROOT / ".env.example", env_file, bin_dir / "authd", {"PUBLIC_URL": "http://127.0.0.1:0"})
    dirs = ["--env-file", str(env_file), "--data-dir", str(data)]
    paths = {"env": env_file, "data": data, "logs": logs, "dirs": dirs,
             "run": ["run.py", "--detach", *dirs, "--log-dir", str(logs), "--bin-dir", str(bin_dir)]}
    try:
        yield paths
    finally:
        script("ops.py", "--data-dir", str(data), "stop", check=None)


def state(gw) -> dict:
    return json.loads((gw["data"] / "stack.json").read_text())


def follow_appended_lines(gw) -> None:
    """`just logs SERVICE` follows: a line appended to the log comes out of the running command."""
    follower = subprocess.Popen([sys.executable, str(SCRIPTS / "ops.py"), *gw["dirs"], "logs", "authd", "-n", "1"],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout], daemon=True).start()
    try:
        # The last line of history comes once the follower has fixed where it follows from.
        assert lines.get(timeout=60)
        marker = "follow-marker-5d1c"
        with open(state(gw)["services"]["authd"]["log"], "a") as log:
            log.write(marker + "\n")
        deadline = time.monotonic() + 60
        while marker not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
    finally:
        follower.terminate()
        follower.wait(timeout=30)


def test_new_env_file_gets_its_own_development_password(gateway):
    env = read_env(gateway["env"])
    assert env["DEV_LOGIN_PASSWORD"] and env["DEV_LOGIN_PASSWORD"] != "dev-password-change-me"


def test_detached_run_status_logs_backup_stop_restore(gateway):
    gw = gateway
    started = script(*gw["run"])
    out = started.stdout
    for service in ("caddy", "redis", "oidc", "authd", "mcp-time"):
        assert f"run: {service} ready in " in out, out
    assert "Log in from a client" in out and "run: gateway ready in " in out
    # Not a terminal: the development password is not printed (the output is also a log file).
    assert read_env(gw["env"])["DEV_LOGIN_PASSWORD"] not in out
    public_url = state(gw)["public_url"]
    assert script(*gw["run"], check=1).stderr.count("already running") == 1

    status = script("ops.py", *gw["dirs"], "status")
    for name in state(gw)["services"]:
        line = next(line for line in status.stdout.splitlines() if line.strip().startswith(name))
        assert " up " in line, status.stdout
    assert "open sessions" in status.stdout and public_url in status.stdout

    one = script("ops.py", *gw["dirs"], "logs", "authd", "--no-follow", "-n", "3")
    assert 0 < len(one.stdout.splitlines()) <= 3, one.stdout
    every = script("ops.py", *gw["dirs"], "logs", "--no-follow", "-n", "2").stdout
    assert "authd" in every and "mcp-time" in every and " | " in every
    assert script("ops.py", *gw["dirs"], "logs", "nosuch", "--no-follow", check=1).stderr
    follow_appended_lines(gw)

    kept = httpx.post(f"{public_url}/register", json={"client_name": "kept", "redirect_uris": [
        "http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}, timeout=30).json()["client_id"]
    backup = gw["data"].parent / "snapshot.rdb"
    made = script("backup.py", *gw["dirs"], "backup", str(backup))
    assert "keys written" in made.stdout and backup.read_bytes().startswith(b"REDIS")
    lost = httpx.post(f"{public_url}/register", json={"client_name": "lost", "redirect_uris": [
        "http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}, timeout=30).json()["client_id"]
    # A restore while the gateway runs is refused.
    assert "just stop" in script("backup.py", *gw["dirs"], "restore", str(backup), check=1).stderr

    launcher = state(gw)["launcher_pid"]
    pids = [svc["pid"] for svc in state(gw)["services"].values()]
    assert "stopped in" in script("ops.py", "--data-dir", str(gw["data"]), "stop").stdout
    for pid in [launcher, *pids]:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split(")")[1][:3]
    assert not (gw["data"] / "run.pid").exists()
    assert "not running" in script("ops.py", *gw["dirs"], "status", check=1).stdout

    restored = script("backup.py", *gw["dirs"], "restore", str(backup))
    assert "keys restored" in restored.stdout and "previous data" in restored.stdout
    script(*gw["run"])
    clients = script("admin.py", "--data-dir", str(gw["data"]), "--bin-dir", str(gw["run"][-1]),
                     "clients", "list").stdout
    assert kept in clients and lost not in clients, clients


def test_doctor_passes_a_good_setup_and_names_each_problem(gateway, bin_dir):
    dirs = [*gateway["dirs"], "--authd", str(bin_dir / "authd")]
    good = script("doctor.py", "native", *dirs)
    assert "nothing to fix" in good.stdout and "authd accepts the settings" in good.stdout

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        text = gateway["env"].read_text()
        for key, value in (("PUBLIC_URL", f"http://127.0.0.1:{port}"), ("ALLOWED_USERS", ""),
                           ("DEV_LOGIN_PASSWORD", "dev-password-change-me"), ("ACCESS_TOKEN_TTL_SECS", "soon")):
            text = "\n".join(f"{key}={value}" if line.startswith(f"{key}=") else line
                             for line in text.splitlines()) + "\n"
        gateway["env"].write_text(text)
        bad = script("doctor.py", "native", *dirs, check=1).stdout
    finally:
        holder.close()
    for problem in (f"port {port} (PUBLIC_URL on 127.0.0.1) is taken", "every allow list is empty",
                    "DEV_LOGIN_PASSWORD is blank or the example", "authd: ACCESS_TOKEN_TTL_SECS"):
        assert problem in bad, bad


def test_doctor_compose_names_dns_acme_and_url_problems(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("BASE_DOMAIN=gateway.invalid\nACME_EMAIL=admin@example.com\nROUTING=path\n"
                        "PUBLIC_URL=http://127.0.0.1:8080\nALLOWED_USERS=alice\nREDIS_PASSWORD=\n")
    out = script("doctor.py", "compose", "--env-file", str(env_file), check=1).stdout
    for problem in ("ACME_EMAIL is blank or the example", "gateway.invalid does not resolve",
                    "PUBLIC_URL must be https://gateway.invalid", "REDIS_PASSWORD is blank",
                    "JWT_PRIVATE_KEY is blank"):
        assert problem in out, out


def test_status_reads_a_certificates_expiry_and_trust(tmp_path):
    """The certificate check of `just status` (compose mode) against a real TLS server."""
    sys.path.insert(0, str(SCRIPTS))
    import ops

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        # Untrusted: a verifying handshake that fails, then a second one that reads the certificate;
        # trusted: one handshake.
        for _ in range(3):
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        untrusted = ops.certificate_expiry(f"https://localhost:{port}")
        trusted = ops.certificate_expiry(f"https://localhost:{port}", cafile=str(cert))
    finally:
        listener.close()
    assert "NOT TRUSTED" in untrusted and ("(29 days)" in untrusted or "(30 days)" in untrusted), untrusted
    assert "NOT TRUSTED" not in trusted and "certificate expires" in trusted, trusted


def test_run_refuses_a_public_url_it_cannot_serve_before_starting_anything(gateway):
    out = script("run.py", *gateway["dirs"], "--log-dir", str(gateway["logs"]), "--bin-dir",
                 gateway["run"][-1], "--public-url", "ftp://gateway.example/x", check=64)
    assert "PUBLIC_URL: expected http://" in out.stderr, out.stderr
    assert not (gateway["data"] / "stack.json").exists()
