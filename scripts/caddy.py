"""Caddy rendering of the route table: the native-mode edge (path routing on one loopback origin).

Same routes as the Traefik labels (`routes.py` is the only source), in priority order inside one
`route` block so the first match wins exactly like Traefik's priorities. MCP routes: CORS
(client requirement E3 of docs/architecture/client-requirements.md, `OPTIONS` answered 204 without a
token), client-sent identity headers dropped, `forward_auth` to authd `/verify` copying the identity
headers (a non-2xx answer, with its `WWW-Authenticate`, goes back to the client unchanged: client
requirement E4), prefix stripped, and `flush_interval -1` so SSE is never buffered. No `encode`
anywhere: SSE must not be compressed.
A service with replicas (AUTHD_REPLICAS, MCP_REPLICAS*) gets all of them as upstreams, taken in
turn (round robin: a legacy session's requests then mostly reach a replica that forwards them to
the session's owner), each checked on `/health` (a replica that fails it, or drains, gets nothing
new) and a request whose connection is refused retried on another.
An https PUBLIC_URL is served with certificates from an ACME CA (`Acme`), HTTP redirected to HTTPS.
A loopback PUBLIC_URL is served on its loopback aliases too (`loopback_aliases`): authd gives each
alias its own resource URLs and token audiences; any other Host gets 421 naming PUBLIC_URL.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

from fragments import Server
from routes import AUTH_RESPONSE_HEADERS, CORS, IDENTITY_HEADERS, Route, routes


# A request body for a sidecar is read whole before it goes upstream. Streamed, it races Go's HTTP/1
# server (Caddy 2.6 is built with Go 1.19): a sidecar that answers as soon as it has the body lets
# Caddy start the response, and starting it closes the client's request body while the upstream
# transport may still be reading that body to its end; the read fails, the transport closes the
# sidecar connection, and a response longer than one read buffer (4 KiB) reaches the client
# truncated ("use of closed network connection" in Caddy's log). No `max_buffer_size`: in Caddy 2.6
# a body shorter than it is not closed after buffering, which keeps the race. Only behind
# forward-auth (a caller with a valid token): authd's routes are open to anyone. The buffer is bounded
# by `request_body max_size` at the sidecar's own discard bound (sidecar/src/http/body.rs): up to it
# the sidecar answers 413 for a body over SIDECAR_MAX_BODY_BYTES; beyond it Caddy 2.6 forwards a cut
# body, which ends as 502, the answer such a body got before (the sidecar closes on it).
BUFFER_REQUESTS = "buffer_requests"
MAX_BUFFERED_BODY = "64MiB"


# The loopback names of one machine (RFC 6761 section 6.3, RFC 8252 sections 7.3 and 8.3), as a URL
# spells them. authd derives the same aliases from PUBLIC_URL (authd/src/resource/loopback.rs).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def ipv6_loopback() -> bool:
    """Whether this host has the IPv6 loopback address (`::1` can be bound): `[::1]` is served only
    then, since Caddy refuses to start on an address it cannot bind."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def loopback_aliases(public_url: str, ipv6: bool = True) -> list[str]:
    """The other loopback origins of an http loopback PUBLIC_URL, same port (`http://localhost:8080`
    and `http://[::1]:8080` for `http://127.0.0.1:8080`); none for any other PUBLIC_URL (https needs
    a certificate per name, which no ACME CA issues for loopback). `[::1]` only with `ipv6`."""
    url = urlsplit(public_url)
    host = (url.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    if url.scheme != "http" or host not in LOOPBACK_HOSTS:
        return []
    port = f":{url.port}" if url.port else ""
    return [f"http://{h}{port}" for h in LOOPBACK_HOSTS if h != host and (ipv6 or h != "[::1]")]


def site_binds(origins: list[str]) -> list[str]:
    """The addresses Caddy binds for plain-http origins, once each (`localhost` is 127.0.0.1:
    /etc/hosts may not name ::1 for it)."""
    hosts = (urlsplit(o).hostname or "" for o in origins)
    return list(dict.fromkeys({"localhost": "127.0.0.1"}.get(h, h) for h in hosts))


def _matcher(route: Route) -> str | None:
    return f"@{route.id} path {' '.join(route.paths)}" if route.paths else None


Upstreams = str | list[str]
# Active health checks of replicated upstreams (Caddy's `health_*`), and how long a request may be
# retried on other replicas when its connection is refused.
HEALTH_INTERVAL = "1s"
HEALTH_TIMEOUT = "2s"
TRY_DURATION = "10s"


def _addresses(upstreams: Upstreams) -> list[str]:
    return [upstreams] if isinstance(upstreams, str) else list(upstreams)


def _upstream(route: Route, authd: Upstreams, sidecars: dict[str, Upstreams]) -> list[str]:
    return _addresses(authd if route.target == "authd" else sidecars[route.target])


def _balancing(upstreams: list[str], indent: str) -> list[str]:
    """Subdirectives that spread requests over replicas (none for a single upstream: a restarted
    process is then waited for in its socket's queue, as before)."""
    if len(upstreams) < 2:
        return []
    return [f"{indent}{line}" for line in (
        "lb_policy round_robin", f"lb_try_duration {TRY_DURATION}", "health_uri /health",
        f"health_interval {HEALTH_INTERVAL}", f"health_timeout {HEALTH_TIMEOUT}")]


# Caddy's own log of its active health checks (2.6): a replica starts in rotation, leaves it with
# each failed check (a refused or timed-out connection, a status other than 2xx) and comes back
# with `host is up` once a check passes again.
HEALTH_LOGGER = "http.handlers.reverse_proxy.health_checker.active"
BACK_IN_ROTATION = "host is up"


def out_of_rotation(log_text: str, hosts: list[str]) -> list[str]:
    """The upstreams among `hosts` whose last health-check outcome in Caddy's JSON log is a
    failure: Caddy sends them nothing until a check passes."""
    last: dict[str, str] = {}
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("logger") == HEALTH_LOGGER and entry.get("host") in hosts:
            last[entry["host"]] = entry.get("msg", "")
    return [h for h in hosts if last.get(h, BACK_IN_ROTATION) != BACK_IN_ROTATION]


def _handle(route: Route, authd: Upstreams, sidecars: dict[str, Upstreams]) -> list[str]:
    head = f"handle @{route.id} {{" if route.paths else "handle {"
    upstreams = _upstream(route, authd, sidecars)
    upstream = " ".join(upstreams)
    if not route.forward_auth:
        balancing = _balancing(upstreams, "\t\t\t")
        proxy = [f"\t\treverse_proxy {upstream} {{", *balancing, "\t\t}"] if balancing else \
            [f"\t\treverse_proxy {upstream}"]
        return [f"\t# priority {route.priority}: {route.id}", f"\t{head}", *proxy, "\t}"]
    authds = _addresses(authd)
    cors = [f'\t\t\t\t{k} "{v}"' for k, v in CORS.items()]
    lines = [
        f"\t# priority {route.priority}: {route.id} (forward-auth)",
        f"\t{head}",
        "\t\troute {",
        "\t\t\theader {",
        "\t\t\t\tdefer",
        *cors,
        "\t\t\t}",
        "\t\t\t@preflight method OPTIONS",
        "\t\t\trespond @preflight 204",
        *[f"\t\t\trequest_header -{h}" for h in IDENTITY_HEADERS],
        f"\t\t\tforward_auth {' '.join(authds)} {{",
        "\t\t\t\turi /verify",
        f"\t\t\t\tcopy_headers {' '.join(AUTH_RESPONSE_HEADERS)}",
        *_balancing(authds, "\t\t\t\t"),
        "\t\t\t}",
        # The client's token has served its purpose: it never reaches a sidecar.
        "\t\t\trequest_header -Authorization",
        "\t\t\trequest_body {",
        f"\t\t\t\tmax_size {MAX_BUFFERED_BODY}",
        "\t\t\t}",
    ]
    if route.strip_prefix:
        lines.append(f"\t\t\turi strip_prefix {route.strip_prefix}")
    lines += [
        f"\t\t\treverse_proxy {upstream} {{",
        "\t\t\t\tflush_interval -1",
        f"\t\t\t\t{BUFFER_REQUESTS}",
        *_balancing(upstreams, "\t\t\t\t"),
        "\t\t\t}",
        "\t\t}",
        "\t}",
    ]
    return lines


@dataclasses.dataclass(frozen=True)
class Acme:
    """HTTPS for an https PUBLIC_URL: certificates from an ACME CA (Caddy's built-in ACME client;
    Let's Encrypt unless `ca` names another directory, `root` the PEM its TLS chains to), kept in
    `storage`; `bind` the address to serve on (blank: every address: a public server)."""

    email: str = ""
    ca: str = ""
    root: str = ""
    storage: str = ""
    bind: str = ""


def acme_for(public_url: str, env: dict[str, str], storage: Path) -> Acme | None:
    """HTTPS settings when PUBLIC_URL is https (native one-server production), from the settings."""
    if urlsplit(public_url).scheme != "https":
        return None
    return Acme(email=env.get("ACME_EMAIL", ""), ca=env.get("ACME_CA_SERVER", ""), root=env.get("ACME_CA_ROOT", ""),
                storage=str(storage), bind=env.get("PUBLISH_ADDRESS", ""))


def _globals(log_dir: str, acme: Acme | None) -> list[str]:
    if acme is None:
        tls = ["\tauto_https off"]
    else:
        # HTTP is redirected to HTTPS by Caddy itself (its automatic redirects).
        tls = [f"\temail {acme.email}"] if acme.email else []
        tls += [f"\tacme_ca {acme.ca}"] if acme.ca else []
        tls += [f"\tacme_ca_root {acme.root}"] if acme.root else []
        tls += [f"\tstorage file_system {acme.storage}"] if acme.storage else []
    return [
        "# Generated by scripts/caddy.py from compose/mcp-*.yml: do not edit.",
        "{",
        "\tadmin off",
        *tls,
        "\tlog {",
        f"\t\toutput file {log_dir}/caddy.log",
        "\t\tformat json",
        "\t}",
        "\tservers {",
        "\t\ttimeouts {",
        # Client requirement E4: idle timeouts on streams at least 300 s.
        "\t\t\tidle 10m",
        "\t\t}",
        "\t}",
        "}",
        "",
    ]


def render_caddyfile(
    servers: list[Server], public_url: str, authd: Upstreams, sidecars: dict[str, Upstreams], log_dir: str,
    acme: Acme | None = None, aliases: list[str] | None = None,
) -> str:
    """The native Caddyfile: plain http on a loopback PUBLIC_URL, or HTTPS with ACME certificates
    for an https one (`acme`). `authd` and `sidecars` values are loopback `host:port` addresses, or
    lists of them (the replicas of a service). `aliases`: other origins served as the same site
    (`loopback_aliases`, the default)."""
    origin = urlsplit(public_url)
    if not origin.hostname or origin.scheme not in ("http", "https") or (origin.scheme == "https") != bool(acme):
        raise ValueError(f"native mode serves http on loopback or https with ACME, not {public_url!r}")
    missing = sorted({s.service for s in servers} - set(sidecars))
    if missing:
        raise ValueError(f"no sidecar address for {', '.join(missing)}")
    table = routes(servers, "path")
    aliases = loopback_aliases(public_url, ipv6_loopback()) if aliases is None else aliases
    site = [f"{origin.scheme}://{origin.netloc}", *aliases]
    binds = [acme.bind] if acme else site_binds(site)
    # Caddy spells an IPv6 bind address in brackets.
    bind = " ".join(f"[{b}]" if ":" in b else b for b in binds if b)
    lines = _globals(log_dir, acme) + [
        f"{', '.join(site)} {{",
        *([f"\tbind {bind}"] if bind else []),
        "\tlog {",
        f"\t\toutput file {log_dir}/access.log",
        "\t\tformat json",
        "\t}",
    ]
    lines += [f"\t{m}" for m in map(_matcher, table) if m]
    lines.append("\troute {")
    for route in table:
        lines += ["\t" + line for line in _handle(route, authd, sidecars)]
    lines += ["\t}", "}", ""]
    if acme is None:
        # (Over HTTPS another name fails at TLS already: no certificate is issued for it.)
        lines += misdirected_site(origin.scheme, bind, origin.port, public_url)
    return "\n".join(lines)


def misdirected_site(scheme: str, bind: str, port: int | None, public_url: str) -> list[str]:
    """Every other Host on the public port (a typo, a name of this machine that is no loopback
    alias) gets 421 naming the URL to use, instead of Caddy's empty 200 that clients report as a
    bad content type. Such a host cannot simply be served: a resource URL is the one the user
    pasted (RFC 9728 section 3.3, client requirement P2), and authd knows only PUBLIC_URL's origin
    and its loopback aliases."""
    port = port or (443 if scheme == "https" else 80)
    message = (f"this gateway serves {public_url} (PUBLIC_URL): use {public_url}/<name>/mcp, "
               f"e.g. {public_url}/time/mcp")
    return [
        f"{scheme}://:{port} {{",
        f"\tbind {bind}",
        f'\trespond "{message}" 421 {{',
        "\t\tclose",
        "\t}",
        "}",
        "",
    ]
