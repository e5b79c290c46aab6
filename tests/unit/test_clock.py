"""Every Cortex/epoch/monotonic/LSL conversion, checked against hand-computed values."""

from __future__ import annotations

import time

import pylsl
import pytest

from bridge.clock import (
    ClockSource,
    ClockSyncError,
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
    with pytest.raises(ClockSyncError):
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


# ---- markers (issue 5) -------------------------------------------------------------------


def test_marker_time_conversions() -> None:
    from bridge.clock import (
        cortex_time_from_iso,
        emotivpro_marker_lsl,
        plausible_marker_time,
        sender_to_local_lsl,
    )

    assert sender_to_local_lsl(10.0, 0.5) == 10.5
    # EmotivPRO layout: event at epoch 500.0, sent at 500.25 -> 0.25 s before the stamp.
    assert emotivpro_marker_lsl(10.0, 0.5, 500.0, 500.25) == pytest.approx(10.25)
    assert emotivpro_marker_lsl(10.0, 0.0, 500.0, 499.0) == 10.0  # negative lag ignored
    assert emotivpro_marker_lsl(10.0, 0.0, float("nan"), 1.0) == 10.0
    assert plausible_marker_time(99.0, 100.0)
    assert not plausible_marker_time(102.0, 100.0)  # from the future
    assert not plausible_marker_time(-1e6, 100.0)  # not the LSL clock at all
    # Cortex writes marker times as local ISO strings with an offset (docs example).
    t = cortex_time_from_iso("2019-06-06T15:57:41.529661+07:00")
    assert t == pytest.approx(1559811461.529661, abs=1e-6)
    assert cortex_time_from_iso("2019-06-06T08:57:41.529661+00:00") == t
    assert cortex_time_from_iso("2019-06-06T15:57:41") is None  # zone unknown
    assert cortex_time_from_iso("yesterday") is None
    assert cortex_time_from_iso(None) is None


def test_marker_round_trip_through_a_sync_mapping() -> None:
    from bridge.clock import cortex_time_from_iso

    # A marker at LSL time 101.75 is injected at Cortex ms; Cortex echoes that instant as
    # an ISO string; mapping it back gives the original LSL time to the microsecond.
    mapping = mapping_from_adjustment(1_699_999_900.0, 0.25)
    ms = mapping.to_cortex_ms(101.75)
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(ms / 1000.0, UTC).astimezone().isoformat(timespec="microseconds")
    back = cortex_time_from_iso(iso)
    assert back is not None
    assert mapping.to_lsl(back) == pytest.approx(101.75, abs=2e-6)


# ---- Emogg event times -------------------------------------------------------------------


def test_emogg_times_in_both_documented_formats() -> None:
    from bridge.clock import epoch_from_emogg

    # The channel pages' ISO example and the unsubscribe page's epoch milliseconds.
    assert epoch_from_emogg("2024-04-14T23:00:30.000Z") == 1_713_135_630.0
    assert epoch_from_emogg(1712794471965) == pytest.approx(1_712_794_471.965, abs=1e-9)
    assert epoch_from_emogg("1712794471965") == pytest.approx(1_712_794_471.965, abs=1e-9)
    assert epoch_from_emogg(1.5e12) == 1.5e9
    # An offset is honoured; no zone means UTC (Emogg's rule for dates).
    assert epoch_from_emogg("2024-04-15T01:00:30.000+02:00") == 1_713_135_630.0
    assert epoch_from_emogg("2024-04-14T23:00:30") == 1_713_135_630.0
    for bad in ("yesterday", True, None, float("nan"), -5, [1]):
        with pytest.raises(ValueError):
            epoch_from_emogg(bad)  # type: ignore[arg-type]


def test_emogg_time_to_lsl_through_the_epoch_mapping() -> None:
    from bridge.clock import emogg_to_lsl

    mapping = mapping_from_epoch(1_713_000_000.0)  # wall clock minus LSL clock
    assert emogg_to_lsl("2024-04-14T23:00:30.000Z", mapping) == pytest.approx(135_630.0)
    now_offset = epoch_minus_lsl()
    lsl_now = pylsl.local_clock()
    stamp_ms = round((lsl_now + now_offset) * 1000)
    assert emogg_to_lsl(stamp_ms, mapping_from_epoch(now_offset)) == pytest.approx(lsl_now, abs=0.002)


# --- Cortex 1.x: the origin of "time since Cortex start" (issue 8) ---------------------


def _v1_frames(
    origin: float, seconds: float, rate: float, delays: list[float]
) -> list[tuple[float, float]]:
    """(stamp, arrival) pairs of a stream whose stamps count from ``origin``."""
    n = int(seconds * rate)
    return [(k / rate, origin + k / rate + delays[k % len(delays)]) for k in range(n)]


def test_origin_estimator_takes_the_fastest_delivery() -> None:
    from bridge.clock import OriginEstimator

    est = OriginEstimator()
    assert est.origin is None
    # Delays between 0.2 and 0.25 s; the fastest frames arrive exactly 0.2 s late.
    delays = [0.2 + 0.05 * ((7 * i) % 11) / 10 for i in range(11)]
    for stamp, arrival in _v1_frames(1000.0, 5.0, 128.0, delays):
        est.observe(stamp, arrival)
    assert est.origin == pytest.approx(1000.2, abs=1e-9)  # a constant delay is invisible
    est.latency = 0.2
    assert est.origin == pytest.approx(1000.0, abs=1e-9)
    # Late frames (a stall, a busy loop) never pull the estimate.
    for stamp, arrival in _v1_frames(1000.0, 5.0, 128.0, [3.0]):
        est.observe(stamp + 5.0, arrival + 5.0)
    assert est.origin == pytest.approx(1000.0, abs=1e-9)


def test_origin_estimator_round_trip_and_window() -> None:
    from bridge.clock import OriginEstimator

    est = OriginEstimator(window_s=10.0, bucket_s=1.0)
    est.note_round_trip(0.004)
    est.note_round_trip(0.010)  # only the shortest round trip counts
    est.observe(0.0, 50.003)
    assert est.transit == pytest.approx(0.002)
    assert est.origin == pytest.approx(50.001)
    # The service's clock drifts: 1 ms later per second. The minimum of the last 10 s
    # follows, instead of clinging to the oldest, smallest value.
    est = OriginEstimator(window_s=10.0, bucket_s=1.0)
    for stamp, arrival in _v1_frames(0.0, 60.0, 10.0, [0.0]):
        est.observe(stamp, arrival + 0.001 * arrival)
    assert est.origin == pytest.approx(0.001 * 50.0, abs=0.0015)
    with pytest.raises(ValueError):
        OriginEstimator(window_s=0.5, bucket_s=1.0)


def test_origin_estimator_shrugs_off_garbled_stamps() -> None:
    from bridge.clock import OriginEstimator

    est = OriginEstimator()
    for stamp, arrival in _v1_frames(500.0, 2.0, 128.0, [0.01]):
        est.observe(stamp, arrival)
    assert est.origin == pytest.approx(500.01)
    est.observe(1.7e9, 502.0)  # an epoch time where seconds-since-start belong
    est.observe(float("nan"), 502.0)
    est.observe(2.0, 502.01)  # back to normal
    assert est.origin == pytest.approx(500.01) and est.rejected == 2
    # Five frames in a row that agree: the origin really moved back 100 s.
    for i in range(5):
        est.observe(102.0 + i / 128, 502.02 + i / 128)
    assert est.origin == pytest.approx(400.02)
