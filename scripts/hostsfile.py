"""The /etc/hosts lines `just up-test` adds so that the public names of a compose stack resolve to
this machine: one marked block per compose project, replaced as a whole and removed by `just down`.
Rewritten in place under a lock (in a container /etc/hosts is a bind mount that cannot be renamed
over)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

HOSTS = Path(os.environ.get("GATEWAY_HOSTS_FILE", "/etc/hosts"))


def _markers(project: str) -> tuple[str, str]:
    return f"# mcp-gateway {project} begin", f"# mcp-gateway {project} end"


def _without(lines: list[str], project: str) -> list[str]:
    begin, end = _markers(project)
    out, inside = [], False
    for line in lines:
        if line == begin:
            inside = True
        elif line == end and inside:
            inside = False
        elif not inside:
            out.append(line)
    return out


def _rewrite(project: str, block: list[str]) -> None:
    with open(HOSTS, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = _without(f.read().splitlines(), project) + block
        f.seek(0)
        f.truncate()
        f.write("\n".join(lines) + "\n")


def write_block(project: str, address: str, names: list[str]) -> None:
    """`address` for every name in `names`, replacing this project's previous block."""
    begin, end = _markers(project)
    _rewrite(project, [begin, f"{address} {' '.join(names)}", end])


def remove_block(project: str) -> None:
    _rewrite(project, [])
