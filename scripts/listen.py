#!/usr/bin/env python3
"""Start a server on a listening socket bound here, handed over as file descriptor 3 with
`LISTEN_FDS=1` (the socket-activation protocol of sd_listen_fds(3), which authd and the sidecar
speak). The port is bound once and never released, so no other process can take it between the
moment it is chosen and the moment the server serves.

    listen.py bind PORT_FILE -- CMD [ARGS...]
        Binds 127.0.0.1 on a port the kernel picks, writes the port to PORT_FILE (complete once it
        exists: written aside and renamed), and becomes CMD with the socket at fd 3 and the port in
        `LISTEN_PORT` (for settings that name it, e.g. `sh -c '... exec sidecar serve ...'`).

    listen.py fd N -- CMD [ARGS...]
        Becomes CMD with the inherited descriptor N moved to fd 3 (the native launcher keeps each
        socket and hands it to every restart of its service).

    listen.py candidate
        Prints a port for a third-party server that binds its own (Caddy, the peers of the
        benchmarks): the caller starts it there and, if the port turns out to be taken, asks again.
"""

from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

HANDED_OVER_FD = 3


def candidate_port() -> int:
    """A port below the kernel's ephemeral range (so no outgoing connection is ever given it),
    not listened on right now. Not reserved: the caller retries if its server finds it taken."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port


def loopback_listener() -> socket.socket:
    """A listening socket on a loopback port the kernel picks; the port is ours while it lives."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def exec_with(fd: int, argv: list[str], port: int | None = None) -> None:
    """Replace this process by `argv`, with `fd` as the handed-over socket."""
    if fd != HANDED_OVER_FD:
        os.dup2(fd, HANDED_OVER_FD, inheritable=True)
        os.close(fd)
    else:
        os.set_inheritable(fd, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ.pop("LISTEN_PID", None)
    if port is not None:
        os.environ["LISTEN_PORT"] = str(port)
    os.execvp(argv[0], argv)


def main(argv: list[str]) -> int:
    if argv == ["candidate"]:
        print(candidate_port())
        return 0
    if len(argv) < 4 or argv[0] not in ("bind", "fd") or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 64
    mode, arg, command = argv[0], argv[1], argv[3:]
    if mode == "fd":
        exec_with(int(arg), command)
        return 1  # not reached: exec replaced this process
    sock = loopback_listener()
    port = sock.getsockname()[1]
    target = Path(arg)
    aside = target.with_name(target.name + ".tmp")
    aside.write_text(f"{port}\n")
    aside.rename(target)
    exec_with(sock.detach(), command, port)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
