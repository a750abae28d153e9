"""Local installation of each fragment's MCP server package at its pinned version (native mode).

Python servers go into the project virtualenv (`.venv`, git-ignored); Node servers are taken from
`tests/node_modules` when the pinned version is installed there (setup.sh installs the bundled
ones), else installed with npm into `.tools/mcp-node/<name>` (git-ignored). A version mismatch is
reinstalled, never silently used.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fragments import ROOT, Server

VENV = ROOT / ".venv"
NODE_MODULES = ROOT / "tests" / "node_modules"
NODE_PREFIX = ROOT / ".tools" / "mcp-node"


def _node_root(server: Server) -> Path:
    """The node_modules that holds (or will hold) this server's package."""
    shared = NODE_MODULES / server.package / "package.json"
    if shared.exists() and json.loads(shared.read_text()).get("version") == server.version:
        return NODE_MODULES
    return NODE_PREFIX / server.name / "node_modules"


def server_env_path(server: Server) -> Path:
    """Directory holding the server's executables (put first on the sidecar's PATH)."""
    if server.runtime == "python":
        return VENV / "bin"
    return _node_root(server) / ".bin"


def installed_version(server: Server) -> str | None:
    if server.runtime == "python":
        probe = ("import importlib.metadata as m, sys\n"
                 "try: print(m.version(sys.argv[1]))\nexcept m.PackageNotFoundError: pass")
        out = subprocess.run([str(VENV / "bin" / "python"), "-c", probe, server.package],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        return out or None
    manifest = _node_root(server) / server.package / "package.json"
    return json.loads(manifest.read_text()).get("version") if manifest.exists() else None


def ensure_installed(server: Server, log=print) -> None:
    """Install the pinned version unless it is there already (idempotent, registry clients only)."""
    if installed_version(server) == server.version:
        return
    spec = f"{server.package}=={server.version}" if server.runtime == "python" else f"{server.package}@{server.version}"
    log(f"installing {spec} for {server.service}")
    if server.runtime == "python":
        cmd = [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", spec]
    else:
        prefix = NODE_PREFIX / server.name
        prefix.mkdir(parents=True, exist_ok=True)
        cmd = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact", spec]
    subprocess.run(cmd, check=True, timeout=600)
    if installed_version(server) != server.version:
        raise RuntimeError(f"{spec} did not install")
