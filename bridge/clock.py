"""Every conversion between Cortex time, epoch time, our monotonic clock and LSL time.

Cortex stamps each sample with epoch seconds taken from a per-headset clock that runs on
the machine's monotonic clock (the headset clock is anchored when the headset connects).
``syncWithHeadsetClock`` tells us ``adjustment = cortex_clock - our_monotonic``. LSL time
is ``pylsl.local_clock()``, which on Linux is CLOCK_MONOTONIC as well, so the mapping is
one constant per headset connection::

    lsl_time = cortex_time - adjustment + (local_clock() - time.monotonic())

All of it is expressed here as a single number, ``offset = cortex_time - lsl_time``,
held by a :class:`ClockMapping`. Where the headset clock cannot be synchronised (old
Cortex answers -32601, or Cortex runs on another machine whose monotonic clock is not
ours) the mapping falls back to the wall clock: ``offset = time.time() - local_clock()``,
re-estimated continuously so an NTP step is caught.

Samples are never stamped on arrival: Cortex delivers them ~200 ms late.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pylsl

from bridge.errors import Transient

Clock = Callable[[], float]

FRAME_TIME_WINDOW_S = 86_400.0
"""A sample stamped further than this from now (in LSL time) cannot be a sample of this
session: a garbled time (``1e300``), or a clock mapping gone wrong. Such frames are
counted as malformed instead of reaching an outlet; a mapping merely off by minutes
(a remote Cortex without NTP) still streams."""
MAX_ADJUSTMENT_S = 1e12
"""``syncWithHeadsetClock``'s adjustment is epoch minus monotonic seconds (about 1.7e9);
beyond this (the year 33658) it is no clock at all."""


class ClockSyncError(Transient):
    """``syncWithHeadsetClock`` gave nothing a mapping can be built from (a NaN, an
    infinity or an absurd adjustment in every answer): retried like a broken answer."""


def frame_time_ok(lsl_time: float, now: float) -> bool:
    """Whether ``lsl_time`` can be the LSL time of a sample arriving at LSL time ``now``:
    finite, after the LSL clock's zero (liblsl takes 0 for "stamp it yourself") and
    within :data:`FRAME_TIME_WINDOW_S` of now. False for NaN."""
    return lsl_time > 0.0 and -FRAME_TIME_WINDOW_S < lsl_time - now < FRAME_TIME_WINDOW_S


class ClockSource(StrEnum):
    """Where a mapping's offset came from; recorded in the stream metadata and status."""

    SYNC = "sync"  # syncWithHeadsetClock adjustment
    EPOCH = "epoch"  # wall clock minus LSL clock


@dataclass(frozen=True, slots=True)
class ClockMapping:
    """``cortex_time = lsl_time + offset`` (seconds)."""

    offset: float
    source: ClockSource

    def to_lsl(self, cortex_time: float) -> float:
        """LSL timestamp of a sample stamped ``cortex_time`` by Cortex."""
        return cortex_time - self.offset

    def to_cortex(self, lsl_time: float) -> float:
        """Cortex time (epoch seconds on the headset clock) of an LSL timestamp."""
        return lsl_time + self.offset

    def to_cortex_ms(self, lsl_time: float) -> float:
        """What ``injectMarker`` wants: Cortex time in epoch milliseconds."""
        return (lsl_time + self.offset) * 1000.0


@dataclass(frozen=True, slots=True)
class ClockPair:
    """Two clocks read back to back; ``spread`` bounds the error of their difference."""

    difference: float  # first clock minus second clock
    spread: float


def read_pair(first: Clock, second: Clock, tries: int = 7) -> ClockPair:
    """The difference ``first() - second()`` from the tightest of ``tries`` reads.

    Reading ``second`` before and after ``first`` and keeping the pair with the smallest
    interval bounds the error by half that interval (typically well under 1 us).
    """
    best: ClockPair | None = None
    for _ in range(max(1, tries)):
        before = second()
        value = first()
        after = second()
        spread = after - before
        candidate = ClockPair(value - (before + after) / 2.0, spread)
        if best is None or candidate.spread < best.spread:
            best = candidate
    assert best is not None
    return best


def monotonic_to_lsl(
    monotonic: Clock = time.monotonic, lsl_clock: Clock = pylsl.local_clock
) -> float:
    """``local_clock() - time.monotonic()``: zero on Linux, measured anyway."""
    return -read_pair(monotonic, lsl_clock).difference


def epoch_minus_lsl(wall: Clock = time.time, lsl_clock: Clock = pylsl.local_clock) -> float:
    """``time.time() - local_clock()`` from the tightest of several back-to-back reads."""
    return read_pair(wall, lsl_clock).difference


def lsl_from_epoch(epoch: float, wall: Clock = time.time,
                   lsl_clock: Clock = pylsl.local_clock) -> float:
    """An instant this machine's kernel stamped in epoch seconds (a datagram's receive
    time), on the LSL clock: both clocks ran on since, so today's offset maps it."""
    return epoch - epoch_minus_lsl(wall, lsl_clock)


def mapping_from_adjustment(adjustment: float, mono_to_lsl: float) -> ClockMapping:
    """The mapping given a ``syncWithHeadsetClock`` adjustment.

    ``cortex = mono + adjustment`` and ``lsl = mono + mono_to_lsl``, hence
    ``cortex - lsl = adjustment - mono_to_lsl``. A non-finite or absurd adjustment
    raises :class:`ClockSyncError`: a NaN offset would make every timestamp NaN.
    """
    offset = adjustment - mono_to_lsl
    if not (usable_adjustment(adjustment) and math.isfinite(offset)):
        raise ClockSyncError(f"syncWithHeadsetClock: unusable adjustment {adjustment!r}")
    return ClockMapping(offset, ClockSource.SYNC)


def usable_adjustment(adjustment: float) -> bool:
    """Finite and within :data:`MAX_ADJUSTMENT_S` (False for NaN)."""
    return -MAX_ADJUSTMENT_S < adjustment < MAX_ADJUSTMENT_S


def mapping_from_epoch(epoch_minus_lsl_offset: float) -> ClockMapping:
    """The wall-clock fallback: Cortex time treated as this machine's epoch time."""
    return ClockMapping(epoch_minus_lsl_offset, ClockSource.EPOCH)


@dataclass(frozen=True, slots=True)
class SyncReading:
    """One ``syncWithHeadsetClock`` exchange: the adjustment and its round trip."""

    adjustment: float
    round_trip: float


def best_sync(readings: list[SyncReading]) -> SyncReading:
    """The usable reading with the shortest round trip (least uncertain).

    A reading whose adjustment is NaN, infinite or absurd is ignored (one garbled answer
    must not spoil the mapping); :class:`ClockSyncError` when none is usable.
    """
    usable = [r for r in readings if usable_adjustment(r.adjustment) and r.round_trip >= 0.0]
    if not usable:
        raise ClockSyncError(
            f"syncWithHeadsetClock: no usable adjustment in {len(readings)} answer(s)"
        )
    return min(usable, key=lambda r: r.round_trip)


class EpochOffsetTracker:
    """Keeps the wall-clock fallback mapping current and notices wall-clock steps.

    NTP may step ``time.time()``; the LSL clock never steps. Re-measuring the offset
    every few seconds keeps the mapping right, and a change larger than ``step_threshold``
    is reported so the daemon can log it.
    """

    def __init__(
        self,
        wall: Clock = time.time,
        lsl_clock: Clock = pylsl.local_clock,
        step_threshold: float = 0.005,
    ) -> None:
        self._wall = wall
        self._lsl_clock = lsl_clock
        self._step_threshold = step_threshold
        self.mapping = mapping_from_epoch(epoch_minus_lsl(wall, lsl_clock))

    def update(self) -> float:
        """Re-measure; return the change of the offset in seconds (0.0 if below threshold)."""
        new = epoch_minus_lsl(self._wall, self._lsl_clock)
        change = new - self.mapping.offset
        self.mapping = mapping_from_epoch(new)
        return change if abs(change) >= self._step_threshold else 0.0


# --- markers (issue 5) ------------------------------------------------------------------

# A marker whose LSL time is further from ``local_clock()`` than this is not in the LSL
# clock at all (OpenViBE's old LSL plugin pushed scenario-relative times; some senders
# push wall-clock time): it is restamped on arrival rather than sent to Cortex decades off.
MARKER_MAX_AGE_S = 600.0
MARKER_MAX_AHEAD_S = 1.0


def sender_to_local_lsl(stamp: float, time_correction: float) -> float:
    """A sample's timestamp in the sender's LSL clock -> ours (``inlet.time_correction()``
    is what must be added; 0 on one machine, the clock offset across machines)."""
    return stamp + time_correction


def emotivpro_marker_lsl(
    stamp: float, time_correction: float, marker_time: float, time_sent: float
) -> float:
    """LSL time of an EmotivPRO-layout marker ``[MarkerTime, MarkerValue, TimeSent]``.

    Both times are the sender's epoch seconds; the marker happened ``time_sent -
    marker_time`` before the sample was sent (and stamped). A lag that is negative,
    not finite or over :data:`MARKER_MAX_AGE_S` is ignored (the sample time is used).
    """
    local = stamp + time_correction
    lag = time_sent - marker_time
    if lag != lag or not 0.0 <= lag <= MARKER_MAX_AGE_S:  # NaN or implausible
        return local
    return local - lag


def plausible_marker_time(lsl_time: float, now: float) -> bool:
    """Whether ``lsl_time`` can be a marker just pulled at LSL time ``now``."""
    return now - MARKER_MAX_AGE_S <= lsl_time <= now + MARKER_MAX_AHEAD_S


def cortex_time_from_iso(text: object) -> float | None:
    """Cortex time (epoch seconds) of a marker object's ``startDatetime``, or None.

    Cortex writes the marker's own time as a local ISO 8601 string with an offset
    (``2019-06-06T15:57:41.529661+07:00``); the instant is what counts, not the zone.
    A string without an offset is not trusted (its zone is unknown).
    """
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


# --- Emogg ----------------------------------------------------------------------------


def epoch_from_emogg(stamp: str | int | float) -> float:
    """Epoch seconds of an Emogg event timestamp.

    Emogg's docs show both an ISO 8601 string (``"2024-04-14T23:00:30.000Z"``) and epoch
    milliseconds (``1712794471965``) for the same field, so both are accepted; an ISO
    time without a zone is UTC, as Emogg's docs say for request dates. ValueError for
    anything else (a bool, a non-finite number, an unparsable string).
    """
    if isinstance(stamp, bool):
        raise ValueError("an Emogg timestamp is not a boolean")
    if isinstance(stamp, int | float):
        seconds = float(stamp) / 1000.0
    elif isinstance(stamp, str):
        text = stamp.strip()
        if text.isdigit():
            seconds = int(text) / 1000.0
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"not an ISO 8601 time: {stamp[:40]!r}") from None
            if parsed.tzinfo is None:
                parsed = datetime.fromisoformat(parsed.isoformat() + "+00:00")
            seconds = parsed.timestamp()
    else:
        raise ValueError(f"an Emogg timestamp is a string or a number, not {type(stamp).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"Emogg timestamp out of range: {stamp!r}")
    return seconds


def emogg_to_lsl(stamp: str | int | float, mapping: ClockMapping) -> float:
    """LSL time of an Emogg event, through an epoch mapping (:func:`mapping_from_epoch`).

    Emogg stamps with its server's UTC clock; there is no way to synchronise with it, so
    the error is the skew between Emogg's clock and ours (keep NTP on).
    """
    return mapping.to_lsl(epoch_from_emogg(stamp))


# --- Cortex 1.x: sample times since Cortex start (issue 8) ------------------------------


class OriginEstimator:
    """Where a clock that counts from an unseen origin starts, on our clock.

    Cortex 1.x stamps samples in "time since Cortex start" and offers no clock exchange,
    so the origin (Cortex's start on our clock) is estimated from arrival times. Every
    frame obeys ``arrival = origin + stamp + delay`` with ``delay >= latency``, the
    smallest delivery delay. Hence ``arrival - stamp >= origin + latency``, with equality
    for the luckiest frame: the minimum of ``arrival - stamp`` is the estimate. Extra
    delay (queueing, jitter, a stall, a slow event loop) only ever makes a frame look
    later, so it cannot pull the estimate off; the error is how far the luckiest frame
    of the window was from the fastest possible delivery, plus ``latency`` if it is not
    known. A constant delay is invisible in the frames: subtract it with ``latency``.

    What is left is the transport floor, the fastest a frame ever travels from the
    service to us. Request round trips over the same connection measure it, as NTP does:
    :meth:`note_round_trip` keeps half the shortest one as ``transit`` (assuming the two
    directions are alike) and it is subtracted too.

    A frame that would move the origin back by more than ``jump_s`` at once is a
    suspect (a garbled stamp must not wreck the clock for a whole window): it counts
    only when ``confirm`` such frames in a row agree, and then the estimate starts
    afresh from them.

    The minimum is kept per ``bucket_s`` of arrival time over the last ``window_s``, so
    the estimate follows a slow drift between the two clocks (and forgets outliers of a
    clock that was stepped) instead of clinging to the oldest, smallest value. Pure: the
    caller passes arrival times, so it is tested with plain numbers.
    """

    def __init__(
        self,
        window_s: float = 30.0,
        bucket_s: float = 1.0,
        latency: float = 0.0,
        jump_s: float = 1.0,
        confirm: int = 5,
    ) -> None:
        if window_s <= 0 or bucket_s <= 0 or window_s < bucket_s:
            raise ValueError("need 0 < bucket_s <= window_s")
        self.window_s = window_s
        self.bucket_s = bucket_s
        self.latency = latency
        self.jump_s = jump_s
        self.confirm = confirm
        self._suspects: list[tuple[float, float]] = []
        self.rejected = 0
        self._buckets: list[list[float]] = []  # [bucket index, min(arrival - stamp)]
        self._min = math.inf
        self.observed = 0
        self.transit = 0.0
        self._best_round_trip = math.inf

    @property
    def origin(self) -> float | None:
        """The estimated origin on the arrival clock, None before the first frame."""
        return self._min - self.latency - self.transit if self._buckets else None

    def note_round_trip(self, seconds: float) -> None:
        """A request's round trip on the frames' connection (the shortest one counts)."""
        if 0.0 <= seconds < self._best_round_trip:
            self._best_round_trip = seconds
            self.transit = seconds / 2.0

    def observe(self, stamp: float, arrival: float) -> float:
        """Take one frame (its stamp and our arrival time); the updated origin."""
        value = arrival - stamp
        if not math.isfinite(value):
            self.rejected += 1
            return self._min - self.latency - self.transit
        if self._buckets and value < self._min - self.jump_s:
            self._suspects.append((stamp, arrival))
            if len(self._suspects) < self.confirm or (
                max(a - s for s, a in self._suspects) - min(a - s for s, a in self._suspects)
                > self.jump_s
            ):
                if len(self._suspects) >= self.confirm:
                    self._suspects.pop(0)
                self.rejected += 1
                return self._min - self.latency - self.transit
            suspects, self._suspects = self._suspects, []
            self._buckets.clear()
            self._min = math.inf
            for s, a in suspects[:-1]:
                self.observe(s, a)
        else:
            self._suspects.clear()
        index = math.floor(arrival / self.bucket_s)
        buckets = self._buckets
        self.observed += 1
        if buckets and buckets[-1][0] == index:
            if value < buckets[-1][1]:
                buckets[-1][1] = value
            if value < self._min:
                self._min = value
            return self._min - self.latency - self.transit
        buckets.append([float(index), value])
        oldest = index - math.ceil(self.window_s / self.bucket_s) + 1
        if buckets[0][0] < oldest:
            while buckets[0][0] < oldest:
                buckets.pop(0)
            self._min = min(b[1] for b in buckets)
        elif value < self._min:
            self._min = value
        return self._min - self.latency - self.transit


def remote_wall_offset(remote_epoch: float, sent: float, received: float) -> ClockPair:
    """The remote wall clock minus ours, from a time stamp the remote took while our
    request was under way (between our wall-clock reads ``sent`` and ``received``).

    Cortex 1.x has no clock exchange, but the ``started`` of a new session is its wall
    clock at that moment; the midpoint assumption bounds the error by half the round
    trip (``spread``). Markers are sent in the service's wall-clock time with it.
    """
    return ClockPair(remote_epoch - (sent + received) / 2.0, received - sent)
