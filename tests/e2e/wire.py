"""What crosses the wire between the edge and a sidecar, read off the real interface: an AF_PACKET
capture (root) of the TCP payloads sent to the sidecar's port, on loopback (native) or on the bridge
of the compose network the sidecars share with Traefik (promiscuous, so frames between two
containers are seen). Plain HTTP/1.1 flows there: the bytes are the request the sidecar receives."""

from __future__ import annotations

import socket
import struct
import threading
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1


class Capture:
    """Collects TCP payloads to `port` on `interface` while the `with` block runs."""

    def __init__(self, interface: str, port: int):
        self.interface, self.port = interface, port
        self.payload = bytearray()
        self._stop = threading.Event()

    def __enter__(self) -> "Capture":
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((self.interface, 0))
        mreq = struct.pack("iHH8s", socket.if_nametoindex(self.interface), PACKET_MR_PROMISC, 0, b"")
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)  # frames already on the wire are read before the capture stops
        self._stop.set()
        self.thread.join()
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, meta = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            # Loopback delivers every frame twice (outgoing and incoming): keep the incoming copy.
            if meta[2] == socket.PACKET_OUTGOING and self.interface == "lo":
                continue
            self._take(frame)

    def _take(self, frame: bytes) -> None:
        if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
            return
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != socket.IPPROTO_TCP:
            return
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20 or struct.unpack("!H", tcp[2:4])[0] != self.port:
            return
        self.payload += tcp[(tcp[12] >> 4) * 4:]

    def text(self) -> str:
        return self.payload.decode("latin-1")
