"""What crosses the wire between the edge and a sidecar, read off the real interface: an AF_PACKET
capture (root) of the TCP payloads sent to the sidecar's port, on loopback (native) or on the bridge
of the compose network the sidecars share with Traefik (promiscuous, so frames between two
containers are seen). Caddy speaks HTTP/1.1 there: the bytes are the requests as text. Traefik speaks
HTTP/2 without TLS (scripts/traefik.py SIDECAR_SCHEME): its frames are decoded, header blocks with
HPACK (RFC 7541), whose table carries over from one request to the next, so the capture must see the
connection from its start (the edges' `fresh_wire`)."""

from __future__ import annotations

import socket
import struct
import threading
import time

import hpack

# RFC 9113 §3.4, §6.1, §6.2, §6.10.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, CONTINUATION = 0x0, 0x1, 0x9
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20
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
        """What the sidecar received: HTTP/1.1 as sent, or HTTP/2 as header lines and bodies."""
        data = bytes(self.payload)
        start = data.find(H2_PREFACE)
        return (http2_text(data[start + len(H2_PREFACE):]) if start >= 0 else data).decode("latin-1")


def http2_text(frames: bytes) -> bytes:
    """HTTP/2 frames as HTTP/1-like text: each header block as `name: value` lines, each DATA
    frame's payload as it is."""
    decoder, out, block, at = hpack.Decoder(), bytearray(), bytearray(), 0
    while at + 9 <= len(frames):
        length = int.from_bytes(frames[at:at + 3], "big")
        kind, flags = frames[at + 3], frames[at + 4]
        payload = frames[at + 9:at + 9 + length]
        at += 9 + length
        if kind in (DATA, HEADERS) and flags & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        if kind == HEADERS and flags & PRIORITY:
            payload = payload[5:]
        if kind == DATA:
            out += payload
        elif kind in (HEADERS, CONTINUATION):
            block += payload
            if flags & END_HEADERS:
                for name, value in decoder.decode(bytes(block), raw=True):
                    out += name + b": " + value + b"\r\n"
                out += b"\r\n"
                block.clear()
    return bytes(out)
