"""MCP server fragments: `compose/mcp-<name>.yml`, each an `x-mcp:` block, the single source of truth.

A fragment names the server, its runtime (python or node), the package and pinned version, the
command, and optional settings (session mode, environment, per-service allow lists). Everything else
(routes, middlewares, healthchecks, native processes) is derived from these by `routes.py`,
`traefik.py`, `caddy.py` and `run.py`.

It also says everything the server may touch, and nothing else is granted (`confine.py` enforces it
natively, `traefik.py` in the compose services):
  data: true             its own data directory, read-write, at /data (`{data}` in command and env)
  shared_data: true      that directory is storage every replica of the service may share (a
                         network file system the operator provides); without it a server with
                         `data: true` runs as one replica (`replica_counts`)
  volumes: [SRC:DST:ro]  host directories SRC at DST (absolute paths; `:ro` or `:rw`, default rw)
  egress: true           a network (the internet); without it the server has none at all
  repositories: [repo]   git repositories handed to the server as `--repository` (mcp-server-git's
                         option): relative paths lie in the data directory, absolute ones in a
                         read-write volume
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
# Where the server finds its data directory, in a container and in the native sandbox alike.
DATA_TARGET = "/data"
# Paths a volume may not cover: the data directory and what the sandbox or image itself provides.
RESERVED_TARGETS = ("/data", "/usr", "/etc", "/opt", "/proc", "/dev", "/sys", "/tmp", "/run",
                    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var", "/home", "/root")
# mcp-server-git keeps only the last `--repository` it is given (a click option, not a list): a
# second one would silently replace the first.
MAX_REPOSITORIES = 1


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _clean_absolute(path: str) -> bool:
    """An absolute path without `..`, `.`, empty components or variables (compose would expand `$`)."""
    parts = path.split("/")[1:]
    return path.startswith("/") and "$" not in path and ":" not in path and all(
        p not in ("", ".", "..") for p in parts)


@dataclasses.dataclass(frozen=True)
class Volume:
    """A host directory made visible to the server (`SRC:DST[:ro|rw]`)."""

    source: str
    target: str
    read_only: bool

    @classmethod
    def parse(cls, spec: str) -> Volume | str:
        """The volume, or the problem with `spec`."""
        parts = spec.split(":")
        mode = parts[2] if len(parts) == 3 else "rw"
        if len(parts) not in (2, 3) or mode not in ("ro", "rw"):
            return f"volume {spec!r} must be SRC:DST, SRC:DST:ro or SRC:DST:rw"
        source, target = parts[0], parts[1]
        if not (_clean_absolute(source) and _clean_absolute(target)):
            return f"volume {spec!r}: SRC and DST must be plain absolute paths"
        if target == "/" or any(_under(target, r) or _under(r, target) for r in RESERVED_TARGETS):
            return f"volume {spec!r}: DST must not overlap {', '.join(RESERVED_TARGETS)} (use /srv/...)"
        return cls(source, target, mode == "ro")

    def compose(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


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
    shared_data: bool = False
    egress: bool = False
    volumes: tuple[Volume, ...] = ()
    repositories: tuple[str, ...] = ()
    allow: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def service(self) -> str:
        return f"mcp-{self.name}"

    @property
    def env_suffix(self) -> str:
        """Service name as authd spells it in per-service variables (`ALLOWED_USERS_<SUFFIX>`)."""
        return self.name.upper().replace("-", "_")

    def argv(self, data_dir: str) -> list[str]:
        """The server command, `{data}` standing for `data_dir`, then one `--repository` per
        repository the fragment lists."""
        args = [a.replace("{data}", data_dir) for a in self.command]
        for repo in self.repository_paths(data_dir):
            args += ["--repository", repo]
        return args

    def repository_paths(self, data_dir: str) -> list[str]:
        return [r if r.startswith("/") else f"{data_dir}/{r}" for r in self.repositories]

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
    grant_problems, volumes = _grant_problems(meta)
    problems += grant_problems
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
        data=meta.get("data", False),
        shared_data=meta.get("shared_data", False),
        egress=meta.get("egress", False),
        volumes=tuple(volumes),
        repositories=tuple(meta.get("repositories", [])),
        allow=tuple((k, tuple(str(x) for x in allow[k])) for k in ALLOW_KINDS if allow.get(k)),
    )


def _grant_problems(meta: dict) -> tuple[list[str], list[Volume]]:
    """What the fragment grants (data, volumes, egress, repositories), checked; the volumes parsed."""
    problems: list[str] = []
    for key in ("data", "shared_data", "egress"):
        if not isinstance(meta.get(key, False), bool):
            problems.append(f"{key} must be true or false")
    has_data = meta.get("data") is True
    if meta.get("shared_data") is True and not has_data:
        problems.append("`shared_data: true` declares the data directory shared: grant `data: true`")
    volumes: list[Volume] = []
    specs = meta.get("volumes", [])
    if not (isinstance(specs, list) and all(isinstance(v, str) for v in specs)):
        problems.append("volumes must be a list of SRC:DST[:ro|rw] strings")
        specs = []
    for spec in specs:
        volume = Volume.parse(spec)
        if isinstance(volume, str):
            problems.append(volume)
        else:
            volumes.append(volume)
    problems += _repository_problems(meta.get("repositories", []), has_data, volumes)
    command, env = meta.get("command"), meta.get("env")
    templated = list(command if isinstance(command, list) else [])
    templated += list(env.values() if isinstance(env, dict) else [])
    if not has_data and any(isinstance(a, str) and "{data}" in a for a in templated):
        problems.append("`{data}` is used, so the fragment must grant `data: true`")
    return problems, volumes


def _repository_problems(repositories, has_data: bool, volumes: list[Volume]) -> list[str]:
    """Repositories lie in what the server may write: its data directory or a read-write volume."""
    if not (isinstance(repositories, list) and all(isinstance(r, str) and r for r in repositories)):
        return ["repositories must be a list of paths"]
    problems = []
    if len(repositories) > MAX_REPOSITORIES:
        problems.append(f"at most {MAX_REPOSITORIES} repository: mcp-server-git keeps only the last "
                        "--repository; serve another repository with another fragment")
    for repo in repositories:
        if repo.startswith("/"):
            if not (_clean_absolute(repo)
                    and any(_under(repo, v.target) and not v.read_only for v in volumes)):
                problems.append(f"repository {repo!r} must lie in a read-write volume")
        elif not _clean_absolute("/" + repo):
            problems.append(f"repository {repo!r} must be a plain path below the data directory")
        elif not has_data:
            problems.append(f"repository {repo!r} lies in the data directory: grant `data: true`")
    return problems


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


# Replicas per service, `.env` [1-64]: AUTHD_REPLICAS, MCP_REPLICAS (every MCP service) and
# MCP_REPLICAS_<NAME> (one service; NAME as `Server.env_suffix` spells it).
MAX_REPLICAS = 64


@dataclasses.dataclass(frozen=True)
class Replicas:
    """How many processes (native), tasks (Swarm) or pods (Kubernetes) each service runs."""

    authd: int
    mcp: tuple[tuple[str, int], ...]  # (server name, count), in the order of the servers given

    def of(self, server: Server) -> int:
        return dict(self.mcp)[server.name]


def _count(env, key: str, default: int, problems: list[str]) -> int:
    raw = (env.get(key) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
        problems.append(f"{key}: expected a whole number from 1 to {MAX_REPLICAS}, not {raw!r}")
        return default
    return int(raw)


def replica_counts(servers: list[Server], env, known: list[Server] | None = None) -> Replicas:
    """The replica counts of `.env` (`env`: a mapping of settings) for the selected `servers`, used
    by every mode; one FragmentError naming every invalid setting.

    A server with a data directory keeps one replica unless its fragment declares the data shared:
    two processes writing one directory each believe they own (a JSON-lines file, a git index)
    corrupt it, and separate directories per replica would answer differently per request.
    `MCP_REPLICAS` is a default, so it never raises such a server above one; only an explicit
    `MCP_REPLICAS_<NAME>` above one for it is an error. `known`: every fragment (default: those in
    compose/), so that a per-service variable naming no server is reported rather than ignored.
    """
    problems: list[str] = []
    authd = _count(env, "AUTHD_REPLICAS", 1, problems)
    default = _count(env, "MCP_REPLICAS", 1, problems)
    known_suffixes = {s.env_suffix for s in (known if known is not None else load_servers())}
    known_suffixes |= {s.env_suffix for s in servers}
    for key in sorted(k for k in env if k.startswith("MCP_REPLICAS_")):
        if key.removeprefix("MCP_REPLICAS_") not in known_suffixes:
            problems.append(f"{key}: no MCP server is named {key.removeprefix('MCP_REPLICAS_')!r} "
                            f"(MCP_REPLICAS_<NAME>, NAME upper-cased with `-` as `_`)")
    counts = []
    for s in servers:
        key = f"MCP_REPLICAS_{s.env_suffix}"
        pinned = s.data and not s.shared_data
        count = _count(env, key, 1 if pinned else default, problems)
        if pinned and count > 1:
            problems.append(f"{key}={count}: {s.name} writes a data directory, so it runs as one "
                            f"replica (declare `shared_data: true` in compose/{s.service}.yml only "
                            f"if that directory is storage every replica shares)")
            count = 1
        counts.append((s.name, count))
    if problems:
        raise FragmentError("\n".join(problems))
    return Replicas(authd, tuple(counts))
