#!/usr/bin/env python3
"""authd admin subcommands against the running native stack (`just mint-token`, clients, tokens,
users): runs `authd ARGS...` with the settings the launcher wrote to `data/authd.env` (Redis port,
issuer, signing key), since native mode picks its internal ports at start.

Usage: admin.py [--data-dir DIR] [--bin-dir DIR] ARGS...   e.g. admin.py token mint --user oidc:dev
       --resource http://127.0.0.1:8080/time/mcp
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import read_env  # noqa: E402
from fragments import ROOT  # noqa: E402
from stack import ADMIN_ENV, STATE_FILE  # noqa: E402


def gateway_bin_dir(data_dir: Path) -> Path:
    """The binaries of the running gateway (its `stack.json`), else the newest build there is."""
    try:
        return Path(json.loads((data_dir / STATE_FILE).read_text())["bin_dir"])
    except (OSError, ValueError, KeyError):
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        built = [d for d in (target / "release", target / "debug") if (d / "authd").exists()]
        return max(built, key=lambda d: (d / "authd").stat().st_mtime) if built else target / "release"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="admin.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--bin-dir", type=Path, help="default: the running gateway's (`just run` builds release)")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if opts.bin_dir is None:
        opts.bin_dir = gateway_bin_dir(opts.data_dir)
    env_file = opts.data_dir / ADMIN_ENV
    if not env_file.exists():
        print(f"admin.py: {env_file} missing: start the gateway first (`just run`)", file=sys.stderr)
        return 64
    env = os.environ | read_env(env_file)
    # In the caller's directory: a relative path (`keys rotate --env-file .env`) means what it says.
    return subprocess.run([str(opts.bin_dir / "authd"), *opts.args], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
