"""Bad frame values through the real bridge (issue 16): the simulator spoils EEG frames
on the wire (times of Infinity, NaN, 1e300 and 0, an infinite and a 1e300 sensor value,
a frame sent twice) and the bridge counts each one as malformed, reports no dropped
samples for the repeat, logs a handful of lines and no traceback, and its outlet carries
only finite values with possible timestamps. Cortex 2+ dialect (the fault is v2's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest
from bridge_harness import BridgeThread, settings_for

from bridge.simulator import SimulatorConfig, SimulatorThread

KINDS = ["time_inf", "time_nan", "time_huge", "time_zero", "value_inf", "value_huge", "repeat"]


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    config = SimulatorConfig(port=0, headsets=[f"epocx:id=EPOCX-{unique_id[:8].upper()}"
                                               ",status=connected"],
                             delay_ms=50.0, seed=16)
    with SimulatorThread(config) as running:
        yield running


def test_spoiled_frames_are_counted_and_never_published(
    sim: SimulatorThread, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    headset = f"EPOCX-{unique_id[:8].upper()}"
    settings = settings_for(sim, cortex__streams="eeg", cortex__headsets=headset)
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        assert bridge.app is not None
        found = pylsl.resolve_byprop("source_id", f"cortex-bridge:{headset}:eeg", 1, 10)
        assert found
        inlet = pylsl.StreamInlet(found[0], max_buflen=30)
        inlet.open_stream(5)
        stats = bridge.app.board.stream(headset, "eeg")
        time.sleep(0.5)
        before_dropped, before_malformed = stats.dropped, stats.malformed
        sim.call(lambda s: s.bad_frames(KINDS * 20))  # 140 spoiled frames in a row
        deadline = time.monotonic() + 10
        while stats.malformed - before_malformed < len(KINDS) * 20:
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        samples: list[list[float]] = []
        stamps: list[float] = []
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            chunk, ts = inlet.pull_chunk(timeout=0.2)
            samples.extend(chunk)
            stamps.extend(ts)
        now = pylsl.local_clock()
        assert stats.malformed - before_malformed == len(KINDS) * 20
        # a repeated frame is no "127 dropped", a spoiled one no "1 dropped" (it came)
        assert stats.dropped == before_dropped
    values = np.asarray(samples)
    times = np.asarray(stamps)
    assert len(times) > 100
    assert np.isfinite(values).all()
    assert (np.isfinite(times) & (times > now - 60) & (times <= now)).all()
    assert np.all(np.diff(times) > 0)  # the repeat was not pushed a second time
    pipeline_lines = [r for r in caplog.records if r.name == "bridge.pipeline"]
    assert 1 <= len(pipeline_lines) <= 3  # the first, then summaries at 10 and 100
    assert not any(r.exc_info for r in caplog.records)
