"""The status snapshot and the page's tap, from plain data."""

from __future__ import annotations

import json

from bridge.status import EventHub, EventName, StatusBoard
from bridge.status.snapshot import HEAD_MAP, RateMeter, build_snapshot, public_url
from bridge.status.tap import CombinedSinks, StatusTap
from bridge.streams import HeadsetInfo, build_plan

EPOC = HeadsetInfo("EPOCX-1", model="EPOCX", eeg_rate=128.0, sensors=("AF3", "AF4"))
DEV_COLS = ["Battery", "Signal", ["AF3", "AF4", "OVERALL"], "BatteryPercent"]
EEG_COLS = ["COUNTER", "INTERPOLATED", "AF3", "AF4", "RAW_CQ", "MARKER_HARDWARE", "MARKERS"]


def _tap_with_data(active: bool) -> StatusTap:
    tap = StatusTap(trace_seconds=1.0)
    tap.active = active
    (dev,) = tap.sinks_for(build_plan("dev", DEV_COLS, EPOC), EPOC)
    eeg_plan = build_plan("eeg", EEG_COLS, EPOC)
    (eeg,) = tap.sinks_for(eeg_plan, EPOC)
    dev(build_plan("dev", DEV_COLS, EPOC).extract([3, 0.8, [4, 2, 3], 77]), 10.0)
    for k in range(300):
        eeg(eeg_plan.extract([k % 128, 0, 4000.0 + k, 4100.0 - k, 0, 0, []]), 10.0 + k / 128)
    return tap


def test_tap_keeps_device_quality_and_a_window_of_traces_only_while_watched() -> None:
    tap = _tap_with_data(active=True)
    device = tap.headsets["EPOCX-1"].device()
    assert device == {"battery_level": 3.0, "battery": 77.0, "signal": 0.8,
                      "cq": {"AF3": 4.0, "AF4": 2.0}, "cq_overall": 3.0}
    traces = tap.headsets["EPOCX-1"].traces_since(0.0)
    assert traces["labels"] == ["AF3", "AF4"]
    assert len(tap.headsets["EPOCX-1"].traces) == 128  # one second kept
    assert len(traces["t"]) == 32  # 128 Hz sent at most at 32 points/s
    assert traces["v"][0][-1] - traces["v"][0][0] == traces["v"][1][0] - traces["v"][1][-1]
    later = tap.headsets["EPOCX-1"].traces_since(traces["t"][-1])
    assert later["t"] == []
    idle = _tap_with_data(active=False)
    assert not idle.headsets["EPOCX-1"].traces  # nothing kept with no page open


def test_combined_sinks_keep_osc_reachable() -> None:
    tap = StatusTap()
    combined = CombinedSinks(None, tap)
    assert combined.osc is None
    assert len(combined.sinks_for(build_plan("dev", DEV_COLS, EPOC), EPOC)) == 1


def test_snapshot_has_per_headset_state_rates_device_clock_and_warnings() -> None:
    hub = EventHub(lambda: 50.0)
    board = StatusBoard(hub)
    tap = _tap_with_data(active=True)
    stats = board.stream("EPOCX-1", "eeg")
    stats.state = "streaming"
    board.headset("EPOCX-1").state = "streaming"
    board.headset("EPOCX-1").clock_source = "sync"
    board.headset("EPOCX-1").clock_offset = 12.5
    meter = RateMeter()

    def snap(now: float) -> dict[str, object]:
        return build_snapshot(bridge={"name": "lab-1"}, board=board, hub=hub, tap=tap,
                              markers={"received": 3, "per_headset": {"EPOCX-1": {"injected": 2}}},
                              meter=meter, now=now, lsl_now=stats.last_lsl_time + 0.2)

    stats.samples, stats.last_lsl_time = 1000, 40.0
    snap(0.0)
    stats.samples, stats.last_lsl_time = 1256, 42.0
    hub.emit(EventName.GAP, "EPOCX-1", stream="eeg", missing=3)
    hub.emit(EventName.CLOCK_RESYNC, "EPOCX-1", method="sync")
    s = snap(2.0)
    json.dumps(s, allow_nan=False)
    (hs,) = s["headsets"]  # type: ignore[misc]
    assert hs["state"] == "streaming" and hs["battery"] == 77.0 and hs["cq"]["AF4"] == 2.0
    assert hs["clock"] == {"method": "sync", "offset": 12.5}
    assert hs["latency_s"] == 0.2
    (eeg,) = hs["streams"]
    assert eeg["rate"] == 128.0 and eeg["nominal"] == 128.0
    assert [w["event"] for w in hs["warnings"]] == ["gap"]  # info events are not warnings
    assert hs["markers"] == {"injected": 2}
    assert s["markers"] == {"received": 3}
    assert [e["event"] for e in s["events"]] == ["clock_resync", "gap"]  # type: ignore[index]


def test_nothing_secret_in_the_url_and_every_emotiv_sensor_on_the_head_map() -> None:
    assert public_url("wss://user:pw@cortex.lab:6868/x?token=abc#f") == "wss://cortex.lab:6868/x"
    for sensor in ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4",
                   "F8", "AF4", "Pz"):
        assert sensor in HEAD_MAP
