"""MCP server fragments: `compose/mcp-<name>.yml`, each an `x-mcp:` block, the single source of truth.

A fragment names the server, its runtime (python or node), the package and pinned version, the
command, and optional settings (session mode, environment, data directory, egress, volumes,
per-service allow lists). Everything else (routes, middlewares, healthchecks, native processes) is
derived from these by `routes.py`, `traefik.py`, `caddy.py` and `run.py`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")
RUNTIMES = ("python", "node")
SESSION_MODES = ("isolated", "shared")
ALLOW_KINDS = ("users", "emails", "domains", "github_orgs")
ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "compose"


class FragmentError(ValueError):
    """A fragment that cannot be used, with the file and every problem in it."""


@dataclasses.dataclass(frozen=True)
class Server:
    """One MCP server as its fragment describes it."""

    name: str
    runtime: str
    package: str
    version: str
    command: tuple[str, ...]
    session_mode: str = "isolated"
    env: tuple[tuple[str, str], ...] = ()
    data: bool = False
    egress: bool = False
    volumes: tuple[str, ...] = ()
    allow: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def service(self) -> str:
        return f"mcp-{self.name}"

    @property
    def env_suffix(self) -> str:
        """Service name as authd spells it in per-service variables (`ALLOWED_USERS_<SUFFIX>`)."""
        return self.name.upper().replace("-", "_")

    def argv(self, data_dir: str) -> list[str]:
        return [a.replace("{data}", data_dir) for a in self.command]

    def environment(self, data_dir: str) -> dict[str, str]:
        return {k: v.replace("{data}", data_dir) for k, v in self.env}

    def allow_env(self) -> dict[str, str]:
        return {f"ALLOWED_{kind.upper()}_{self.env_suffix}": ",".join(v) for kind, v in self.allow}


def parse_fragment(path: Path) -> Server:
    """Validate one fragment in one pass, naming every problem."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise FragmentError(f"{path}: not YAML: {err}") from err
    meta = doc.get("x-mcp") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        raise FragmentError(f"{path}: no `x-mcp:` mapping")
    problems: list[str] = []
    name = str(meta.get("name", ""))
    if not NAME_RE.match(name):
        problems.append(f"name {name!r} must match {NAME_RE.pattern}")
    elif path.name != f"mcp-{name}.yml":
        problems.append(f"file must be named mcp-{name}.yml")
    if meta.get("runtime") not in RUNTIMES:
        problems.append(f"runtime must be one of {', '.join(RUNTIMES)}")
    for key in ("package", "version"):
        if not isinstance(meta.get(key), str) or not meta.get(key):
            problems.append(f"{key} must be a non-empty string (pinned version, quoted)")
    command = meta.get("command")
    if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
        problems.append("command must be a non-empty list of strings")
    if meta.get("session_mode", "isolated") not in SESSION_MODES:
        problems.append(f"session_mode must be one of {', '.join(SESSION_MODES)}")
    env = meta.get("env", {})
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        problems.append("env must map names to strings")
    volumes = meta.get("volumes", [])
    if not (isinstance(volumes, list) and all(isinstance(v, str) for v in volumes)):
        problems.append("volumes must be a list of compose short-syntax strings")
    allow = meta.get("allow", {})
    if not isinstance(allow, dict) or set(allow) - set(ALLOW_KINDS):
        problems.append(f"allow keys must be among {', '.join(ALLOW_KINDS)}")
    unknown = set(meta) - {f.name for f in dataclasses.fields(Server)}
    if unknown:
        problems.append(f"unknown keys: {', '.join(sorted(unknown))}")
    if problems:
        raise FragmentError(f"{path}: " + "; ".join(problems))
    return Server(
        name=name,
        runtime=meta["runtime"],
        package=meta["package"],
        version=meta["version"],
        command=tuple(command),
        session_mode=meta.get("session_mode", "isolated"),
        env=tuple(sorted(env.items())),
        data=bool(meta.get("data", False)),
        egress=bool(meta.get("egress", False)),
        volumes=tuple(volumes),
        allow=tuple((k, tuple(str(x) for x in allow[k])) for k in ALLOW_KINDS if allow.get(k)),
    )


def load_servers(compose_dir: Path = COMPOSE_DIR) -> list[Server]:
    """Every fragment, sorted by name; all broken fragments reported together."""
    servers, errors = [], []
    for path in sorted(compose_dir.glob("mcp-*.yml")):
        try:
            servers.append(parse_fragment(path))
        except FragmentError as err:
            errors.append(str(err))
    if errors:
        raise FragmentError("\n".join(errors))
    return servers


def new_fragment(
    name: str,
    runtime: str,
    package: str,
    version: str,
    command: list[str],
    session_mode: str = "isolated",
    data: bool = False,
    compose_dir: Path = COMPOSE_DIR,
) -> Path:
    """Write `compose/mcp-<name>.yml` (never over an existing one) and check it parses."""
    path = compose_dir / f"mcp-{name}.yml"
    if path.exists():
        raise FragmentError(f"{path} exists already")
    meta: dict = {
        "name": name,
        "runtime": runtime,
        "package": package,
        "version": version,
        "command": command,
        "session_mode": session_mode,
    }
    if data:
        meta["data"] = True
    text = f"# {name}: {package} {version} (written by `just new-server`).\n"
    text += yaml.safe_dump({"x-mcp": meta}, sort_keys=False)
    path.write_text(text)
    try:
        parse_fragment(path)
    except FragmentError:
        path.unlink()
        raise
    return path


def authd_env(servers: list[Server]) -> dict[str, str]:
    """authd settings derived from the fragments: the service list and per-service allow lists."""
    env = {"MCP_SERVICES": ",".join(s.name for s in servers)}
    for s in servers:
        env.update(s.allow_env())
    return env
