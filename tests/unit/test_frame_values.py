"""Every frame value and time is checked before it reaches a sink (issue 16): non-finite
or impossible times, values beyond float32, repeated frames and unusable clock
adjustments are counted as malformed (or refused), logged once and then summarised at a
falling rate, and nothing non-finite reaches the outlet. Plain data: a recording outlet,
no LSL."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import pytest
from cortex_examples import EEG_COLS_EPOC, EEG_FRAME_EPOC, EPOCPLUS, MET_GEN3

from bridge.clock import (
    ClockSyncError,
    SyncReading,
    best_sync,
    frame_time_ok,
    mapping_from_adjustment,
    mapping_from_epoch,
    monotonic_to_lsl,
)
from bridge.pipeline import HeadsetClock, StreamPipeline
from bridge.status import StreamStats
from bridge.streams import FLOAT32_MAX, FrameError, build_plan


class RecordingOutlet:
    """Stands in for :class:`~bridge.outputs.lsl.LslOutlet`: keeps what is pushed."""

    def __init__(self) -> None:
        self.pushed: list[tuple[list[Any], float]] = []

    def push(self, sample: Any, timestamp: float) -> None:
        self.pushed.append((list(sample), timestamp))


def lsl_now() -> float:
    return time.monotonic() + monotonic_to_lsl()


EPOCH_OFFSET = 1_700_000_000.0  # cortex_time = lsl_time + offset


def pipeline(stream: str = "eeg", cols: list[Any] | None = None,
             offset: float = EPOCH_OFFSET) -> tuple[StreamPipeline, RecordingOutlet]:
    plan = build_plan(stream, cols or EEG_COLS_EPOC, EPOCPLUS)
    outlet = RecordingOutlet()
    clock = HeadsetClock(mapping_from_epoch(offset))
    stats = StreamStats(EPOCPLUS.id, stream)
    return StreamPipeline(plan, outlet, clock, stats), outlet  # type: ignore[arg-type]


def frame(counter: int, **changes: Any) -> list[Any]:
    values = list(EEG_FRAME_EPOC)
    values[0] = counter
    for index, value in changes.items():
        values[int(index.removeprefix("v"))] = value
    return values


def cortex_now() -> float:
    return lsl_now() + EPOCH_OFFSET


# --- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_time", [math.inf, -math.inf, math.nan, 1e300, -1e300, 0.0, -5.0, 1e12],
)
def test_impossible_times_are_malformed_and_never_pushed(bad_time: float) -> None:
    pipe, outlet = pipeline()
    pipe.handle(frame(1), cortex_now())
    pipe.handle(frame(2), bad_time)
    pipe.handle(frame(3), cortex_now() + 1 / 128)
    assert pipe.stats.malformed == 1
    assert pipe.stats.samples == 2 and len(outlet.pushed) == 2
    assert all(math.isfinite(t) and t > 0 for _s, t in outlet.pushed)


def test_times_from_json_infinity_and_nan() -> None:
    """Python's json (and so the bridge's) reads Infinity and NaN literally."""
    pipe, outlet = pipeline()
    for text in ('{"time": Infinity}', '{"time": NaN}', '{"time": -Infinity}',
                 '{"time": 1e400}'):
        pipe.handle(frame(5), json.loads(text)["time"])
    assert pipe.stats.malformed == 4 and outlet.pushed == []


def test_a_nan_clock_offset_reaches_no_outlet() -> None:
    pipe, outlet = pipeline(offset=math.nan)
    pipe.handle(frame(1), cortex_now())
    assert pipe.stats.malformed == 1 and outlet.pushed == []


def test_a_clock_off_by_minutes_still_streams() -> None:
    """A remote Cortex without NTP is wrong, not impossible: its samples flow."""
    pipe, outlet = pipeline()
    pipe.handle(frame(1), cortex_now() + 600.0)
    assert pipe.stats.malformed == 0 and len(outlet.pushed) == 1


@pytest.mark.parametrize(
    ("lsl_time", "now", "ok"),
    [(100.0, 100.2, True), (0.0, 10.0, False), (-1.0, 10.0, False), (math.nan, 1.0, False),
     (math.inf, 1.0, False), (1.0 + 86_400.0, 1.0, False), (1.0, 86_400.5, True)],
)
def test_frame_time_ok(lsl_time: float, now: float, ok: bool) -> None:
    assert frame_time_ok(lsl_time, now) is ok


# --- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e39, -1e300, 10**400])
def test_non_finite_or_beyond_float32_eeg_values_are_malformed(bad: Any) -> None:
    pipe, outlet = pipeline()
    pipe.handle(frame(1, v4=bad), cortex_now())
    assert pipe.stats.malformed == 1 and outlet.pushed == []


def test_the_largest_float32_passes() -> None:
    pipe, outlet = pipeline()
    pipe.handle(frame(1, v4=FLOAT32_MAX, v5=-FLOAT32_MAX), cortex_now())
    assert pipe.stats.malformed == 0 and len(outlet.pushed) == 1


def test_metrics_keep_nan_for_missing_and_never_infinity() -> None:
    """met documents null as NaN (missing); an infinity there is missing too, never inf."""
    plan = build_plan("met", MET_GEN3, EPOCPLUS)
    values: list[Any] = [True, math.inf, True, None, True, 1e300, 0.5, True, math.nan,
                         True, 0.25, True, 0.75]
    sample = plan.extract(values)
    assert not any(math.isinf(v) for v in sample)  # type: ignore[arg-type]
    assert math.isnan(sample[1]) and math.isnan(sample[3]) and math.isnan(sample[5])
    assert sample[6] == 0.5
    with pytest.raises(FrameError):
        plan.extract([True, "high", *values[2:]])


# --- repeated frames --------------------------------------------------------------------


def test_a_repeated_frame_is_malformed_not_127_dropped() -> None:
    pipe, outlet = pipeline()
    t = cortex_now()
    pipe.handle(frame(10), t)
    pipe.handle(frame(10), t)  # the same frame again
    pipe.handle(frame(11), t + 1 / pipe.plan.nominal_rate)
    assert pipe.stats.dropped == 0
    assert pipe.stats.malformed == 1
    assert [s[0] for s, _t in outlet.pushed] == [10.0, 11.0]


def test_a_whole_lost_turn_of_the_counter_is_still_counted() -> None:
    """Same COUNTER one turn later (a second at the headset's rate): rate - 1 samples
    really were lost."""
    pipe, _outlet = pipeline()
    rate = pipe.plan.nominal_rate
    t = cortex_now()
    pipe.handle(frame(10), t)
    pipe.handle(frame(10), t + 1.0)
    assert pipe.stats.dropped == rate - 1 and pipe.stats.malformed == 0


# --- logging ----------------------------------------------------------------------------


def test_a_flood_of_bad_frames_costs_a_handful_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.pipeline")
    pipe, outlet = pipeline()
    for _ in range(2_476):
        pipe.handle(frame(1), math.inf)
    assert pipe.stats.malformed == 2_476 and outlet.pushed == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # the first with its reason, then at 10, 100 and 1000
    assert "is not a possible sample time" in lines[0]
    assert "1000 malformed frames skipped so far" in lines[-1]
    assert not any(r.exc_info for r in caplog.records)


# --- the clock adjustment ---------------------------------------------------------------


def test_unusable_sync_readings_are_ignored() -> None:
    readings = [SyncReading(math.nan, 0.0001), SyncReading(1.7e9, 0.002),
                SyncReading(math.inf, 0.0), SyncReading(1e300, 0.0)]
    assert best_sync(readings).adjustment == 1.7e9
    with pytest.raises(ClockSyncError):
        best_sync([SyncReading(math.nan, 0.001)])


@pytest.mark.parametrize("adjustment", [math.nan, math.inf, -math.inf, 1e300])
def test_an_unusable_adjustment_makes_no_mapping(adjustment: float) -> None:
    with pytest.raises(ClockSyncError):
        mapping_from_adjustment(adjustment, 0.0)


def test_a_spoiled_frame_that_arrived_is_not_also_dropped() -> None:
    """Malformed and dropped add up: a frame that came with a bad time or value is
    malformed only; the next good frame counts no gap for it."""
    pipe, outlet = pipeline()
    step = 1 / pipe.plan.nominal_rate
    t = cortex_now()
    pipe.handle(frame(1), t)
    pipe.handle(frame(2), math.inf)
    pipe.handle(frame(3, v4=math.nan), t + 2 * step)
    pipe.handle(frame(4), t + 3 * step)
    pipe.handle(frame(6), t + 5 * step)  # one sample really lost
    assert pipe.stats.malformed == 2 and pipe.stats.dropped == 1
    assert [s[0] for s, _t in outlet.pushed] == [1.0, 4.0, 6.0]
