"""OSC markers in: ``/marker <value> [<label>]`` on a UDP port (Max, Pure Data,
TouchDesigner, anything that speaks OSC).

``value`` is an int, a string (a decimal string becomes a number) or a float (truncated
to an integer); the optional second argument, a string, is the marker's label. The
marker's time is its arrival on this machine's LSL clock (``pylsl.local_clock()``): OSC
senders have no shared clock with us, and bundle time tags are ignored for that reason.

Arrival is the kernel's receive time of the datagram (``SO_TIMESTAMPNS``), read by a
thread of its own and converted to the LSL clock in :mod:`bridge.clock`: a stalled event
loop, or the whole process stopped for a moment, does not move a marker (issue 16: a 5 s
stall had moved markers by up to 4.8 s when they were stamped on reading). Where the
kernel gives no time stamp, the thread stamps on reading.

Datagrams are parsed with python-osc's packet parser (bundles included). A datagram
that does not parse is counted and logged the first time; messages to other addresses
are counted and ignored. The socket binds to 127.0.0.1 unless configured otherwise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pylsl
from pythonosc.osc_packet import OscPacket, ParseError

from bridge.clock import lsl_from_epoch
from bridge.markers.marker import Marker, make_marker

log = logging.getLogger(__name__)

MARKER_ADDRESS = "/marker"
DEFAULT_HOST = "127.0.0.1"
# Linux's SO_TIMESTAMPNS (and its control message type); Python does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux: seconds, nanoseconds
MAX_DATAGRAM = 65_536
READ_TIMEOUT = 0.2  # the reader thread looks at its stop flag this often
CONTROL_ADDRESSES = frozenset({"/record/start", "/record/stop"})

# Remote control (``/record/start s``, ``/record/stop``): address, arguments, sender host.
OscControl = Callable[[str, list[Any], str], None]


@dataclass
class OscInputStats:
    datagrams: int = 0
    markers: int = 0
    malformed: int = 0
    ignored: int = 0  # valid OSC, other address
    unusable: int = 0  # /marker without a usable value


def marker_from_message(
    address: str, params: Sequence[Any], lsl_time: float, origin: str
) -> Marker | None:
    """The marker in one OSC message (None if it is not a usable ``/marker``)."""
    if address != MARKER_ADDRESS or not params:
        return None
    label = params[1] if len(params) > 1 and isinstance(params[1], str) else None
    return make_marker(params[0], lsl_time, origin, label)


class OscMarkerProtocol(asyncio.DatagramProtocol):
    """Turns each ``/marker`` datagram into a :class:`Marker` for ``deliver``."""

    def __init__(
        self,
        deliver: Callable[[Marker], None],
        clock: Callable[[], float] = pylsl.local_clock,
        on_control: OscControl | None = None,
    ) -> None:
        self._deliver = deliver
        self._clock = clock
        self._on_control = on_control
        self.stats = OscInputStats()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.handle(data, addr, self._clock())  # the time of arrival, before any parsing

    def handle(self, data: bytes, addr: tuple[str | Any, int], arrived: float) -> None:
        """One datagram that arrived at LSL time ``arrived``."""
        self.stats.datagrams += 1
        try:
            packet = OscPacket(data)
        except ParseError as exc:
            self.stats.malformed += 1
            if self.stats.malformed == 1:
                log.warning(
                    "malformed OSC datagram from %s:%s (%s); further ones are only counted",
                    addr[0], addr[1], exc,
                )
            return
        origin = f"osc:{addr[0]}:{addr[1]}"
        for timed in packet.messages:
            message = timed.message
            if message.address in CONTROL_ADDRESSES and self._on_control is not None:
                self._on_control(message.address, list(message.params), str(addr[0]))
                continue
            if message.address != MARKER_ADDRESS:
                self.stats.ignored += 1
                continue
            marker = marker_from_message(message.address, message.params, arrived, origin)
            if marker is None:
                self.stats.unusable += 1
                continue
            self.stats.markers += 1
            self._deliver(marker)


def kernel_arrival(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The LSL time of a datagram's ``SCM_TIMESTAMPNS`` control message, if any."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            return lsl_from_epoch(seconds + nanoseconds * 1e-9)
    return None


class OscMarkerInput:
    """The UDP endpoint, read by a thread that stamps each datagram with the kernel's
    receive time; ``await start()``, ``close()``. ``port`` is the bound port (useful
    with port 0)."""

    def __init__(
        self,
        deliver: Callable[[Marker], None],
        host: str = DEFAULT_HOST,
        port: int = 0,
        on_control: OscControl | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.protocol = OscMarkerProtocol(deliver, on_control=on_control)
        self.port = 0
        self.kernel_stamps = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def stats(self) -> OscInputStats:
        return self.protocol.stats

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if _is_ipv6(self.host) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel_stamps = True
            except OSError:
                self.kernel_stamps = False
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        sock.settimeout(READ_TIMEOUT)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._read, args=(sock, loop), name="osc-marker-input", daemon=True
        )
        self._thread.start()
        log.info("listening for OSC %s on udp://%s:%d", MARKER_ADDRESS, self.host, self.port)

    def _read(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        space = socket.CMSG_SPACE(TIMESPEC.size)
        while not self._stopping.is_set():
            try:
                data, ancillary, _flags, addr = sock.recvmsg(MAX_DATAGRAM, space)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            arrived = kernel_arrival(ancillary)
            if arrived is None:
                arrived = pylsl.local_clock()
            try:
                loop.call_soon_threadsafe(self.protocol.handle, data, addr, arrived)
            except RuntimeError:
                return  # the loop is closed: we are shutting down

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(READ_TIMEOUT * 3)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
