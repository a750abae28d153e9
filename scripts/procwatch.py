"""Processes of a running stack seen from /proc (proc(5)): open file descriptors and resident memory
of each service, every descendant it ever had (to prove none outlives the stack) and zombies (exited
children their parent never reaped). Used by the soak test (scripts/soak.py)."""

from __future__ import annotations

import statistics
from pathlib import Path

# A growth bound between the first and the last third of a process's samples: more than this is a
# leak, not noise (allocator arenas and connection pools settle within the first third).
RSS_GROWTH = 1.25
RSS_SLACK_KIB = 8192
FD_SLACK = 8
# Fewer samples than this in a process's last lifetime say nothing about a trend.
MIN_SAMPLES = 9


def stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of `pid`, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0], fields[19]
    except (OSError, IndexError, ValueError):
        return None


def table() -> dict[int, tuple[int, str, str]]:
    """Every process: pid -> (parent, state, start time)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = stat(int(entry.name))
            if st:
                out[int(entry.name)] = st
    return out


def descendants(root: int, procs: dict[int, tuple[int, str, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def fds(pid: int) -> int | None:
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return None


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Watch:
    """Samples the services of a stack; remembers every process below them."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.seen: dict[tuple[int, str], str] = {}  # (pid, start time) -> command line
        self.zombies: dict[tuple[int, str], int] = {}  # times a process was seen as a zombie
        self.reported: list[str] = []

    def sample(self, t: float, services: dict[str, int]) -> None:
        procs = table()
        for name, pid in services.items():
            n, rss = fds(pid), rss_kib(pid)
            if n is not None and rss is not None:
                self.rows.append({"t": round(t, 1), "service": name, "pid": pid, "fds": n, "rss_kib": rss})
            for child in [pid, *descendants(pid, procs)]:
                ppid, state, start = procs.get(child, (0, "?", ""))
                key = (child, start)
                if key not in self.seen:
                    self.seen[key] = cmdline(child)
                if state == "Z":
                    self.zombies[key] = self.zombies.get(key, 0) + 1
                    # Seen twice, several seconds apart: its parent does not reap it.
                    if self.zombies[key] == 2:
                        self.reported.append(f"zombie {child} under {name} (parent {ppid}): {self.seen[key]}")

    def survivors(self) -> list[str]:
        """Processes seen below the stack that still exist (alive or zombie)."""
        out = []
        for (pid, start), line in self.seen.items():
            st = stat(pid)
            if st and st[2] == start:
                out.append(f"{pid} ({st[1]}): {line}")
        return out

    def curves(self) -> dict[str, list[dict]]:
        """Each service's samples of its last lifetime (a restart starts a new curve)."""
        out: dict[str, list[dict]] = {}
        for row in self.rows:
            curve = out.setdefault(row["service"], [])
            if curve and curve[-1]["pid"] != row["pid"]:
                curve.clear()
            curve.append(row)
        return out

    def flatness(self) -> list[dict]:
        """First third against last third (medians) of fds and RSS for each service."""
        verdicts = []
        for name, curve in sorted(self.curves().items()):
            third = len(curve) // 3
            v = {"service": name, "pid": curve[-1]["pid"], "samples": len(curve),
                 "seconds": round(curve[-1]["t"] - curve[0]["t"], 1)}
            if len(curve) < MIN_SAMPLES:
                v |= {"flat": None, "why": f"fewer than {MIN_SAMPLES} samples"}
                verdicts.append(v)
                continue
            first, last = curve[:third], curve[-third:]
            for key in ("fds", "rss_kib"):
                v[f"{key}_first"] = statistics.median(r[key] for r in first)
                v[f"{key}_last"] = statistics.median(r[key] for r in last)
                v[f"{key}_max"] = max(r[key] for r in curve)
            v["flat"] = (v["fds_last"] <= v["fds_first"] + FD_SLACK
                         and v["rss_kib_last"] <= v["rss_kib_first"] * RSS_GROWTH + RSS_SLACK_KIB)
            verdicts.append(v)
        return verdicts
