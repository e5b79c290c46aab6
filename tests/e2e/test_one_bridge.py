"""One bridge per configuration and per headset on a host (issue 16): a second bridge
with the same configuration refuses to start, naming the first; a second one with another
configuration leaves the first one's headset alone."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import pytest
from bridge_harness import BridgeThread, settings_for

from bridge.errors import ExitCode
from bridge.instance import AlreadyRunning
from bridge.outputs import lsl
from bridge.simulator import SimulatorConfig, SimulatorThread


@pytest.fixture
def sim(unique_id: str) -> SimulatorThread:
    config = SimulatorConfig(port=0, headsets=[f"epocx:id=EPOCX-{unique_id[:8].upper()},"
                                               "status=connected"], seed=3)
    with SimulatorThread(config) as simulator:
        yield simulator


def live_sessions(sim: SimulatorThread) -> list[dict[str, object]]:
    return [s for s in sim.state()["sessions"] if s["status"] != "closed"]


def test_a_second_bridge_with_the_same_configuration_refuses_to_start(
    sim: SimulatorThread,
) -> None:
    settings = settings_for(sim, cortex__streams="mot")
    with BridgeThread(settings) as first:
        first.wait_streaming()
        with BridgeThread(settings) as second:
            deadline = time.monotonic() + 5
            while second.error is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert isinstance(second.error, AlreadyRunning), second.error
        assert second.error.exit_code is ExitCode.FAILURE
        assert f"pid {os.getpid()}" in str(second.error)  # names the one that runs
        assert len(live_sessions(sim)) == 1
        assert first.error is None


def test_a_second_configuration_leaves_the_first_ones_headset_alone(
    sim: SimulatorThread, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.cortex")
    first_settings = settings_for(sim, cortex__streams="mot")
    other = settings_for(sim, cortex__streams="mot",
                         lsl__name_template=f"other-{unique_id}-{{stream}}-{{headset}}")
    with BridgeThread(first_settings) as first:
        first.wait_streaming()
        sessions = {s["id"] for s in live_sessions(sim)}
        with BridgeThread(other) as second:
            time.sleep(3.0)  # time enough to have taken the session over (it used to)
            assert second.error is None
            assert second.app is not None and not second.app.streaming.is_set()
        assert {s["id"] for s in live_sessions(sim)} == sessions, "the session was disturbed"
    said = [r.getMessage() for r in caplog.records if "another cortex-bridge" in r.getMessage()]
    assert len(said) == 1, said


def test_a_bridge_elsewhere_is_found_by_its_outlets(
    sim: SimulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bridge whose locks this one cannot see (on another machine; here: another lock
    directory) publishes the headset's outlets: this one leaves the headset alone and
    names the other by its host and outlet."""
    caplog.set_level(logging.WARNING, logger="bridge.cortex")
    monkeypatch.setattr(lsl, "PUBLISHED_LOOKUP_S", 1.0)  # the product's listening time
    settings = settings_for(sim, cortex__streams="mot")
    headset = sim.state()["headsets"][0]["id"]
    with BridgeThread(settings) as first:
        first.wait_streaming()
        sessions = {s["id"] for s in live_sessions(sim)}
        monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "elsewhere"))
        with BridgeThread(settings) as second:
            time.sleep(3.0)
            assert second.error is None
            assert second.app is not None and not second.app.streaming.is_set()
        assert {s["id"] for s in live_sessions(sim)} == sessions, "the session was disturbed"
        assert first.error is None
    said = [r.getMessage() for r in caplog.records if "another cortex-bridge" in r.getMessage()]
    assert len(said) == 1, said
    assert f"on {socket.gethostname()} (its LSL outlet cortex-bridge:{headset}:mot)" in said[0]
