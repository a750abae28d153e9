"""Everything the stack and the tests install is pinned to an exact version, transitive packages
included, so that a build today is the build that was tested (and a vulnerable version cannot slip in
through a loose range). Advisories for the Rust crates are checked by `cargo deny` (`just audit`);
npm's and PyPI's vulnerability services are not reachable from this machine kind, so for those the
guarantee is the exact pins checked here."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import ROOT

EXACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[a-z0-9,_-]+\])?==[A-Za-z0-9.+!-]+$")


def requirement_lines(path):
    return [line.split("#")[0].strip() for line in path.read_text().splitlines()
            if line.split("#")[0].strip()]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_python_requirements_are_exact_pins():
    for path in (ROOT / "tests" / "requirements.txt", ROOT / "tests" / "constraints.txt",
                 ROOT / "scripts" / "bench-peers.txt"):
        loose = [line for line in requirement_lines(path) if not EXACT.match(line)]
        assert not loose, f"{path.name}: not pinned with ==: {loose}"


def test_every_installed_python_package_is_pinned():
    """What `pip freeze` lists in the project's virtualenv is exactly what the constraints pin."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude", "pip", "--exclude",
                             "setuptools"], check=True, capture_output=True, text=True).stdout
    installed = {normalize(line.split("==")[0]): line.split("==")[1]
                 for line in frozen.splitlines() if "==" in line}
    pinned = {normalize(line.split("==")[0]): line.split("==")[1]
              for line in requirement_lines(ROOT / "tests" / "constraints.txt")}
    unpinned = {name: version for name, version in installed.items() if pinned.get(name) != version}
    assert not unpinned, f"installed without an exact pin in tests/constraints.txt: {unpinned}"
    for line in requirement_lines(ROOT / "tests" / "requirements.txt"):
        name, version = line.split("==")
        assert pinned.get(normalize(name.split("[")[0])) == version, f"{line} disagrees with constraints.txt"


def test_npm_packages_are_exact_and_locked_with_integrity():
    manifest = json.loads((ROOT / "tests" / "package.json").read_text())
    loose = {k: v for k, v in manifest["dependencies"].items() if not re.match(r"^\d[\w.+-]*$", v)}
    assert not loose, f"package.json: not an exact version: {loose}"
    lock = json.loads((ROOT / "tests" / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 2
    packages = {path: meta for path, meta in lock["packages"].items() if path}
    assert packages
    unlocked = [path for path, meta in packages.items()
                if not meta.get("link") and not meta.get("integrity", "").startswith("sha512-")]
    assert not unlocked, f"package-lock.json entries without a sha512 integrity hash: {unlocked}"


def test_mcp_servers_are_pinned_in_their_fragments(servers):
    for server in servers:
        assert re.match(r"^\d[\w.+-]*$", server.version), f"{server.name}: version {server.version!r}"
