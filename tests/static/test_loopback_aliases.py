"""Native mode serves a loopback PUBLIC_URL on its loopback aliases too (scripts/caddy.py), as
authd derives them (authd/src/resource/loopback.rs): the same cases on both sides, and the adapted
Caddy config (the real `caddy adapt`) has one site for all of them, bound on the loopback
addresses, before the catch-all that answers 421."""

from __future__ import annotations

import json
import subprocess

import pytest

from caddy import loopback_aliases, render_caddyfile


@pytest.mark.parametrize(("public_url", "aliases"), [
    ("http://127.0.0.1:8080", ["http://localhost:8080", "http://[::1]:8080"]),
    ("http://localhost:8080", ["http://127.0.0.1:8080", "http://[::1]:8080"]),
    ("http://LOCALHOST:8080", ["http://127.0.0.1:8080", "http://[::1]:8080"]),
    ("http://[::1]:9", ["http://127.0.0.1:9", "http://localhost:9"]),
    ("http://localhost", ["http://127.0.0.1", "http://[::1]"]),
    ("http://gw.example.com:8080", []),
    ("http://127.0.0.2:8080", []),
    ("http://localhost.example.com", []),
    ("https://localhost:8443", []),
])
def test_aliases_as_authd_derives_them(public_url, aliases):
    assert loopback_aliases(public_url) == aliases


def test_without_ipv6_loopback_no_ipv6_alias():
    assert loopback_aliases("http://127.0.0.1:8080", ipv6=False) == ["http://localhost:8080"]


def adapted(tmp_path, servers, public_url, aliases=None):
    sidecars = {s.service: f"127.0.0.1:{19000 + i}" for i, s in enumerate(servers)}
    path = tmp_path / "Caddyfile"
    path.write_text(render_caddyfile(servers, public_url, "127.0.0.1:18000", sidecars, str(tmp_path),
                                     aliases=aliases))
    out = subprocess.run(["caddy", "adapt", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)["apps"]["http"]["servers"]


def test_one_site_for_every_alias_then_the_421_catch_all(servers, tmp_path):
    public_url = "http://127.0.0.1:18080"
    (server,) = adapted(tmp_path, servers, public_url, loopback_aliases(public_url)).values()
    assert sorted(server["listen"]) == ["127.0.0.1:18080", "[::1]:18080"]
    site, catch_all = server["routes"]
    assert sorted(site["match"][0]["host"]) == ["127.0.0.1", "::1", "localhost"]
    assert "match" not in catch_all
    (respond,) = [h for r in catch_all["handle"][0]["routes"] for h in r["handle"]]
    assert respond["status_code"] == 421
    assert f"{public_url}/time/mcp" in respond["body"]


def test_no_ipv6_loopback_no_ipv6_listener(servers, tmp_path):
    (server,) = adapted(tmp_path, servers, "http://localhost:18080", ["http://127.0.0.1:18080"]).values()
    assert server["listen"] == ["127.0.0.1:18080"]
    site, _ = server["routes"]
    assert sorted(site["match"][0]["host"]) == ["127.0.0.1", "localhost"]


def test_a_public_name_has_no_aliases(servers, tmp_path):
    (server,) = adapted(tmp_path, servers, "http://192.0.2.10:18080").values()
    assert server["listen"] == ["192.0.2.10:18080"]
    site, catch_all = server["routes"]
    assert site["match"][0]["host"] == ["192.0.2.10"]
    assert "match" not in catch_all
