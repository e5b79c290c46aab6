"""One headset stream's path from a Cortex frame to its outputs (the hot path).

Everything that can be computed once per subscription is computed in the constructor;
``handle`` only extracts, maps the time, checks the sample counter and pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pylsl

from bridge.clock import ClockMapping
from bridge.outputs.lsl import LslOutlet
from bridge.status import EventName, StreamStats
from bridge.streams import FrameError, StreamPlan

log = logging.getLogger(__name__)

# A sample sink besides LSL (OSC, marker echo): gets the extracted sample and LSL time.
Sink = Callable[[Sequence[Any], float], None]
MarkerHandler = Callable[[list[Any], float], None]


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
        self._reported_malformed = False

    def handle(self, values: Any, cortex_time: Any) -> None:
        try:
            sample = self._extract(values)
        except FrameError as exc:
            self._malformed(str(exc))
            return
        if type(cortex_time) is float or type(cortex_time) is int:
            lsl_time = cortex_time - self.clock.mapping.offset
        elif cortex_time is None and self._rate == 0:
            lsl_time = pylsl.local_clock()  # event frames may lack a time; nothing better
        else:
            self._malformed("frame time is not a number")
            return
        if self._counter_index is not None and self._modulus:
            self._check_counter(values[self._counter_index], cortex_time)
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

    def _check_counter(self, counter: Any, cortex_time: Any) -> None:
        if type(counter) is not int:
            if type(counter) is float and counter.is_integer():
                counter = int(counter)
            else:
                return
        previous = self._last_counter
        if previous is not None:
            gap = None
            if self._last_time is not None and cortex_time is not None:
                gap = (cortex_time - self._last_time) * self._rate
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

    def _malformed(self, reason: str) -> None:
        self.stats.malformed += 1
        if not self._reported_malformed:
            self._reported_malformed = True
            log.warning(
                "%s/%s: malformed frame skipped (%s); further ones are only counted",
                self.stats.headset,
                self.stats.stream,
                reason,
            )
