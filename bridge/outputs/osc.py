"""Every bridged stream as OSC over UDP, in shapes Max/MSP, Pure Data and TouchDesigner
read without glue.

Per stream and headset one :class:`bridge.outputs.osc_stream.StreamSender` is built when
the stream is attached (:meth:`OscOutput.sinks_for`); a sample costs one ``struct.pack``
for all its messages (:class:`bridge.outputs.osc_codec.FrameEncoder`), a loop tick one
``send`` per target (bundles, below). This module owns the sockets: targets, the
request listener, status, markers and the labels timer.

Addresses (``P`` is ``osc.prefix``, plus ``/<headset id>`` when several headsets can run)::

    P/<stream>                 vector layout: every channel of a sample in one message
    P/<stream>/labels  s...    the names of P/<stream>'s arguments (start, request, 60 s)
    P/<stream>/electrodes      vector layout, eeg/dev/eq: the per-electrode values only
    P/pow/<band>     f         the mean of one band over the electrodes
    P/<stream>/<label>         split layout: one message per channel (AF3/theta -> .../AF3/theta)
    P/<stream>/<k>             vector too large for one datagram: part k (0, 1, ...)
    P/<stream>/time  iii       split layout with timestamps: day, second, microsecond
    P/com/<action>   f         com and fac: always one number per action (TouchDesigner),
                               sent when it changes and all of them once a second
    P/com/action     sf        com: the current action's name and power
    P/fac/<part>/action  sf    fac: per face part (eye, upper, lower)
    P/status         i         1 while data flows, 0 when not; about once a second
    P/marker         siiii     label, value, time (day, second, microsecond)

With ``osc.preset`` "emotivbci" or "mindmonitor" a stream sends only that tool's
addresses (:mod:`bridge.outputs.osc_presets`); no labels, status or markers. A
``P/labels/request`` datagram to ``osc.listen`` sends every labels message at once.

Bundles: to a target that takes them (``bundle``, on unless a target says otherwise) every
message of one event-loop tick travels in one ``#bundle`` datagram (timetag
"immediately"; more than one only past ``osc.max_datagram`` bytes), sent when the tick
ends: the first message of a tick schedules one flush with ``loop.call_soon``. One
``send`` per tick and target instead of one per message: with 16 headsets the bridge made
8 662 system calls a second, a third of its CPU. Outside the event loop (tests, other
threads) the messages of each call leave at once, as one bundle.

Sending never blocks and never raises into the pipeline: each target has its own
connected, non-blocking UDP socket (connected so that the kernel reports ICMP "port
unreachable" back to us as ``ECONNREFUSED``); a failed ``send`` is counted (per datagram),
logged once when a failure episode starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from bridge.config import OscSettings, parse_osc_target
from bridge.outputs.osc_codec import (
    IMMEDIATELY,
    MAX_MESSAGE,
    BundleBuffer,
    FrameEncoder,
    MessageEncoder,
    address_segment,
    bundle_overhead,
    day_time,
    ntp_timetag,
    pack_bundles,
)
from bridge.outputs.osc_layout import (
    ACTION_REFRESH_SECONDS,
    LABELS_INTERVAL_SECONDS,
    LABELS_REQUEST,
    RateGate,
    action_groups,
    address_table,
    stream_addresses,
)
from bridge.outputs.osc_stream import StreamSender
from bridge.status import StatusBoard
from bridge.streams import CATALOG, HeadsetInfo, StreamPlan

if TYPE_CHECKING:
    from bridge.clock import EpochOffsetTracker

__all__ = [
    "ACTION_REFRESH_SECONDS",
    "RECOVERY_QUIET_SECONDS",
    "STATUS_INTERVAL_SECONDS",
    "OscOutput",
    "RateGate",
    "TargetStats",
    "action_groups",
    "address_table",
    "stream_addresses",
]

log = logging.getLogger("bridge.osc")

# bridge.pipeline.Sink, restated: importing the pipeline would pull in liblsl here.
Sink = Callable[[Sequence[Any], float], None]

STATUS_INTERVAL_SECONDS: Final = 1.0
"""How often the daemon sends ``P/status`` per headset."""

REQUEST_QUIET_SECONDS: Final = 0.2
"""Labels requests closer together than this are answered once (a patch that sends one
per loadbang and a stuck button must not flood the targets)."""

RECOVERY_QUIET_SECONDS: Final = 5.0
"""A failing target counts as recovered after this long without a failed send. On
loopback Linux answers every datagram to a closed port with an ICMP error, which turns
up as ECONNREFUSED on the *next* send; sends in between succeed, so one success proves
nothing."""


@dataclass(slots=True)
class TargetStats:
    """Counters of one target, for status and tests."""

    target: str
    address: str = ""
    bundles: bool = False
    sent: int = 0
    failed: int = 0
    failing: bool = False


class _Target:
    """One UDP receiver: a connected non-blocking socket and its failure episode."""

    __slots__ = ("_episode_failures", "_last_failure", "_sock", "stats")

    def __init__(self, text: str, sock: socket.socket, address: str, *, bundles: bool) -> None:
        self._sock = sock
        self.stats = TargetStats(text, address, bundles=bundles)
        self._episode_failures = 0
        self._last_failure = 0.0

    def send(self, data: bytes) -> None:
        try:
            self._sock.send(data)
        except OSError as exc:
            self._failure(exc)
            if exc.errno != errno.ECONNREFUSED:
                return
            # The refusal was of an earlier datagram (the ICMP error waits for the next
            # send, and that send is not made): send this one, which a receiver that has
            # started since (one asking for the labels) would otherwise never get.
            try:
                self._sock.send(data)
            except OSError:
                return
        stats = self.stats
        stats.sent += 1
        if stats.failing and time.monotonic() - self._last_failure >= RECOVERY_QUIET_SECONDS:
            stats.failing = False
            log.info(
                "OSC target %s: sending again (%d datagram(s) failed in the meantime)",
                stats.target,
                self._episode_failures,
            )

    def _failure(self, exc: OSError) -> None:
        stats = self.stats
        stats.failed += 1
        self._last_failure = time.monotonic()
        if stats.failing:
            self._episode_failures += 1
            return
        stats.failing = True
        self._episode_failures = 1
        name = errno.errorcode.get(exc.errno or 0, "")
        log.warning(
            "OSC target %s: send failed (%s%s); OSC continues, further failures are "
            "counted, not logged, until the target accepts data again",
            stats.target,
            exc.strerror or exc,
            f" [{name}]" if name else "",
        )

    def close(self) -> None:
        self._sock.close()


def _resolve(text: str, lowest: int = 1) -> tuple[socket.AddressFamily, Any]:
    """(family, sockaddr) for a target; IPv4 first when a name has both (receivers such
    as oscdump listen on IPv4 only, and ``localhost`` often resolves to ``::1`` first)."""
    host, port = parse_osc_target(text, lowest)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"{host} has no address")
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


# ------------------------------------------------------------------------------------------
# The output
# ------------------------------------------------------------------------------------------


class OscOutput:
    """OSC over UDP to ``settings.targets``; see the module docstring for the addresses."""

    def __init__(
        self,
        settings: OscSettings,
        *,
        multi_headset: bool,
        board: StatusBoard | None = None,
    ) -> None:
        self.settings = settings
        self.multi_headset = multi_headset
        self.board = board
        self._targets: list[_Target] = []
        self._plain: list[_Target] = []  # each message its own datagram
        self._bundled: list[tuple[_Target, BundleBuffer]] = []  # one bundle per tick
        self._loop: asyncio.AbstractEventLoop | None = None  # where ticks are flushed
        self._flush_due = False
        self._unresolved: list[str] = []
        self._sample_time = settings.bundle == "sample_time"
        # sample_time: each sample's messages are a bundle with its time, inside the tick's.
        self._inner_limit = settings.max_datagram - bundle_overhead(1)
        self._streams = frozenset(settings.streams)
        self._wall: EpochOffsetTracker | None = None
        self._status: dict[str, MessageEncoder] = {}
        self._markers: dict[tuple[str, str], MessageEncoder] = {}
        self._marker_failed = False
        self._seen_samples: dict[str, int] = {}
        self._status_failed = False
        # The current sender per (headset, stream); a re-subscription replaces it.
        self.senders: dict[tuple[str, str], StreamSender] = {}
        self.oversized = 0
        self._native = settings.preset == "native"
        self._labels_due = time.monotonic() + LABELS_INTERVAL_SECONDS
        self._listener: socket.socket | None = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        self._request = f"{settings.prefix}/{LABELS_REQUEST}"
        self._last_request = float("-inf")
        self.requests = 0
        self.listen_address: tuple[str, int] | None = None

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Resolve every target once and open its socket. A target that cannot be
        resolved or opened is logged and left out; the others work."""
        if self.settings.timestamps == "epoch" or self._sample_time:
            from bridge.clock import EpochOffsetTracker  # LSL clock only when asked for

            self._wall = EpochOffsetTracker()
        for entry in self.settings.targets:
            text = entry.target
            try:
                family, sockaddr = _resolve(text)
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    sock.setblocking(False)
                    sock.connect(sockaddr)
                except OSError:
                    sock.close()
                    raise
            except OSError as exc:
                self._unresolved.append(text)
                log.error("OSC target %s: cannot be used (%s); not sending there", text,
                          exc.strerror or exc)
                continue
            shown = f"[{sockaddr[0]}]:{sockaddr[1]}" if family == socket.AF_INET6 else \
                f"{sockaddr[0]}:{sockaddr[1]}"
            buffer = (BundleBuffer(self.settings.max_datagram)
                      if self.settings.bundles_to(entry) else None)
            target = _Target(text, sock, shown, bundles=buffer is not None)
            self._targets.append(target)
            if buffer is None:
                self._plain.append(target)
            else:
                self._bundled.append((target, buffer))
        if self._targets:
            log.info(
                "OSC to %s (prefix %r, layout %s, preset %s)",
                ", ".join(f"{t.stats.target} ({'bundles' if t.stats.bundles else 'messages'})"
                          for t in self._targets),
                self.settings.prefix,
                self.settings.layout,
                self.settings.preset,
            )
        if self.settings.listen and self._native:
            self._open_listener(self.settings.listen)

    def _open_listener(self, text: str) -> None:
        """Listen for ``<prefix>/labels/request`` on the event loop (none: no listener;
        a port in use: logged, labels still go out on start and every minute)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        try:
            family, sockaddr = _resolve(text, lowest=0)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind(sockaddr)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            log.warning("OSC requests: cannot listen on %s (%s); labels still go out when "
                        "a stream starts and every %g s", text, exc.strerror or exc,
                        LABELS_INTERVAL_SECONDS)
            return
        self._listener, self._listener_loop = sock, loop
        self.listen_address = sock.getsockname()[:2]
        loop.add_reader(sock.fileno(), self._read_requests)
        log.info("OSC requests on %s:%d (%s)", *self.listen_address, self._request)

    def _read_requests(self) -> None:
        sock = self._listener
        while sock is not None:
            try:
                data = sock.recv(65536)
            except OSError:  # nothing more to read (or an ICMP error): wait for the next
                return
            address = data.split(b"\x00", 1)[0].decode("ascii", "replace")
            if address != self._request:
                log.debug("OSC request %r ignored (only %s)", address, self._request)
                continue
            self.requests += 1
            now = time.monotonic()
            if now - self._last_request >= REQUEST_QUIET_SECONDS:
                self._last_request = now
                self.send_labels()

    def close(self) -> None:
        """Say "not flowing" for every known headset, then close the sockets."""
        if self._listener is not None:
            if self._listener_loop is not None and not self._listener_loop.is_closed():
                self._listener_loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self.board is not None:
            for hid in list(self.board.headsets):
                self.send_status(hid, False)
        self._flush()  # the last tick's bundles, before the sockets go
        for target in self._targets:
            target.close()
        self._targets, self._plain, self._bundled = [], [], []

    # ------------------------------------------------------------------ streams

    def base_address(self, headset_id: str) -> str:
        """``prefix`` or ``prefix/<headset id>`` (several headsets)."""
        prefix = self.settings.prefix
        return f"{prefix}/{address_segment(headset_id)}" if self.multi_headset else prefix

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> list[Sink]:
        """The OSC sink of one stream (none if ``osc.streams`` leaves a Cortex stream out;
        other sources' streams are switched on and off in their own sections)."""
        if plan.stream in CATALOG and plan.stream not in self._streams:
            return []
        sender = StreamSender(self, plan, headset)
        if sender.preset_empty:
            return []
        self.senders[(headset.id, plan.stream)] = sender
        self.send_messages(sender.labels, None)  # a new stream, or a new channel layout
        return [sender]

    def send_labels(self) -> None:
        """Every current stream's labels messages (in the tick's bundle, like any other
        message, so they keep their place in the order)."""
        for sender in list(self.senders.values()):
            self.send_messages(sender.labels, None)

    def epoch_time(self, lsl_time: float) -> float:
        """An LSL time as Unix time (the wall-clock mapping of :mod:`bridge.clock`)."""
        if self._wall is None:
            from bridge.clock import EpochOffsetTracker

            self._wall = EpochOffsetTracker()
        # The epoch mapping treats "Cortex time" as this machine's Unix time.
        return self._wall.mapping.to_cortex(lsl_time)

    # ------------------------------------------------------------------ status, markers

    def send_status(self, headset_id: str, flowing: bool) -> None:
        """``P[/<headset>]/status i`` with 1 (data flowing) or 0 (not in a preset)."""
        if not self._native:
            return
        encoder = self._status.get(headset_id)
        if encoder is None:
            encoder = MessageEncoder(f"{self.base_address(headset_id)}/status", "i")
            self._status[headset_id] = encoder
        self.send_messages([encoder.encode((1 if flowing else 0,))], None)

    def tick_status(self) -> None:
        """Status of every headset on the board: flowing if any of its streams got a
        sample since the previous tick. Also re-measures the wall-clock offset, and sends
        the labels when a minute has passed."""
        if self._wall is not None:
            self._wall.update()
        now = time.monotonic()
        if now >= self._labels_due:
            self._labels_due = now + LABELS_INTERVAL_SECONDS
            self.send_labels()
        board = self.board
        if board is None:
            return
        try:
            self._tick(board)
        except Exception as exc:  # a status message must never end the daemon's task
            if not self._status_failed:
                self._status_failed = True
                log.warning("OSC status not sent: %s (not logged again)", exc)

    def _tick(self, board: StatusBoard) -> None:
        totals: dict[str, int] = dict.fromkeys(board.headsets, 0)
        for (hid, _stream), stats in list(board.streams.items()):
            totals[hid] = totals.get(hid, 0) + stats.samples
        for hid, total in totals.items():
            flowing = total > self._seen_samples.get(hid, 0)
            self._seen_samples[hid] = total
            self.send_status(hid, flowing)

    def send_marker(self, headset_id: str, label: str, value: int, lsl_time: float) -> None:
        """Marker echo: ``P[/<headset>]/marker`` with label, value, day, second, microsecond.

        The time is LSL time, or Unix time when ``osc.timestamps = "epoch"``. The value
        is an ``i``; one beyond int32 (or a float) is sent as ``f``, anything else as its
        text (``s``). Never raises; a marker that cannot be sent is logged once. Presets
        send no markers (neither EmotivBCI nor Mind Monitor has such an address).
        """
        if not self._native:
            return
        try:
            arg: int | float | str
            if isinstance(value, int) and -(2**31) <= value < 2**31:
                tag, arg = "i", int(value)
            elif isinstance(value, int | float):
                tag, arg = "f", float(value)
            else:
                tag, arg = "s", str(value)
            key = (headset_id, tag)
            encoder = self._markers.get(key)
            if encoder is None:
                address = f"{self.base_address(headset_id)}/marker"
                encoder = self._markers[key] = MessageEncoder(address, f"s{tag}iii")
            stamp = day_time(
                self.epoch_time(lsl_time) if self.settings.timestamps == "epoch" else lsl_time
            )
            message = encoder.encode((str(label), arg, *stamp))
            if len(message) > MAX_MESSAGE:
                raise ValueError("the marker label is too long for one datagram")
            self.send_messages([message], lsl_time)
        except Exception as exc:
            if not self._marker_failed:
                self._marker_failed = True
                log.warning("OSC marker %r for %s not sent: %s (not logged again)",
                            label, headset_id, exc)

    # ------------------------------------------------------------------ sending

    def send_messages(self, messages: Sequence[bytes], lsl_time: float | None) -> None:
        """Messages of one sample (or labels, status, a marker), in order: each its own
        datagram to targets without bundles, into the tick's bundle to the others
        (``sample_time``: as one inner bundle with the sample's time). A message larger
        than :data:`MAX_MESSAGE` is dropped and counted (``oversized``)."""
        if max(map(len, messages), default=0) > MAX_MESSAGE:  # (in C: this runs per sample)
            self.oversized += sum(1 for m in messages if len(m) > MAX_MESSAGE)
            messages = [m for m in messages if len(m) <= MAX_MESSAGE]
        for target in self._plain:
            for message in messages:
                target.send(message)
        if not self._bundled or not messages:
            return
        if self._sample_time and lsl_time is not None:
            timetag = ntp_timetag(self.epoch_time(lsl_time))
            messages = pack_bundles(timetag, messages, self._inner_limit)
        self._queue(messages)

    def send_framed(self, framed: bytes, frame: FrameEncoder) -> None:
        """One sample's messages as ``frame`` encoded them (the hot path: the EEG vector
        and its electrodes); never blocks, never raises. Into each bundling target's
        bundle as one part; split into its messages only for targets without bundles,
        outside the loop, or where the tick's datagram ends. The encoder's messages are
        built within :data:`MAX_MESSAGE`."""
        for target in self._plain:
            for message in frame.split(framed):
                target.send(message)
        if not self._bundled:
            return
        loop = asyncio._get_running_loop()  # as in _queue
        if loop is None or (loop is not self._loop and not self._adopt(loop)):
            self._send_now(frame.split(framed))
            return
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        count = frame.count
        for target, buffer in self._bundled:
            if not buffer.put(framed, count):  # the datagram ends inside this sample
                for message in frame.split(framed):
                    full = buffer.add(message)
                    if full is not None:
                        target.send(full)

    def _queue(self, elements: Sequence[bytes]) -> None:
        """Into every bundling target's bundle; the first of a tick schedules the flush.
        Called outside our loop (no loop, or another thread's): sent at once instead."""
        loop = asyncio._get_running_loop()  # None outside a loop; no exception to pay for
        if loop is None or (loop is not self._loop and not self._adopt(loop)):
            self._send_now(elements)
            return
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        for target, buffer in self._bundled:
            for element in elements:
                full = buffer.add(element)
                if full is not None:  # past max_datagram: this part leaves now, in order
                    target.send(full)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Make ``loop`` the one that flushes ticks, if there is none yet or the old one
        has stopped (a restart in tests); not while another loop is running."""
        if self._loop is not None and self._loop.is_running():
            return False
        self._flush()  # what a stopped loop never flushed
        self._loop = loop
        return True

    def _send_now(self, elements: Sequence[bytes]) -> None:
        for target, buffer in self._bundled:
            for datagram in pack_bundles(IMMEDIATELY, elements, buffer.limit):
                target.send(datagram)

    def _flush(self) -> None:
        """End of a tick: each bundling target's datagram, one ``send`` each."""
        self._flush_due = False
        for target, buffer in self._bundled:
            data = buffer.take()
            if data is not None:
                target.send(data)

    def target_stats(self) -> list[TargetStats]:
        """Counters per open target."""
        return [target.stats for target in self._targets]
