"""Every Cortex/epoch/monotonic/LSL conversion, checked against hand-computed values."""

from __future__ import annotations

import time

import pylsl
import pytest

from bridge.clock import (
    ClockSource,
    EpochOffsetTracker,
    SyncReading,
    best_sync,
    epoch_minus_lsl,
    mapping_from_adjustment,
    mapping_from_epoch,
    monotonic_to_lsl,
    read_pair,
)


def test_adjustment_mapping_round_trip() -> None:
    # Headset clock anchored at epoch 1_700_000_000.0 when our monotonic read 100.0,
    # so adjustment = 1_699_999_900.0; LSL runs 0.25 s ahead of monotonic.
    mapping = mapping_from_adjustment(1_699_999_900.0, 0.25)
    assert mapping.source is ClockSource.SYNC
    # The sample born at monotonic 101.5 is stamped 1_700_000_001.5 by Cortex;
    # its LSL time is 101.75.
    assert mapping.to_lsl(1_700_000_001.5) == pytest.approx(101.75, abs=1e-9)
    assert mapping.to_cortex(101.75) == pytest.approx(1_700_000_001.5, abs=1e-9)
    assert mapping.to_cortex_ms(101.75) == pytest.approx(1_700_000_001_500.0, abs=1e-6)


def test_epoch_mapping() -> None:
    mapping = mapping_from_epoch(1_000.0)
    assert mapping.source is ClockSource.EPOCH
    assert mapping.to_lsl(1_500.0) == 500.0


def test_read_pair_picks_tightest_read() -> None:
    first_reads = iter([1010.0, 1030.0, 1050.0])
    second_reads = iter([0.0, 5.0, 20.0, 20.1, 40.0, 45.0])

    def first() -> float:
        return next(first_reads)

    def second() -> float:
        return next(second_reads)

    pair = read_pair(first, second, tries=3)
    # Reads: (0, first=1010, 5) spread 5; (20, first=1030, 20.1) spread 0.1; (40, 1050, 45).
    assert pair.spread == pytest.approx(0.1)
    assert pair.difference == pytest.approx(1030.0 - 20.05)


def test_real_clocks_on_linux() -> None:
    # On Linux liblsl's local_clock is CLOCK_MONOTONIC: the two agree to microseconds.
    assert abs(monotonic_to_lsl()) < 1e-3
    assert epoch_minus_lsl() == pytest.approx(time.time() - pylsl.local_clock(), abs=1e-3)


def test_best_sync_takes_shortest_round_trip() -> None:
    readings = [SyncReading(5.0, 0.004), SyncReading(5.1, 0.0005), SyncReading(4.9, 0.002)]
    assert best_sync(readings).adjustment == 5.1
    with pytest.raises(ValueError):
        best_sync([])


def test_epoch_tracker_reports_wall_clock_steps() -> None:
    wall_offset = [1_000.0]
    lsl_now = [0.0]

    def wall() -> float:
        lsl_now[0] += 1e-6
        return wall_offset[0] + lsl_now[0]

    def lsl() -> float:
        lsl_now[0] += 1e-6
        return lsl_now[0]

    tracker = EpochOffsetTracker(wall, lsl)
    assert tracker.mapping.offset == pytest.approx(1_000.0, abs=1e-5)
    assert tracker.update() == 0.0
    wall_offset[0] += 0.5  # NTP steps the wall clock by 500 ms
    assert tracker.update() == pytest.approx(0.5, abs=1e-5)
    assert tracker.mapping.to_lsl(1_000.5 + 3.0) == pytest.approx(3.0, abs=1e-5)
