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

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pylsl

Clock = Callable[[], float]


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


def mapping_from_adjustment(adjustment: float, mono_to_lsl: float) -> ClockMapping:
    """The mapping given a ``syncWithHeadsetClock`` adjustment.

    ``cortex = mono + adjustment`` and ``lsl = mono + mono_to_lsl``, hence
    ``cortex - lsl = adjustment - mono_to_lsl``.
    """
    return ClockMapping(adjustment - mono_to_lsl, ClockSource.SYNC)


def mapping_from_epoch(epoch_minus_lsl_offset: float) -> ClockMapping:
    """The wall-clock fallback: Cortex time treated as this machine's epoch time."""
    return ClockMapping(epoch_minus_lsl_offset, ClockSource.EPOCH)


def monotonic_for_sync(monotonic: Clock = time.monotonic) -> float:
    """The ``monotonicTime`` parameter of ``syncWithHeadsetClock``."""
    return monotonic()


@dataclass(frozen=True, slots=True)
class SyncReading:
    """One ``syncWithHeadsetClock`` exchange: the adjustment and its round trip."""

    adjustment: float
    round_trip: float


def best_sync(readings: list[SyncReading]) -> SyncReading:
    """The reading with the shortest round trip (least uncertain); needs one or more."""
    if not readings:
        raise ValueError("no syncWithHeadsetClock readings")
    return min(readings, key=lambda r: r.round_trip)


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
