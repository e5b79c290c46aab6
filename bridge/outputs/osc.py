"""Every bridged stream as OSC over UDP, in shapes Max/MSP, Pure Data and TouchDesigner
read without glue.

Per stream and headset one :class:`_StreamSender` is built when the stream is attached
(:meth:`OscOutput.sinks_for`): its addresses, type tags, datagram split and rate gate are
computed there, from the plan's channel labels and the catalog, so a sample costs one
``struct.pack`` per message and one ``send`` per target.

Addresses (``P`` is ``osc.prefix``, plus ``/<headset id>`` when several headsets can run)::

    P/<stream>                 vector layout: every channel of a sample in one message
    P/<stream>/<label>         split layout: one message per channel (AF3/theta -> .../AF3/theta)
    P/<stream>/<k>             vector too large for one datagram: part k (0, 1, ...)
    P/<stream>/time  ii        split layout with timestamps: the sample time
    P/com/<action>   f         com and fac: always one number per action (TouchDesigner),
                               sent when it changes and all of them once a second
    P/com/action     sf        com: the current action's name and power
    P/fac/<part>/action  sf    fac: per face part (eye, upper, lower)
    P/status         i         1 while data flows, 0 when not; about once a second
    P/marker         siii      label, value, time (seconds, microseconds)

Sending never blocks and never raises into the pipeline: each target has its own
connected, non-blocking UDP socket (connected so that the kernel reports ICMP "port
unreachable" back to us as ``ECONNREFUSED``); a failed ``send`` is counted, logged once
when a failure episode starts and once when it ends.
"""

from __future__ import annotations

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
    MAX_DATAGRAM,
    MessageEncoder,
    address_segment,
    bundle_overhead,
    ntp_timetag,
    pack_bundles,
    split_time,
)
from bridge.outputs.osc_layout import (
    ACTION_ADDRESS,
    ACTION_REFRESH_SECONDS,
    RateGate,
    action_groups,
    address_table,
    is_action_stream,
    stream_addresses,
)
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
    sent: int = 0
    failed: int = 0
    failing: bool = False


class _Target:
    """One UDP receiver: a connected non-blocking socket and its failure episode."""

    __slots__ = ("_episode_failures", "_last_failure", "_sock", "stats")

    def __init__(self, text: str, sock: socket.socket, address: str) -> None:
        self._sock = sock
        self.stats = TargetStats(text, address)
        self._episode_failures = 0
        self._last_failure = 0.0

    def send(self, data: bytes) -> None:
        try:
            self._sock.send(data)
        except OSError as exc:
            self._failure(exc)
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


def _resolve(text: str) -> tuple[socket.AddressFamily, Any]:
    """(family, sockaddr) for a target; IPv4 first when a name has both (receivers such
    as oscdump listen on IPv4 only, and ``localhost`` often resolves to ``::1`` first)."""
    host, port = parse_osc_target(text)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"{host} has no address")
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


# ------------------------------------------------------------------------------------------
# Per-stream sender
# ------------------------------------------------------------------------------------------


class _StreamSender:
    """The sink of one (headset, stream): sample -> messages -> datagrams -> targets."""

    def __init__(self, out: OscOutput, plan: StreamPlan, headset: HeadsetInfo) -> None:
        settings = out.settings
        self._out = out
        self.name = f"{headset.id}/{plan.stream}"
        base = out.base_address(headset.id) + "/" + plan.stream
        numeric = plan.channel_format != "string"
        tag = "f" if numeric else "s"
        self._timed = settings.timestamps != "off"
        self._epoch = settings.timestamps == "epoch"
        time_tags = "ii" if self._timed else ""
        limit = MAX_DATAGRAM - (bundle_overhead(1) if settings.bundle != "off" else 0)
        count = plan.channel_count
        layout = settings.layout_of(plan.stream)

        # Vector layout: one message, or parts when it would not fit one datagram.
        self._vector: list[tuple[MessageEncoder, slice]] = []
        if layout == "vector":
            whole = MessageEncoder(base, time_tags + tag * count)
            if not numeric or whole.size <= limit:
                self._vector.append((whole, slice(0, count)))
            else:
                self._vector = _vector_parts(base, time_tags, count, limit)

        # Split layout, and always for action streams: one number per channel.
        per_channel = layout == "split" or is_action_stream(plan.stream)
        addresses = stream_addresses(base, plan) if per_channel else []
        self._split = [(MessageEncoder(a, tag), i) for i, a in enumerate(addresses)]
        # Action streams: each number when it changes, all once a second (see
        # ACTION_REFRESH_SECONDS); other split streams: every channel of every sample.
        self._on_change = is_action_stream(plan.stream)
        self._last_split: list[Any] = [None] * len(self._split)
        self._refresh_due = float("-inf")
        self._time = (
            MessageEncoder(f"{base}/time", "ii") if self._timed and layout == "split" else None
        )
        labels = plan.labels
        self._actions = [
            (
                MessageEncoder(f"{base}/{group}/{ACTION_ADDRESS}" if group else
                               f"{base}/{ACTION_ADDRESS}", "sf"),
                indices,
                {i: labels[i][len(group) + 1 if group else 0 :] for i in indices},
            )
            for group, indices in action_groups(plan)
        ]
        cap = settings.rate_caps.get(plan.stream)
        rate = plan.nominal_rate
        self._gate = RateGate(cap, rate) if cap is not None and (rate <= 0 or cap < rate) else None
        # The common case (vector, no time, no bundle): one pack, one send per target.
        self._fast = (
            self._vector[0][0].encode
            if len(self._vector) == 1 and not self._split and not self._actions
            and not self._timed and settings.bundle == "off" and numeric
            else None
        )
        self._limit = limit
        self._reported = False
        self.messages = 0
        self.errors = 0

    def __call__(self, sample: Sequence[Any], lsl_time: float) -> None:
        gate = self._gate
        if gate is not None and not gate.admit(lsl_time):
            return
        try:
            fast = self._fast
            if fast is not None:
                self._out.send_datagram(fast(sample))
                self.messages += 1
                return
            self._send(sample, lsl_time)
        except Exception as exc:  # never into the LSL path
            self.errors += 1
            if not self._reported:
                self._reported = True
                log.warning(
                    "OSC %s: a sample could not be sent (%s); further ones are only counted",
                    self.name,
                    exc,
                )

    def _send(self, sample: Sequence[Any], lsl_time: float) -> None:
        messages: list[bytes] = []
        stamp: tuple[int, int] = (0, 0)
        if self._timed:
            stamp = split_time(self._out.epoch_time(lsl_time) if self._epoch else lsl_time)
        for encoder, part in self._vector:
            values = sample if part.stop - part.start == len(sample) else sample[part]
            messages.append(encoder.encode((*stamp, *values) if self._timed else values))
        if self._on_change:
            self._append_changes(messages, sample, lsl_time)
        else:
            for encoder, index in self._split:
                messages.append(encoder.encode((sample[index],)))
        if self._time is not None:
            messages.append(self._time.encode(stamp))
        for encoder, indices, names in self._actions:
            best = max(indices, key=sample.__getitem__)
            messages.append(encoder.encode((names[best], sample[best])))
        limit = self._limit
        kept = [m for m in messages if len(m) <= limit]
        self._out.send_messages(kept, lsl_time)
        self.messages += len(kept)
        if len(kept) < len(messages):
            self._out.oversized += len(messages) - len(kept)
            raise ValueError(
                f"{len(messages) - len(kept)} message(s) larger than {limit} bytes left out "
                "(a very long string?)"
            )

    def _append_changes(self, messages: list[bytes], sample: Sequence[Any], t: float) -> None:
        """The per-action numbers that changed since they were last sent, or all of them
        when the refresh is due (or the sample clock went back: a clock re-sync)."""
        due = self._refresh_due
        refresh = t >= due or t < due - 2 * ACTION_REFRESH_SECONDS
        if refresh:
            self._refresh_due = t + ACTION_REFRESH_SECONDS
        last = self._last_split
        for k, (encoder, index) in enumerate(self._split):
            value = sample[index]
            if refresh or value != last[k]:
                last[k] = value
                messages.append(encoder.encode((value,)))


def _vector_parts(
    base: str, time_tags: str, count: int, limit: int
) -> list[tuple[MessageEncoder, slice]]:
    """A vector split into as few equal parts ``base/0``, ``base/1`` ... as fit ``limit``."""
    parts = 2
    while True:
        size = -(-count // parts)
        probe = MessageEncoder(f"{base}/{parts - 1}", time_tags + "f" * size)
        if probe.size <= limit:
            break
        parts += 1
    size = -(-count // parts)
    result = []
    for k, start in enumerate(range(0, count, size)):
        stop = min(start + size, count)
        result.append(
            (MessageEncoder(f"{base}/{k}", time_tags + "f" * (stop - start)), slice(start, stop))
        )
    return result


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
        self._unresolved: list[str] = []
        self._bundle = settings.bundle
        self._streams = frozenset(settings.streams)
        self._wall: EpochOffsetTracker | None = None
        self._status: dict[str, MessageEncoder] = {}
        self._markers: dict[tuple[str, str], MessageEncoder] = {}
        self._marker_failed = False
        self._seen_samples: dict[str, int] = {}
        self._status_failed = False
        # The current sender per (headset, stream); a re-subscription replaces it.
        self.senders: dict[tuple[str, str], _StreamSender] = {}
        self.oversized = 0

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Resolve every target once and open its socket. A target that cannot be
        resolved or opened is logged and left out; the others work."""
        if self.settings.timestamps == "epoch" or self._bundle == "sample_time":
            from bridge.clock import EpochOffsetTracker  # LSL clock only when asked for

            self._wall = EpochOffsetTracker()
        for text in self.settings.targets:
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
            self._targets.append(_Target(text, sock, shown))
        if self._targets:
            log.info(
                "OSC to %s (prefix %r, layout %s, bundles %s)",
                ", ".join(t.stats.target for t in self._targets),
                self.settings.prefix,
                self.settings.layout,
                self._bundle,
            )

    def close(self) -> None:
        """Say "not flowing" for every known headset, then close the sockets."""
        if self.board is not None:
            for hid in list(self.board.headsets):
                self.send_status(hid, False)
        for target in self._targets:
            target.close()
        self._targets = []

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
        sender = _StreamSender(self, plan, headset)
        self.senders[(headset.id, plan.stream)] = sender
        return [sender]

    def epoch_time(self, lsl_time: float) -> float:
        """An LSL time as Unix time (the wall-clock mapping of :mod:`bridge.clock`)."""
        if self._wall is None:
            from bridge.clock import EpochOffsetTracker

            self._wall = EpochOffsetTracker()
        # The epoch mapping treats "Cortex time" as this machine's Unix time.
        return self._wall.mapping.to_cortex(lsl_time)

    # ------------------------------------------------------------------ status, markers

    def send_status(self, headset_id: str, flowing: bool) -> None:
        """``P[/<headset>]/status i`` with 1 (data flowing) or 0."""
        encoder = self._status.get(headset_id)
        if encoder is None:
            encoder = MessageEncoder(f"{self.base_address(headset_id)}/status", "i")
            self._status[headset_id] = encoder
        self.send_messages([encoder.encode((1 if flowing else 0,))], None)

    def tick_status(self) -> None:
        """Status of every headset on the board: flowing if any of its streams got a
        sample since the previous tick. Also re-measures the wall-clock offset."""
        if self._wall is not None:
            self._wall.update()
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
        """Marker echo: ``P[/<headset>]/marker`` with label, value, seconds, microseconds.

        The time is LSL time, or Unix time when ``osc.timestamps = "epoch"``. The value
        is an ``i``; one beyond int32 (or a float) is sent as ``f``, anything else as its
        text (``s``). Never raises; a marker that cannot be sent is logged once.
        """
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
                encoder = self._markers[key] = MessageEncoder(address, f"s{tag}ii")
            stamp = split_time(
                self.epoch_time(lsl_time) if self.settings.timestamps == "epoch" else lsl_time
            )
            message = encoder.encode((str(label), arg, *stamp))
            if len(message) > MAX_DATAGRAM - bundle_overhead(1):
                raise ValueError("the marker label is too long for one datagram")
            self.send_messages([message], lsl_time)
        except Exception as exc:
            if not self._marker_failed:
                self._marker_failed = True
                log.warning("OSC marker %r for %s not sent: %s (not logged again)",
                            label, headset_id, exc)

    # ------------------------------------------------------------------ sending

    def send_messages(self, messages: Sequence[bytes], lsl_time: float | None) -> None:
        """Messages of one sample: as they are, or as bundles (``osc.bundle``)."""
        mode = self._bundle
        if mode == "off":
            for message in messages:
                self.send_datagram(message)
            return
        if mode == "sample_time" and lsl_time is not None:
            timetag = ntp_timetag(self.epoch_time(lsl_time))
        else:
            timetag = IMMEDIATELY
        for bundle in pack_bundles(timetag, messages):
            self.send_datagram(bundle)

    def send_datagram(self, data: bytes) -> None:
        """One datagram to every target; never blocks, never raises."""
        if len(data) > MAX_DATAGRAM:
            self.oversized += 1
            return
        for target in self._targets:
            target.send(data)

    def target_stats(self) -> list[TargetStats]:
        """Counters per open target."""
        return [target.stats for target in self._targets]
