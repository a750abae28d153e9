#!/usr/bin/env python3
"""The soak test (`just soak [DURATION]`, `just test-soak`): the native stack of `just run` (Caddy,
authd, Redis, the development login, one sidecar per server; started through scripts/stack.py as the
end-to-end tests start it) under mixed, checked load from the project's Rust load generator
(`loadgen soak`: legacy sessions with JSON and SSE answers, a standalone GET stream, streams resumed
with `Last-Event-ID`, MCP 2026-07-28 stateless requests; on two servers at once) while a fault
schedule runs: kill -9 of an MCP server process under a sidecar, kill -9 and restart of a sidecar,
restart of authd, restart of Redis, a burst of malformed requests.

Pass criteria, all checked here or by the load generator: every request ends in its checked answer
or a defined error within its deadline; nothing is answered twice or to another request; every
client recovers (re-initializes after 404, resumes cut streams, retries after 502/503); every fault
ran at least once; no zombie during the run and no process of the stack left at the end; fds and
RSS of authd and every sidecar flat (procwatch.py). Reports: reports/<name>.json, .md and
-resources.csv (the fd and RSS curves).

Why a Python driver around the Rust load generator: the stack's own launcher (stack.py) is Python
and already knows how to start, kill and restart each service on its socket; the load generator is
the only client here that checks every answer, so the requests stay in Rust.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procwatch  # noqa: E402
from envfile import create_env  # noqa: E402
from fragments import ROOT, load_servers  # noqa: E402
from run import build  # noqa: E402
from stack import Stack, StackError, wait_until  # noqa: E402

# The servers under load and the tool each is called with: one Node server with a process per
# session (isolated), one Python server whose sessions share a pool (shared).
TARGETS = {"everything": "echo", "time": "time"}
WORKERS = {"json": 2, "sse": 2, "listen": 1, "resume": 1, "stateless": 2}
# The server whose child processes are killed; the sidecar killed and restarted is the other one's.
CHILD_KILLED, SIDECAR_KILLED = "everything", "time"
REQUEST_TIMEOUT_SECS = 30
# How long the processes of a killed sidecar may take to go (their stdin closed, they exit).
ORPHAN_GRACE_SECS = 30.0
PASSWORD = "soak-password-0"


def say(line: str) -> None:
    print(f"soak: {line}", file=sys.stderr, flush=True)


def seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"duration like 150s, 30m or 1h, not {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


class Faults:
    """The fault schedule. authd and sidecar restarts stop after two thirds of the fault window so
    that their last lifetime is long enough to judge their fds and RSS."""

    def __init__(self, stack: Stack, loadgen: Path, token_file: Path, watch: procwatch.Watch):
        self.stack, self.loadgen, self.token_file, self.watch = stack, loadgen, token_file, watch
        self.done: dict[str, int] = {}
        self.problems: list[str] = []
        self.log: list[dict] = []

    def kill_child(self) -> None:
        """kill -9 of one MCP server process (a leaf below the sidecar: the server itself, not the
        sandbox around it)."""
        svc = self.stack.services[f"mcp-{CHILD_KILLED}"]
        procs = procwatch.table()
        below = procwatch.descendants(svc.proc.pid, procs)
        leaves = [p for p in below if not any(procs[q][0] == p for q in below if q in procs)]
        if not leaves:
            raise RuntimeError(f"no MCP server process below mcp-{CHILD_KILLED}")
        os.kill(random.choice(leaves), signal.SIGKILL)

    def kill_sidecar(self) -> None:
        """kill -9 of a sidecar (no graceful stop), then a restart on the same socket. Its MCP
        server processes must go by themselves (their stdin closes)."""
        svc = self.stack.services[f"mcp-{SIDECAR_KILLED}"]
        family = [(p, procwatch.stat(p)) for p in procwatch.descendants(svc.proc.pid, procwatch.table())]
        os.kill(svc.proc.pid, signal.SIGKILL)
        svc.proc.wait()
        self.stack.restart(svc.name)

        def gone() -> bool:
            return all(not st or procwatch.stat(p) is None or procwatch.stat(p)[2] != st[2] for p, st in family)
        try:
            wait_until("the killed sidecar's MCP servers to exit", gone, None, None, ORPHAN_GRACE_SECS)
        except StackError as e:
            self.problems.append(f"orphans after kill -9 of {svc.name}: {e}")

    def restart_authd(self) -> None:
        self.stack.restart("authd")

    def restart_redis(self) -> None:
        self.stack.restart("redis")

    def malformed(self) -> None:
        done = subprocess.run([str(self.loadgen), "malformed", "--url", self.stack.url(CHILD_KILLED),
                               "--token-file", str(self.token_file), "--rounds", "3"],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            self.problems.append(f"malformed burst: {done.stderr.strip() or done.stdout.strip()}")

    def run(self, start: float, secs: float) -> None:
        """Faults from 10% of the run to 80% of it, then quiet: every client must end recovered."""
        begin, end = start + max(10.0, secs * 0.1), start + secs * 0.8
        restarts_until = begin + (end - begin) * 2 / 3
        cycle = [self.kill_child, self.restart_redis, self.kill_sidecar, self.malformed, self.restart_authd]
        gap = max(5.0, (end - begin) / (len(cycle) * max(1.0, secs / 300)))
        time.sleep(max(0.0, begin - time.monotonic()))
        i = 0
        while time.monotonic() < end:
            fault = cycle[i % len(cycle)]
            i += 1
            late = time.monotonic() > restarts_until
            if late and fault in (self.kill_sidecar, self.restart_authd) and self.done.get(fault.__name__):
                continue
            t = time.monotonic() - start
            at = time.strftime("%H:%M:%S", time.gmtime())
            try:
                fault()
            except Exception as e:  # noqa: BLE001 (a fault that cannot be applied fails the run)
                self.problems.append(f"{fault.__name__} at {t:.0f} s: {e}")
            self.done[fault.__name__] = self.done.get(fault.__name__, 0) + 1
            # Wall clock too (UTC): the load generator stamps its failure samples on that clock.
            self.log.append({"t": round(t, 1), "at": at, "fault": fault.__name__,
                             "took": round(time.monotonic() - start - t, 1)})
            say(f"{t:6.0f} s  {at} UTC  {fault.__name__}")
            time.sleep(gap)
        for fault in cycle:
            if not self.done.get(fault.__name__):
                self.problems.append(f"fault {fault.__name__} never ran (run longer)")


def sampler(stack: Stack, watch: procwatch.Watch, start: float, every: float, stop: threading.Event) -> None:
    names = ["authd", *(f"mcp-{n}" for n in TARGETS)]
    while not stop.wait(every):
        pids = {n: stack.services[n].proc.pid for n in names if stack.services[n].proc}
        watch.sample(time.monotonic() - start, pids)


def write_reports(prefix: Path, verdict: dict, watch: procwatch.Watch) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(verdict, indent=2) + "\n")
    with open(f"{prefix}-resources.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["t", "service", "pid", "fds", "rss_kib"])
        w.writeheader()
        w.writerows(watch.rows)
    load = verdict.get("load", {})
    lines = [f"# Soak test, {verdict['duration_secs']:.0f} s", "",
             f"`{verdict['command']}`: {'PASS' if verdict['pass'] else 'FAIL'}", "",
             "| client | requests | ok | p50 ms | p99 ms | defined errors | failures | recoveries |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, s in sorted(load.get("kinds", {}).items()):
        lines.append(f"| {kind} | {s['requests']} | {s['ok']} | {s['p50_ms']} | {s['p99_ms']} | "
                     f"{s['defined_errors'] or '-'} | {s['failures'] or '-'} | {s['recoveries'] or '-'} |")
    lines += ["", "Faults: " + ", ".join(f"{k} x{v}" for k, v in verdict["faults"].items()), "",
              "Fault log (UTC; failure samples in the problems below carry the same clock): "
              + ", ".join(f"{e['at']} {e['fault']}" for e in verdict.get("fault_log", [])), "",
              "| service | samples | seconds | fds first/last/max | RSS KiB first/last/max | flat |",
              "|---|---|---|---|---|---|"]
    for v in verdict["resources"]:
        lines.append(f"| {v['service']} | {v['samples']} | {v['seconds']} | "
                     f"{v.get('fds_first')}/{v.get('fds_last')}/{v.get('fds_max')} | "
                     f"{v.get('rss_kib_first')}/{v.get('rss_kib_last')}/{v.get('rss_kib_max')} | {v['flat']} |")
    lines += ["", "Problems: " + ("; ".join(verdict["problems"]) or "none"), ""]
    prefix.with_suffix(".md").write_text("\n".join(lines))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("duration", nargs="?", default="150s", type=seconds)
    parser.add_argument("--report", default="reports/soak", help="report path prefix (default reports/soak)")
    opts = parser.parse_args(argv)
    secs, report = opts.duration, ROOT / opts.report
    bin_dir = build(False)
    subprocess.run(["cargo", "build", "-p", "sidecar", "--example", "loadgen"], cwd=ROOT, check=True)
    loadgen = bin_dir / "examples" / "loadgen"
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    env_file = root / ".env"
    create_env(ROOT / ".env.example", env_file, bin_dir / "authd", {
        "PUBLIC_URL": "http://127.0.0.1:0", "DEV_LOGIN_USER": "dev", "DEV_LOGIN_PASSWORD": PASSWORD,
        "ALLOWED_USERS": "dev", "SIDECAR_PROBE_INTERVAL_SECS": "2"})
    servers = [s for s in load_servers() if s.name in TARGETS]
    # Logs per report name: a short and a long run can go on side by side.
    stack = Stack(env_file, "http://127.0.0.1:0", root / "data", ROOT / "logs" / report.name, bin_dir,
                  servers=servers, progress=say)
    watch, stop = procwatch.Watch(), threading.Event()
    verdict: dict = {"command": f"just soak {argv[0] if argv else ''}".strip(), "duration_secs": secs,
                     "problems": []}
    stack.start()
    try:
        plan, token_file = {"secs": secs, "request_timeout_secs": REQUEST_TIMEOUT_SECS, "targets": []}, None
        for name, tool in TARGETS.items():
            token = stack.admin("token", "mint", "--user", "oidc:dev", "--resource", stack.url(name),
                                "--ttl", str(int(secs) + 3600), "--name", "dev").strip()
            path = root / f"token-{name}"
            path.write_text(token)
            token_file = token_file or path
            plan["targets"].append({"name": name, "url": stack.url(name), "tool": tool, "token": token,
                                    "workers": WORKERS})
        (root / "plan.json").write_text(json.dumps(plan))
        start = time.monotonic()
        load = subprocess.Popen([str(loadgen), "soak", "--plan", str(root / "plan.json"),
                                 "--out", str(root / "load.json")], stderr=subprocess.PIPE, text=True)
        threading.Thread(target=sampler, args=(stack, watch, start, max(2.0, secs / 200), stop), daemon=True).start()
        faults = Faults(stack, loadgen, token_file, watch)
        faults.run(start, secs)
        _, err = load.communicate(timeout=secs + 4 * REQUEST_TIMEOUT_SECS)
        stop.set()
        verdict["faults"], verdict["fault_log"] = faults.done, faults.log
        verdict["problems"] += faults.problems + watch.reported
        try:
            verdict["load"] = json.loads((root / "load.json").read_text())
            verdict["problems"] += verdict["load"]["problems"]
        except (OSError, ValueError):
            verdict["problems"].append(f"the load generator wrote no summary: {err.strip()[-2000:]}")
    finally:
        stop.set()
        stack.stop()
    # Processes the sidecars left behind are reparented to pid 1, which reaps them in its own time.
    try:
        wait_until("the stack's processes to be gone", lambda: not watch.survivors(), None, None,
                   ORPHAN_GRACE_SECS)
    except StackError:
        pass  # listed below
    shutil.rmtree(root, ignore_errors=True)  # its data, tokens included
    left = watch.survivors()
    if left:
        verdict["problems"].append(f"processes left after the stack stopped: {left}")
    verdict["resources"] = watch.flatness()
    verdict["problems"] += [f"{v['service']}: fds or RSS grew {v}" for v in verdict["resources"] if v["flat"] is False]
    verdict["pass"] = not verdict["problems"]
    write_reports(report, verdict, watch)
    say(f"{'PASS' if verdict['pass'] else 'FAIL'}: {report}.md")
    for problem in verdict["problems"]:
        say(f"  {problem}")
    return 0 if verdict["pass"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
