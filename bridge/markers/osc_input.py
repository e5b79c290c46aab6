"""OSC markers in: ``/marker <value> [<label>]`` on a UDP port (Max, Pure Data,
TouchDesigner, anything that speaks OSC).

``value`` is an int, a string (a decimal string becomes a number) or a float (truncated
to an integer); the optional second argument, a string, is the marker's label. The
marker's time is its arrival on this machine's LSL clock (``pylsl.local_clock()``): OSC
senders have no shared clock with us, and bundle time tags are ignored for that reason.

Datagrams are parsed with python-osc's packet parser (bundles included). A datagram
that does not parse is counted and logged the first time; messages to other addresses
are counted and ignored. The socket binds to 127.0.0.1 unless configured otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pylsl
from pythonosc.osc_packet import OscPacket, ParseError

from bridge.markers.marker import Marker, make_marker

log = logging.getLogger(__name__)

MARKER_ADDRESS = "/marker"
DEFAULT_HOST = "127.0.0.1"
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
        arrived = self._clock()  # first: the time of arrival, before any parsing
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


class OscMarkerInput:
    """The UDP endpoint; ``await start()``, ``close()``. ``port`` is the bound port
    (useful with port 0)."""

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
        self._transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @property
    def stats(self) -> OscInputStats:
        return self.protocol.stats

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self.protocol, local_addr=(self.host, self.requested_port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        log.info("listening for OSC %s on udp://%s:%d", MARKER_ADDRESS, self.host, self.port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
