#!/usr/bin/env python3
"""authd admin subcommands against the running native stack (`just mint-token`, clients, tokens,
users): runs `authd ARGS...` with the settings the launcher wrote to `data/authd.env` (Redis port,
issuer, signing key), since native mode picks its internal ports at start.

Usage: admin.py [--data-dir DIR] [--bin-dir DIR] ARGS...   e.g. admin.py token mint --user oidc:dev
       --resource http://127.0.0.1:8080/time/mcp
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import read_env  # noqa: E402
from fragments import ROOT  # noqa: E402
from stack import ADMIN_ENV  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="admin.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    default_bin = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
    parser.add_argument("--bin-dir", type=Path, default=default_bin)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    env_file = opts.data_dir / ADMIN_ENV
    if not env_file.exists():
        print(f"admin.py: {env_file} missing: start the gateway first (`just run`)", file=sys.stderr)
        return 64
    env = os.environ | read_env(env_file)
    # In the caller's directory: a relative path (`keys rotate --env-file .env`) means what it says.
    return subprocess.run([str(opts.bin_dir / "authd"), *opts.args], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
