"""Native confinement of an MCP server to what its fragment grants, with bubblewrap (Linux
namespaces; Debian package `bubblewrap`).

The sidecar spawns `bwrap <namespaces and mounts> -- <server command>` for every child instead of
the command itself. Inside, the server finds:

    /usr (with /bin, /lib... as on the host)  the system's programs and libraries, read-only
    a few files of /etc                      the loader cache, time zone, CA certificates; with
                                              egress also the resolver's files
    /opt/mcp                                  its own install (`.tools/mcp/<package>-<version>`)
    /opt/node or the Python installation      its runtime, read-only
    /data                                     its data directory, read-write (when granted)
    the volumes of its fragment               at their targets, read-only or read-write
    /tmp, /proc, /dev                         a private tmpfs, its own processes, a minimal /dev

and nothing else: not the project tree, `.env`, Redis's data or socket, the launcher's files, other
servers' data. Without egress it has a network namespace of its own with only a loopback interface
(the sidecar talks to it over stdio). Its environment is built from scratch (PATH, HOME=/tmp,
TMPDIR, LANG, the user's name and the fragment's `env`), so no setting of the gateway reaches it.
It runs as uid/gid 10001 in a user namespace of its own, with every capability dropped and no way
to create further user namespaces, in a pid namespace of its own.

It stays in bwrap's process group, which the sidecar kills as a whole (its children are group
leaders); when the namespace's first process dies, the kernel kills the rest. Not `--die-with-parent`:
the parent death signal follows the thread that spawned the child (prctl(2) PR_SET_PDEATHSIG), and
the sidecar spawns from pool threads that end when idle, which would kill healthy servers. Not
`--new-session` either, which would take the server out of that group: the sidecar runs without a
controlling terminal (the launcher starts it in a session of its own, a container has none), so
there is no terminal to inject input into (the reason for that option).

`MCP_SANDBOX=off` runs servers as plain processes of the gateway's user instead (for hosts without
user namespaces; it grants everything the user can reach, so it is refused when a fragment mounts
volumes, whose targets exist only in a sandbox).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from fragments import DATA_TARGET, Server
from install import NODE_HOME, bin_subdir, install_dir, python_home

SANDBOXES = ("bubblewrap", "off")
PACKAGE_TARGET = "/opt/mcp"
NODE_TARGET = "/opt/node"
# The server's identity inside its user namespace (the uid of the Python images' user); files it
# creates belong to the gateway's user on the host.
SANDBOX_ID = "10001"
# Its user name, for programs that ask (GitPython names the committer after it). The uid has no
# entry in a passwd file: getpass(3)-style lookups read these variables first.
SANDBOX_USER = "mcp"
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
# Top-level directories that merged-/usr systems keep as symlinks into /usr (bound when real).
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/certs", "/etc/ca-certificates",
             "/etc/alternatives")
ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")
SYSTEM_NODE = ("/usr/bin/node", "/usr/local/bin/node")
PREFLIGHT_TIMEOUT_SECS = 30


def data_dir(sandbox: str, host_data: Path) -> str:
    """The data directory as the server sees it: /data in the sandbox, the host path without one."""
    return DATA_TARGET if sandbox == "bubblewrap" else str(host_data)


def _below(path: Path, dirs: tuple[str, ...]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in dirs)


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in TOP_LEVEL:
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return args


def _etc(egress: bool) -> list[str]:
    args = []
    for name in ETC_FILES + (ETC_NETWORK if egress else ()):
        if Path(name).exists():
            args += ["--ro-bind", name, name]
    return args


def _runtime(server: Server) -> tuple[list[str], list[str]]:
    """Mounts of the server's own install and runtime, and its PATH entries."""
    own_bin = f"{PACKAGE_TARGET}/{bin_subdir(server)}"
    args = ["--ro-bind", str(install_dir(server)), PACKAGE_TARGET]
    if server.runtime == "node":
        return args + ["--ro-bind", str(NODE_HOME), NODE_TARGET], [own_bin, f"{NODE_TARGET}/bin"]
    home = python_home(server)
    if not _below(home, ("/usr", *TOP_LEVEL)):
        args += ["--ro-bind", str(home), str(home)]
    # No Node for Python servers, as in their containers: readabilipy (mcp-server-fetch's HTML
    # extractor) finding one runs `npm install` into its own, read-only, package on first use and
    # fails the call; with `node` failing it extracts in pure Python.
    for node in SYSTEM_NODE:
        if Path(node).exists():
            args += ["--ro-bind", "/usr/bin/false", node]
    return args, [own_bin]


def _command(server: Server) -> list[str]:
    """The server command as run in the sandbox. A Python console script names the install's path
    in its `#!` line, which does not exist in the sandbox: the install's interpreter runs it."""
    argv = server.argv(DATA_TARGET)
    script = install_dir(server) / bin_subdir(server) / argv[0]
    if server.runtime == "python" and "/" not in argv[0] and script.is_file():
        own_bin = f"{PACKAGE_TARGET}/{bin_subdir(server)}"
        return [f"{own_bin}/python", f"{own_bin}/{argv[0]}", *argv[1:]]
    return argv


def bwrap_argv(server: Server, host_data: Path | None, hide: tuple[Path, ...] = ()) -> list[str]:
    """`bwrap ... -- command` confining `server` to its grant; `host_data` is its data directory.
    `hide`: host paths masked by an empty tmpfs should a system mount contain them (a project
    installed below /usr, say)."""
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--uid", SANDBOX_ID,
            "--gid", SANDBOX_ID, "--cap-drop", "ALL"]
    if server.egress:
        args.append("--share-net")
    args += _system() + _etc(server.egress)
    args += [a for path in hide if _below(path, ("/usr", *TOP_LEVEL)) for a in ("--tmpfs", str(path))]
    runtime, path = _runtime(server)
    args += runtime + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if server.data and host_data is not None:
        args += ["--bind", str(host_data), DATA_TARGET]
    for volume in server.volumes:
        args += ["--ro-bind" if volume.read_only else "--bind", volume.source, volume.target]
    env = {"PATH": ":".join([*path, *SYSTEM_PATH]), "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "USER": SANDBOX_USER, "LOGNAME": SANDBOX_USER}
    env.update(server.environment(DATA_TARGET))
    args += ["--chdir", DATA_TARGET if server.data else "/tmp", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *_command(server)]


def prepare_data(server: Server, host_data: Path) -> Path | None:
    """The server's data directory, made on first start with the repositories its fragment lists
    there (created empty: the git server refuses to start on a path that is not a repository).
    Repositories in volumes are the operator's own. None when the fragment grants no data."""
    if not server.data:
        return None
    host_data.mkdir(parents=True, exist_ok=True)
    for repo in server.repositories:
        if not repo.startswith("/") and not (host_data / repo).exists():
            subprocess.run(["git", "init", "--quiet", str(host_data / repo)], check=True, timeout=60)
    return host_data


def command(sandbox: str, server: Server, host_data: Path | None, hide: tuple[Path, ...],
            path: str) -> tuple[list[str], dict[str, str]]:
    """The sidecar's child command and the variables it adds to the child's environment: the
    sandbox builds that environment itself; a plain process inherits the sidecar's, with its own
    executables first on `path`."""
    if sandbox == "bubblewrap":
        return bwrap_argv(server, host_data, hide), {}
    data = str(host_data) if host_data is not None else ""
    own = [str(install_dir(server) / bin_subdir(server))]
    own += [str(NODE_HOME / "bin")] if server.runtime == "node" else []
    return server.argv(data), server.environment(data) | {"PATH": os.pathsep.join([*own, path])}


def check(sandbox: str, servers: list[Server]) -> list[str]:
    """Every problem with MCP_SANDBOX on this host, for the launcher's one start-up message. A
    sandbox that cannot be built stops the start: the servers never run unconfined by surprise."""
    if sandbox not in SANDBOXES:
        return [f"MCP_SANDBOX must be one of {', '.join(SANDBOXES)} (got {sandbox!r})"]
    if sandbox == "off":
        return [f"MCP_SANDBOX=off: {s.service} mounts volumes, which exist only in the sandbox"
                for s in servers if s.volumes]
    if shutil.which("bwrap") is None:
        return ["MCP_SANDBOX=bubblewrap needs bwrap (Debian package bubblewrap: `just setup`)"]
    probe = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
             *_system(), "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=PREFLIGHT_TIMEOUT_SECS)
    if done.returncode != 0:
        return [f"MCP_SANDBOX=bubblewrap: bwrap cannot create its namespaces here "
                f"({done.stderr.strip() or done.returncode}); allow unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1) or set MCP_SANDBOX=off"]
    return [f"{s.service}: volume source {v.source} does not exist"
            for s in servers for v in s.volumes if not Path(v.source).is_dir()]
