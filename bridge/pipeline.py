"""One headset stream's path from a Cortex frame to its outputs (the hot path).

Everything that can be computed once per subscription is computed in the constructor;
``handle`` only extracts, maps the time, checks the sample counter and pushes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import pylsl

from bridge.clock import ClockMapping, frame_time_ok, monotonic_to_lsl
from bridge.outputs.lsl import LslOutlet
from bridge.status import EventName, StreamStats
from bridge.streams import FrameError, StreamPlan

log = logging.getLogger(__name__)

# A sample sink besides LSL (OSC, marker echo): gets the extracted sample and LSL time.
Sink = Callable[[Sequence[Any], float], None]
MarkerHandler = Callable[[list[Any], float], None]


MALFORMED_SUMMARY_COUNTS: Final = frozenset({10, 100, 1000})
"""After the first malformed frame of a stream (logged with its reason), a summary line
at these counts and then every :data:`MALFORMED_SUMMARY_EVERY`: a flood of bad frames
costs a handful of log lines, never one per frame."""
MALFORMED_SUMMARY_EVERY: Final = 10_000
REPEAT_GAP_SAMPLES: Final = 0.5
"""A frame whose COUNTER equals the previous one and whose time is less than this many
sample periods after it is the same sample again, not a counter that wrapped."""


class HeadsetClock:
    """The current Cortex-to-LSL mapping of one headset; replaced on every re-sync."""

    __slots__ = ("mapping",)

    def __init__(self, mapping: ClockMapping) -> None:
        self.mapping = mapping


def counted_drops(previous: int, current: int, modulus: int, time_gap: float | None) -> int:
    """Samples lost between two counter values of a counter that wraps at ``modulus``.

    The counter alone cannot tell a whole lost second from none; the Cortex time gap
    (in samples) can, so it decides when it agrees with the counter modulo ``modulus``.
    A time gap that disagrees (a clock step) is ignored in favour of the counter.
    """
    by_counter = (current - previous - 1) % modulus
    if time_gap is not None:
        by_time = round(time_gap) - 1
        if by_time >= 0 and by_time % modulus == by_counter:
            return by_time
    return by_counter


class StreamPipeline:
    """Cortex frame -> float32/string sample -> LSL outlet (+ sinks)."""

    def __init__(
        self,
        plan: StreamPlan,
        outlet: LslOutlet,
        clock: HeadsetClock,
        stats: StreamStats,
        sinks: Sequence[Sink] = (),
        on_markers: MarkerHandler | None = None,
    ) -> None:
        self.plan = plan
        self.outlet = outlet
        self.clock = clock
        self.stats = stats
        self.sinks = tuple(sinks)
        self.on_markers = on_markers
        self._extract = plan.extract
        self._push = outlet.push
        self._counter_index = plan.counter_index
        self._interpolated_index = plan.interpolated_index
        self._markers_index = plan.markers_index
        rate = plan.nominal_rate
        self._rate = rate
        self._modulus = round(rate) if rate >= 1 and abs(rate - round(rate)) < 1e-9 else 0
        self._last_counter: int | None = None
        self._last_time: float | None = None
        self._mono_to_lsl = monotonic_to_lsl()

    def handle(self, values: Any, cortex_time: Any) -> None:
        try:
            sample = self._extract(values)
        except FrameError as exc:
            self._malformed(str(exc), values)
            return
        if type(cortex_time) is float or type(cortex_time) is int:
            lsl_time = cortex_time - self.clock.mapping.offset
            # NaN, infinities, 1e300, a NaN clock offset: never to an outlet
            if not frame_time_ok(lsl_time, time.monotonic() + self._mono_to_lsl):
                self._malformed(f"frame time {cortex_time!r} is not a possible sample time",
                                values)
                return
        elif cortex_time is None and self._rate == 0:
            lsl_time = pylsl.local_clock()  # event frames may lack a time; nothing better
        else:
            self._malformed("frame time is not a number", values)
            return
        if (
            self._counter_index is not None
            and self._modulus
            and not self._check_counter(values[self._counter_index], cortex_time)
        ):
            return
        if self._interpolated_index is not None and values[self._interpolated_index]:
            self.stats.interpolated += 1
        self._push(sample, lsl_time)
        stats = self.stats
        stats.samples += 1
        stats.last_lsl_time = lsl_time
        for sink in self.sinks:
            sink(sample, lsl_time)
        if self._markers_index is not None and self.on_markers is not None:
            markers = values[self._markers_index]
            if markers:
                self.on_markers(markers, lsl_time)

    def _check_counter(self, counter: Any, cortex_time: Any) -> bool:
        """Count the samples lost since the previous frame; False (the frame counted as
        malformed, not pushed) for a repeat of the previous frame, which the counter
        alone would take for a whole lost turn (127 samples at 128 Hz)."""
        if type(counter) is not int:
            if type(counter) is float and counter.is_integer():
                counter = int(counter)
            else:
                return True
        previous = self._last_counter
        if previous is not None:
            gap = None
            if self._last_time is not None and cortex_time is not None:
                gap = (cortex_time - self._last_time) * self._rate
            if counter == previous and (gap is None or gap < REPEAT_GAP_SAMPLES):
                self._malformed(f"repeated frame (COUNTER {counter} again)")
                return False
            lost = counted_drops(previous, counter, self._modulus, gap)
            if lost:
                self.stats.dropped += lost
                first_missing = self.stats.last_lsl_time + 1 / self._rate  # the gap's time
                self.stats.events.emit(EventName.GAP, self.stats.headset, at=first_missing,
                                       stream=self.stats.stream, missing=lost, counter=counter)
                log.warning(
                    "%s/%s: %d sample(s) dropped (COUNTER %d -> %d)",
                    self.stats.headset,
                    self.stats.stream,
                    lost,
                    previous,
                    counter,
                )
        self._last_counter = counter
        self._last_time = cortex_time
        return True

    def _malformed(self, reason: str, values: Any = None) -> None:
        """Count a frame that is not pushed; log the first with its reason, then a
        summary at a falling rate (see :data:`MALFORMED_SUMMARY_COUNTS`).

        A frame that arrived, however spoiled, is not a lost sample: when its COUNTER
        can be read it becomes the last one seen (with no time), so the next good frame
        counts no drop for it; malformed and dropped then add up to what went missing.
        """
        index = self._counter_index
        if index is not None and self._modulus and isinstance(values, list | tuple):
            counter = values[index] if index < len(values) else None
            if type(counter) is float and counter.is_integer():
                counter = int(counter)
            if type(counter) is int and counter != self._last_counter:
                self._last_counter = counter
                self._last_time = None
        stats = self.stats
        stats.malformed += 1
        count = stats.malformed
        if count == 1:
            log.warning(
                "%s/%s: malformed frame skipped (%s); further ones are counted and "
                "summarised", stats.headset, stats.stream, reason,
            )
        elif count in MALFORMED_SUMMARY_COUNTS or count % MALFORMED_SUMMARY_EVERY == 0:
            log.warning("%s/%s: %d malformed frames skipped so far (latest: %s)",
                        stats.headset, stats.stream, count, reason)
