"""Cortex logged out (the simulator's ``logged-out`` quirk): the daemon waits patiently,
says so once at WARNING, and its status says what the user must do (issue 15). The ten
minutes are proved on a fake clock in ``tests/unit/test_logged_out_ten_minutes.py``; this
short run checks the real lines and the real status."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from bridge_harness import BridgeThread, settings_for

from bridge.cortex.errors import error_rule
from bridge.simulator import SimulatorThread

WATCH_S = 6.0


def test_logged_out_waits_with_one_warning_and_a_status_that_says_what_to_do(
    sim_factory: Callable[..., SimulatorThread], unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim = sim_factory(headsets=["epocx:status=connected"], quirks=["logged-out"])
    settings = settings_for(sim, lsl__name_template=f"L{unique_id}-{{stream}}-{{headset}}",
                            osc__enabled="false")  # fmt: skip
    with BridgeThread(settings) as bridge:
        deadline = time.monotonic() + WATCH_S
        while time.monotonic() < deadline and bridge._thread.is_alive():
            time.sleep(0.1)
        assert bridge.app is not None
        status = bridge.app.board.summary()
        state = bridge.app.board.cortex_state
        alive = bridge._thread.is_alive()
    assert alive, bridge.error
    what = error_rule(-32033).hint  # "... log in to EMOTIV Launcher with your EmotivID ..."
    assert state.startswith("waiting for the user") and what in state, state
    assert "log in to EMOTIV Launcher" in status, status
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith("bridge.")
                and not r.name.startswith("bridge.simulator")]  # fmt: skip
    assert len(warnings) == 1, warnings
    assert "EMOTIV Launcher" in warnings[0]
