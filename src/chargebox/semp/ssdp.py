"""UPnP/SSDP announcement of the SEMP device, so that the Sunny Home Manager finds it.

Off by default: nothing is opened and nothing is sent until `SsdpAnnouncer.start()` runs,
which the runtime does only with `[semp] announce = true` and an `announce_interface`
address. Sends `NOTIFY ssdp:alive` (root device, UDN, the SEMP gateway type) every
`interval_s`, answers `M-SEARCH` for `ssdp:all`, `upnp:rootdevice`, the UDN or the SEMP
device type, and sends `ssdp:byebye` on stop. Multicast goes out on the given interface
address only, with TTL 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from chargebox.semp.protocol import DEVICE_TYPE

log = logging.getLogger(__name__)

GROUP = "239.255.255.250"
PORT = 1900
SERVER = "Linux UPnP/1.0 chargebox-semp/1"


@dataclass
class SsdpAnnouncer:
    interface: str  # IPv4 address of the interface to announce on
    location: str  # URL of the device description
    udn: str  # "uuid:…"
    interval_s: float = 900.0
    port: int = PORT
    sent: list[str] = field(default_factory=list)  # the start lines sent (for tests/diagnostics)

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[Any] | None = None

    def targets(self) -> list[tuple[str, str]]:
        """(NT/ST, USN) of every announcement."""
        return [
            ("upnp:rootdevice", f"{self.udn}::upnp:rootdevice"),
            (self.udn, self.udn),
            (DEVICE_TYPE, f"{self.udn}::{DEVICE_TYPE}"),
        ]

    def notify(self, nts: str = "ssdp:alive") -> list[bytes]:
        out = []
        for nt, usn in self.targets():
            lines = [
                "NOTIFY * HTTP/1.1",
                f"HOST: {GROUP}:{self.port}",
                "CACHE-CONTROL: max-age=1800",
                f"LOCATION: {self.location}",
                f"NT: {nt}",
                f"NTS: {nts}",
                f"SERVER: {SERVER}",
                f"USN: {usn}",
            ]
            out.append(("\r\n".join(lines) + "\r\n\r\n").encode())
        return out

    def answer(self, request: bytes) -> list[bytes]:
        """The unicast responses to an M-SEARCH (none for anything else)."""
        try:
            text = request.decode("utf-8", "replace")
        except Exception:
            return []
        head, *rest = text.split("\r\n")
        if not head.upper().startswith("M-SEARCH"):
            return []
        headers = {}
        for line in rest:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().upper()] = v.strip()
        if headers.get("MAN", "").strip('"') != "ssdp:discover":
            return []
        st = headers.get("ST", "")
        out = []
        for nt, usn in self.targets():
            if st in ("ssdp:all", nt):
                lines = [
                    "HTTP/1.1 200 OK",
                    "CACHE-CONTROL: max-age=1800",
                    "EXT:",
                    f"LOCATION: {self.location}",
                    f"SERVER: {SERVER}",
                    f"ST: {nt}",
                    f"USN: {usn}",
                ]
                out.append(("\r\n".join(lines) + "\r\n\r\n").encode())
        return out

    def _open(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", self.port))
        iface = socket.inet_aton(self.interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, iface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        mreq = struct.pack("4s4s", socket.inet_aton(GROUP), iface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        sock.setblocking(False)
        return sock

    def _send(self, sock: socket.socket, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):
            sock.sendto(data, addr)
            self.sent.append(data.split(b"\r\n", 1)[0].decode())

    async def start(self) -> None:
        if not self.interface:
            raise ValueError("SSDP needs the address of the interface to announce on")
        self._sock = self._open()
        self._task = asyncio.ensure_future(self._run(self._sock))
        log.info("SEMP: SSDP announcement on %s, LOCATION %s", self.interface, self.location)

    async def _run(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        next_notify = 0.0
        while True:
            now = loop.time()
            if now >= next_notify:
                for msg in self.notify():
                    self._send(sock, msg, (GROUP, self.port))
                next_notify = now + self.interval_s
            try:
                data, addr = await asyncio.wait_for(
                    loop.sock_recvfrom(sock, 2048), max(0.05, next_notify - now)
                )
            except TimeoutError:
                continue
            except OSError:
                await asyncio.sleep(0.1)
                continue
            for reply in self.answer(data):
                self._send(sock, reply, addr)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._sock is not None:
            for msg in self.notify("ssdp:byebye"):
                self._send(self._sock, msg, (GROUP, self.port))
            self._sock.close()
            self._sock = None
