"""The diagnostics event type and hub, with plain data and a fake clock."""

from __future__ import annotations

import json
import math

import pytest

from bridge.pipeline import StreamPipeline, counted_drops
from bridge.status import EventHub, EventName, StatusBoard
from bridge.status.events import SEVERITY, Event, NoEvents, config_digest


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_emit_stamps_now_or_the_given_time_and_reaches_every_sink() -> None:
    clock = FakeClock(100.0)
    hub = EventHub(clock)
    seen: list[Event] = []
    also: list[Event] = []
    hub.subscribe(seen.append)
    unsubscribe = hub.subscribe(also.append)
    hub.emit(EventName.CORTEX_LOST, reason="closed")
    clock.now = 105.0
    hub.emit(EventName.GAP, "EPOCX-1", at=101.5, stream="eeg", missing=12)
    unsubscribe()
    hub.emit(EventName.CLOCK_STEP, "EPOCX-1", step=5.3)
    assert [(e.name, e.lsl_time) for e in seen] == [
        (EventName.CORTEX_LOST, 100.0), (EventName.GAP, 101.5), (EventName.CLOCK_STEP, 105.0)]
    assert len(also) == 2
    assert hub.counts == {"cortex_lost": 1, "gap": 1, "clock_step": 1}


def test_json_has_event_headset_time_and_fields_and_is_always_valid() -> None:
    event = Event(EventName.CLOCK_RESYNC, "INSIGHT-2", 12.3456789,
                  {"method": "sync", "offset": 1.0000004, "change": None, "bad": math.nan,
                   "event": "not overwritten"})
    obj = json.loads(event.to_json())
    assert obj == {"event": "clock_resync", "headset": "INSIGHT-2", "time": 12.345679,
                   "method": "sync", "offset": 1.0, "change": None, "bad": None}


def test_a_failing_sink_breaks_nothing() -> None:
    hub = EventHub(FakeClock())
    errors: list[Exception] = []
    hub.on_sink_error = lambda sink, exc: errors.append(exc)
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("sink bug")

    hub.subscribe(broken)
    hub.subscribe(seen.append)
    hub.emit(EventName.BRIDGE_STARTED)
    assert len(seen) == 1 and str(errors[0]) == "sink bug"


def test_last_is_newest_first_and_filters_by_headset() -> None:
    hub = EventHub(FakeClock(), keep=3)
    for n in range(5):
        hub.emit(EventName.GAP, f"H{n % 2}", missing=n)
    assert [e.fields["missing"] for e in hub.last(10)] == [4, 3, 2]
    assert [e.fields["missing"] for e in hub.last(10, "H0")] == [4, 2]


def test_every_event_has_a_severity_and_no_events_keeps_nothing() -> None:
    assert set(SEVERITY) == set(EventName)
    quiet = NoEvents()
    quiet.emit(EventName.GAP, "x")
    assert not quiet.recent and not quiet.counts


def test_config_digest_is_short_and_stable() -> None:
    assert config_digest("{}") == config_digest("{}") != config_digest("{ }")
    assert len(config_digest("{}")) == 16


class _Outlet:
    def __init__(self) -> None:
        self.pushed: list[float] = []

    def push(self, sample: object, ts: float) -> None:
        self.pushed.append(ts)


@pytest.mark.parametrize("lost", [1, 40])
def test_the_pipeline_reports_a_counter_gap_at_its_first_missing_sample(lost: int) -> None:
    """A real pipeline on a 128 Hz plan: the gap event is stamped one period after the
    last sample before the gap and says how many are missing."""
    from bridge.clock import ClockMapping, ClockSource
    from bridge.pipeline import HeadsetClock
    from bridge.streams import HeadsetInfo, build_plan

    board = StatusBoard(EventHub(FakeClock()))
    headset = HeadsetInfo("EPOCX-1", model="EPOCX", eeg_rate=128.0,
                          sensors=("AF3", "AF4"))
    plan = build_plan("eeg", ["COUNTER", "INTERPOLATED", "AF3", "AF4", "RAW_CQ",
                              "MARKER_HARDWARE", "MARKERS"], headset)
    outlet = _Outlet()
    pipe = StreamPipeline(plan, outlet, HeadsetClock(ClockMapping(0.0, ClockSource.SYNC)),  # type: ignore[arg-type]
                          board.stream("EPOCX-1", "eeg"))
    t0 = 1000.0
    for k in [0, 1, 2, 3 + lost, 4 + lost]:
        pipe.handle([k % 128, 0, 4000.0, 4100.0, 0, 0, []], t0 + k / 128)
    (gap,) = [e for e in board.events.recent if e.name is EventName.GAP]
    assert gap.fields["missing"] == lost == counted_drops(2, (3 + lost) % 128, 128, None)
    assert gap.headset == "EPOCX-1" and gap.fields["stream"] == "eeg"
    assert gap.lsl_time == pytest.approx(t0 + 3 / 128)
