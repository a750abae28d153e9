#!/usr/bin/env python3
"""`just doctor [native|compose]`: checks the prerequisites and `.env` of one deployment path and
says what to fix. Exit 0 when nothing is wrong (warnings allowed), 1 when something must be fixed.

Native (`just run`): the tools `just setup` installs, the settings as authd will see them
(`authd check`, with the values the launcher sets itself), the public port free, plain http on
loopback, the development login's password, the upstream provider's callback URL. Compose (`just up`): Docker and Compose, the names
under `BASE_DOMAIN` in DNS, ports 80 and 443, the ACME e-mail, the Redis password.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import confine  # noqa: E402
from caddy import ipv6_loopback, loopback_aliases, site_binds  # noqa: E402
from envfile import read_env  # noqa: E402
from fragments import ROOT, FragmentError, authd_env, load_servers  # noqa: E402
from run import PIDFILE, running_launcher, shown  # noqa: E402

EXAMPLE_PASSWORD = "dev-password-change-me"
DNS_TIMEOUT_SECS = 5.0
NODE = ROOT / ".tools" / "bin" / "node"


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, text: str) -> None:
        print(f"  ok    {text}")

    def warn(self, text: str) -> None:
        print(f"  warn  {text}")

    def fail(self, text: str) -> None:
        self.failures += 1
        print(f"  FAIL  {text}")


def version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else None


def tool(r: Report, name: str, cmd: list[str], fix: str) -> None:
    found = version(cmd) if shutil.which(cmd[0]) or Path(cmd[0]).exists() else None
    if found:
        r.ok(f"{name}: {found}")
    else:
        r.fail(f"{name} not found: {fix}")


def resolve(host: str) -> list[str] | None:
    """Addresses of `host`, or None when it does not resolve within DNS_TIMEOUT_SECS."""
    result: list[list[str]] = []

    def lookup() -> None:
        try:
            result.append(sorted({a[4][0] for a in socket.getaddrinfo(host, None)}))
        except OSError:
            pass

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(DNS_TIMEOUT_SECS)
    return result[0] if result else None


def local_addresses() -> set[str]:
    try:
        out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=10).stdout
        return {a["local"] for i in json.loads(out) for a in i.get("addr_info", [])}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {"127.0.0.1", "::1"}


def check_name(r: Report, host: str, what: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return  # an address needs no DNS
    except ValueError:
        pass
    if host == "localhost":
        return
    addresses = resolve(host)
    if addresses is None:
        r.fail(f"{what}: {host} does not resolve: create its DNS record (A/AAAA to this server)")
    elif not set(addresses) & local_addresses():
        r.warn(f"{what}: {host} resolves to {', '.join(addresses)}, not to an address of this machine "
               "(fine behind NAT or a port forward; otherwise fix the DNS record)")
    else:
        r.ok(f"{what}: {host} resolves to this machine ({', '.join(addresses)})")


def port_free(host: str, port: int) -> bool:
    """A diagnostic bind, released at once (nothing is handed to another process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def check_port(r: Report, host: str, port: int, why: str, ours: bool) -> None:
    if ours:
        r.ok(f"port {port}: in use by the running gateway")
    elif port_free(host, port):
        r.ok(f"port {port} ({why}) is free")
    else:
        r.fail(f"port {port} ({why}) is taken by another process: stop it or change PUBLIC_URL")


def check_settings(r: Report, env: dict[str, str], compose: bool) -> None:
    dev_login = not compose and env.get("UPSTREAM", "oidc") == "oidc" and bool(env.get("DEV_LOGIN_USER"))
    issuer = env.get("PUBLIC_URL", "").rstrip("/")
    if compose and env.get("ROUTING", "path") == "host":
        issuer = f"https://auth.{env.get('BASE_DOMAIN', '')}"
    if env.get("ALLOW_ALL_USERS", "false").lower() == "true":
        r.warn("ALLOW_ALL_USERS=true: every account of the upstream provider may log in")
    elif not any(env.get(k) for k in ("ALLOWED_USERS", "ALLOWED_EMAILS", "ALLOWED_DOMAINS", "ALLOWED_GITHUB_ORGS")):
        r.fail("every allow list is empty: set ALLOWED_USERS, ALLOWED_EMAILS, ALLOWED_DOMAINS or ALLOWED_GITHUB_ORGS")
    else:
        r.ok("allow lists set")
    if not env.get("REDIS_PASSWORD"):
        (r.fail if compose else r.warn)("REDIS_PASSWORD is blank: set one (`just run` generates it in a new .env)")
    if dev_login:
        if env.get("DEV_LOGIN_PASSWORD", "") in ("", EXAMPLE_PASSWORD):
            r.fail("DEV_LOGIN_PASSWORD is blank or the example value: set your own in .env")
        if issuer.startswith("https://"):
            r.warn("the development login is meant for local use: on a public URL use UPSTREAM=github or "
                   "your OpenID Connect provider (blank DEV_LOGIN_USER)")
        r.ok(f"login: development login, user '{env['DEV_LOGIN_USER']}'")
        return
    upstream = env.get("UPSTREAM", "oidc")
    prefix = "GITHUB" if upstream == "github" else "OIDC"
    missing = [f"{prefix}_{k}" for k in ("CLIENT_ID", "CLIENT_SECRET") if not env.get(f"{prefix}_{k}")]
    if missing:
        r.fail(f"{', '.join(missing)} blank: register an OAuth client at the provider")
    r.ok(f"login: {upstream}; the callback URL to register at the provider is {issuer}/callback")
    if upstream == "oidc" and env.get("OIDC_ISSUER"):
        url = env["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=5):
                r.ok(f"OIDC_ISSUER answers discovery ({url})")
        except (OSError, urllib.error.URLError) as err:
            r.warn(f"OIDC_ISSUER discovery {url} does not answer from here: {err}")


def check_authd(r: Report, env: dict[str, str], authd: Path) -> None:
    """`authd check` on the settings the native launcher gives authd."""
    if not authd.exists():
        r.warn(f"{authd} not built yet: `just run` builds it (settings not checked by authd)")
        return
    try:
        servers = load_servers()
    except FragmentError as err:
        r.fail(f"server fragments: {err}")
        return
    effective = env | authd_env(servers) | {
        "ROUTING": "path", "REDIS_URL": f"redis+unix://{ROOT / 'data' / 'redis' / 'redis.sock'}?db=0",
    }
    if effective.get("UPSTREAM", "oidc") == "oidc" and effective.get("DEV_LOGIN_USER"):
        # The launcher points authd at the development provider it starts.
        effective["OIDC_ISSUER"] = "http://127.0.0.1:9"
        effective["OIDC_CLIENT_SECRET"] = effective.get("OIDC_CLIENT_SECRET") or "set-by-the-launcher"
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    out = subprocess.run([str(authd), "check"], env=clean | effective, capture_output=True, text=True,
                         timeout=60, cwd="/")
    if out.returncode == 0:
        r.ok("authd accepts the settings (`authd check`)")
    else:
        problems = [line.strip(" -") for line in out.stderr.splitlines()[1:] if line.strip()]
        for p in problems or [out.stderr.strip()]:
            r.fail(f"authd: {p}")


def check_sandbox(r: Report, env: dict[str, str]) -> None:
    """The confinement of the MCP servers (`MCP_SANDBOX`), as the launcher checks it at start."""
    sandbox = env.get("MCP_SANDBOX") or "bubblewrap"
    try:
        problems = confine.check(sandbox, load_servers())
    except FragmentError as err:
        problems = [f"server fragments: {err}"]
    for p in problems:
        r.fail(p)
    if not problems and sandbox == "off":
        r.warn("MCP_SANDBOX=off: every MCP server can read and change all this user can (.env too)")
    elif not problems:
        r.ok("MCP servers confined by bubblewrap")


def native(r: Report, env: dict[str, str], env_file: Path, data_dir: Path, authd: Path) -> None:
    for name, cmd, fix in (
        ("redis-server", ["redis-server", "--version"], "`just setup` installs it (Debian package redis-server)"),
        ("redis-cli", ["redis-cli", "--version"], "`just setup` installs it (Debian package redis-tools)"),
        ("caddy", ["caddy", "version"], "`just setup` installs it (Debian package caddy)"),
        ("bwrap", ["bwrap", "--version"], "`just setup` installs it (Debian package bubblewrap)"),
        ("cargo", ["cargo", "--version"], "install Rust with rustup (https://rustup.rs)"),
        ("node", [str(NODE), "--version"], "`just setup` installs Node 22 into tests/node_modules"),
        ("python venv", [str(ROOT / ".venv" / "bin" / "python"), "--version"], "`just setup` creates .venv"),
    ):
        tool(r, name, cmd, fix)
    if env_file.exists():
        check_settings(r, env, compose=False)
        check_authd(r, env, authd)
        check_sandbox(r, env)
    else:
        r.warn(f"{env_file} missing: `just run` creates it from .env.example with fresh secrets")
        env = read_env(ROOT / ".env.example")
    url = urlsplit(env.get("PUBLIC_URL", "http://127.0.0.1:8080"))
    ours = running_launcher(data_dir / PIDFILE) is not None
    host = url.hostname or "127.0.0.1"
    if url.scheme == "https":
        # Caddy obtains the certificate by ACME: HTTP-01 on port 80, HTTPS on 443, the name in DNS.
        bind = env.get("PUBLISH_ADDRESS", "") or "0.0.0.0"
        for port, why in ((80, "HTTP and the ACME challenge"), (443, "HTTPS")):
            check_port(r, bind, port, why, ours)
        check_name(r, host, "PUBLIC_URL")
        return
    if url.scheme != "http":
        r.fail(f"PUBLIC_URL {env.get('PUBLIC_URL')!r}: expected http://host:port or https://<domain>")
        return
    # Caddy binds PUBLIC_URL's address and those of its loopback aliases (scripts/caddy.py).
    public_url = env.get("PUBLIC_URL", "http://127.0.0.1:8080")
    for address in site_binds([public_url, *loopback_aliases(public_url, ipv6_loopback())]):
        check_port(r, address, url.port or 80, f"PUBLIC_URL on {address}", ours)
    if host not in ("127.0.0.1", "localhost", "::1"):
        r.warn(f"PUBLIC_URL is plain http on {host}: tokens would cross the network unencrypted")


def compose(r: Report, env: dict[str, str], env_file: Path) -> None:
    tool(r, "docker", ["docker", "--version"], "install Docker Engine")
    tool(r, "docker compose", ["docker", "compose", "version"], "install the Compose v2 plugin")
    if version(["docker", "info", "--format", "{{.ServerVersion}}"]):
        r.ok("the Docker engine answers")
    else:
        r.fail("the Docker engine does not answer: start dockerd")
    if not env_file.exists():
        r.fail(f"{env_file} missing: copy .env.example to .env and fill it in")
        return
    domain = env.get("BASE_DOMAIN", "")
    if domain in ("", "example.com"):
        r.fail("BASE_DOMAIN is blank or example.com: set your domain")
    if env.get("ACME_EMAIL", "") in ("", "admin@example.com"):
        r.fail("ACME_EMAIL is blank or the example: Let's Encrypt sends expiry notices there")
    if not env.get("JWT_PRIVATE_KEY"):
        r.fail("JWT_PRIVATE_KEY is blank: `just generate-jwt-secret`")
    check_settings(r, env, compose=True)
    if env.get("ROUTING", "path") == "host":
        try:
            names = [f"auth.{domain}"] + [f"mcp-{s.name}.{domain}" for s in load_servers()]
        except FragmentError as err:
            r.fail(f"server fragments: {err}")
            names = []
        for name in names:
            check_name(r, name, "host routing")
    else:
        check_name(r, domain, "BASE_DOMAIN")
        if env.get("PUBLIC_URL", "").rstrip("/") != f"https://{domain}":
            r.fail(f"path routing: PUBLIC_URL must be https://{domain} (it is {env.get('PUBLIC_URL', '')!r})")
    for port, why in ((80, "HTTP and the ACME challenge"), (443, "HTTPS")):
        check_port(r, "0.0.0.0", port, why, False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="doctor.py", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", choices=["native", "compose"], default="native")
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = [p for p in (target / "release" / "authd", target / "debug" / "authd") if p.exists()]
    parser.add_argument("--authd", type=Path, default=built[0] if built else target / "release" / "authd")
    args = parser.parse_args(argv)
    env = read_env(args.env_file) if args.env_file.exists() else {}
    r = Report()
    print(f"doctor: {args.path} mode, settings from {shown(args.env_file)}")
    if args.path == "native":
        native(r, env, args.env_file, args.data_dir, args.authd)
    else:
        compose(r, env, args.env_file)
    print(f"doctor: {r.failures} problem{'s' if r.failures != 1 else ''} to fix" if r.failures
          else "doctor: nothing to fix")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
