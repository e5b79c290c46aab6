"""The stall and clock-step rules, on plain numbers."""

from __future__ import annotations

from bridge.watch import ClockStepWatch, StallWatch


def test_stall_watch_counts_silence_from_the_last_change() -> None:
    watch = StallWatch()
    watch.reset(100.0)
    assert watch.update(5, 100.0) == 0.0
    assert watch.update(5, 102.5) == 2.5
    assert watch.update(6, 103.0) == 0.0  # a frame came
    assert watch.update(6, 108.0) == 5.0
    watch.reset(200.0)
    assert watch.update(6, 201.0) == 0.0  # after a reset any count is news


def test_steady_lag_with_jitter_and_drift_is_no_step() -> None:
    watch = ClockStepWatch(threshold=0.5)
    lags = [0.2 + 0.05 * ((i * 7) % 5 - 2) + 0.001 * i for i in range(200)]
    assert all(watch.observe(lag) is None for lag in lags)


def test_a_forward_step_counts_at_once() -> None:
    watch = ClockStepWatch(threshold=0.5)
    for _ in range(5):
        assert watch.observe(0.2) is None
    step = watch.observe(0.2 - 5.3)  # sample times 5.3 s later: they seem to arrive early
    assert step is not None and abs(step - 5.3) < 1e-9
    assert watch.observe(0.2 - 5.3) is None  # re-learned after the re-sync


def test_a_backward_step_needs_a_second_look() -> None:
    watch = ClockStepWatch(threshold=0.5)
    for _ in range(5):
        watch.observe(0.2)
    assert watch.observe(3.2) is None  # could be a pause with a backlog
    step = watch.observe(3.21)
    assert step is not None and abs(step + 3.01) < 0.02


def test_a_pause_is_not_a_step() -> None:
    watch = ClockStepWatch(threshold=0.5)
    for _ in range(5):
        watch.observe(0.2)
    assert watch.observe(0.85) is None  # read mid-backlog after a 0.6 s pause
    assert watch.observe(0.21) is None  # drained: back to normal
    assert watch.observe(0.2) is None


def test_jitter_widens_the_threshold_for_slow_streams() -> None:
    watch = ClockStepWatch(threshold=0.5)
    watch.observe(0.2)
    assert watch.observe(-0.6, jitter=1.0) is None  # 2 Hz: a sample can be 0.5 s old
    assert watch.observe(-0.6) is not None
