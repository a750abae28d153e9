"""Native mode over HTTPS (`just run` with an https PUBLIC_URL: the one-server production path
without Docker): Caddy obtains the certificate with its built-in ACME client from a real ACME CA,
Pebble (Let's Encrypt's test server, run here from Debian's package) named by ACME_CA_SERVER and
ACME_CA_ROOT, validated over HTTP-01; HTTP is redirected to HTTPS; a client completes OAuth and
uses a server over HTTPS. The stack serves on a loopback address of its own, on ports 80 and 443,
and its names resolve through an /etc/hosts block."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from client import connect
from conftest import COMMON_SETTINGS, ROOT, USERS
from envfile import create_env
from fragments import load_servers
from hostsfile import remove_block, write_block
from stack import Stack, wait_until
from testacme import pebble_files

READY_SECS = 120.0


def pebble_ready(url: str, ca: Path) -> bool:
    try:
        return httpx.get(url, verify=ssl.create_default_context(cafile=str(ca)), timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def https_stack(tmp_path_factory, bin_dir):
    work = tmp_path_factory.mktemp("native-https")
    pid = os.getpid()
    address = f"127.78.{(pid >> 8) & 255}.{(pid & 255) | 1}"
    domain, acme_host = f"native-{pid}.e2e.test", f"acme-{pid}.e2e.test"
    project = f"native-https-{pid}"
    write_block(project, address, [domain, acme_host])
    pebble_files(work / "pebble", [acme_host], address, str(work / "pebble"))
    ca = work / "pebble" / "api.pem"
    pebble = subprocess.Popen(["pebble", "-config", str(work / "pebble" / "pebble.json")],
                              env=os.environ | {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
                              stdout=open(work / "pebble.log", "wb"), stderr=subprocess.STDOUT)
    stack = None
    try:
        wait_until("pebble", lambda: pebble_ready(f"https://{acme_host}:14000/dir", ca), pebble,
                   work / "pebble.log", READY_SECS)
        root = work / "test-ca.pem"
        root.write_bytes(httpx.get(f"https://{acme_host}:15000/roots/0", timeout=10,
                                   verify=ssl.create_default_context(cafile=str(ca))).content)
        os.environ["SSL_CERT_FILE"] = str(root)
        env_file = work / ".env"
        create_env(ROOT / ".env.example", env_file, bin_dir / "authd", COMMON_SETTINGS | {
            "PUBLIC_URL": f"https://{domain}",
            "ACME_CA_SERVER": f"https://{acme_host}:14000/dir",
            "ACME_CA_ROOT": str(ca),
            "PUBLISH_ADDRESS": address,
        })
        servers = [s for s in load_servers() if s.name == "time"]
        stack = Stack(env_file, None, work / "data", ROOT / "logs" / "e2e-https", bin_dir, servers=servers)
        stack.start()
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        os.environ.pop("SSL_CERT_FILE", None)
        pebble.terminate()
        pebble.wait(timeout=30)
        remove_block(project)


def test_https_with_a_certificate_from_the_acme_ca(https_stack):
    resp = httpx.get(f"{https_stack.public_url}/.well-known/oauth-authorization-server", timeout=10)
    assert resp.status_code == 200  # TLS verified against the test CA's root only
    assert resp.json()["issuer"] == https_stack.public_url


def test_http_redirected_to_https(https_stack):
    url = https_stack.url("time").replace("https://", "http://")
    resp = httpx.get(url, timeout=10)
    assert resp.status_code in (301, 308)
    assert resp.headers["location"] == https_stack.url("time")


@pytest.mark.anyio
async def test_oauth_and_tools_over_https(https_stack):
    from client import User

    user = User("dev", USERS["dev"])
    async with connect(https_stack.url("time"), user) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "convert_time" in names
    assert user.store(https_stack.url("time")).tokens.access_token
