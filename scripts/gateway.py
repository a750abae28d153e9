#!/usr/bin/env python3
"""Stack generator CLI: the MCP server fragments in compose/ rendered into edge configuration.

Commands:
  compose [--routing path|host] [--out DIR]   write compose/generated/ (run by `just up`)
  caddyfile --public-url URL --authd ADDR --sidecar mcp-NAME=ADDR ... [--log-dir DIR]
  routes [--routing path|host]                print the route table (both edges render it)
  new-server NAME --runtime python|node --package PKG --version V [--session-mode M] [--data]
             [-- COMMAND ...]                 write compose/mcp-NAME.yml

Exit codes: 0 ok, 64 bad fragment or arguments (one message naming every problem).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caddy import render_caddyfile  # noqa: E402
from envfile import read_env  # noqa: E402
from fragments import COMPOSE_DIR, ROOT, RUNTIMES, SESSION_MODES, FragmentError, Server  # noqa: E402
from fragments import load_servers, new_fragment  # noqa: E402
from routes import ROUTINGS, routes  # noqa: E402
from traefik import write_compose  # noqa: E402

EX_USAGE = 64


def setting(name: str, default: str) -> str:
    """A setting from the environment, else from the settings file (GATEWAY_ENV_FILE or `.env`)."""
    if name in os.environ:
        return os.environ[name]
    env = Path(os.environ.get("GATEWAY_ENV_FILE") or ROOT / ".env")
    return read_env(env).get(name, default) if env.exists() else default


def selected_servers(names: str) -> list[Server]:
    """MCP_SERVICES: blank = every fragment in compose/; else only the named servers, in both
    modes (an unknown name is an error naming the known ones)."""
    servers = load_servers()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        return servers
    known = {s.name: s for s in servers}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise FragmentError(f"MCP_SERVICES names {', '.join(unknown)}: no compose/mcp-<name>.yml "
                            f"(known: {', '.join(known)})")
    return [known[n] for n in dict.fromkeys(wanted)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compose", help="write the compose services and Traefik labels")
    p.add_argument("--routing", choices=ROUTINGS, default=None)
    p.add_argument("--out", type=Path, default=COMPOSE_DIR / "generated")
    p = sub.add_parser("caddyfile", help="print the native Caddyfile")
    p.add_argument("--public-url", required=True)
    p.add_argument("--authd", required=True, help="authd host:port")
    p.add_argument("--sidecar", action="append", default=[], help="mcp-NAME=host:port")
    p.add_argument("--log-dir", default=str(ROOT / "logs" / "caddy"))
    p = sub.add_parser("routes", help="print the route table")
    p.add_argument("--routing", choices=ROUTINGS, default="path")
    p = sub.add_parser("new-server", help="write a new fragment")
    p.add_argument("name")
    p.add_argument("--runtime", choices=RUNTIMES, required=True)
    p.add_argument("--package", required=True)
    p.add_argument("--version", required=True, help="pinned package version")
    p.add_argument("--session-mode", choices=SESSION_MODES, default="isolated")
    p.add_argument("--data", action="store_true", help="give the server a data directory")
    # The server command follows `--` (it may carry options of its own).
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if args.cmd == "new-server":
            command = command or [args.package.rsplit("/", 1)[-1]]
            path = new_fragment(args.name, args.runtime, args.package, args.version, command,
                                args.session_mode, args.data)
            print(f"wrote {path.relative_to(ROOT)}; `just run` or `just up` picks it up")
            return 0
        servers = selected_servers(setting("MCP_SERVICES", ""))
        if args.cmd == "compose":
            for path in write_compose(servers, args.routing or setting("ROUTING", "path"), args.out):
                print(f"wrote {path}")
        elif args.cmd == "caddyfile":
            sidecars = dict(s.split("=", 1) for s in args.sidecar)
            print(render_caddyfile(servers, args.public_url, args.authd, sidecars, args.log_dir))
        else:
            for r in routes(servers, args.routing):
                paths = " ".join(r.paths) or "*"
                auth = " forward-auth" if r.forward_auth else ""
                print(f"{r.priority} {r.id:32} {r.host or '*'} {paths} -> {r.target}{auth}")
    except (FragmentError, ValueError) as err:
        print(f"gateway.py: {err}", file=sys.stderr)
        return EX_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
