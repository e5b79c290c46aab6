"""The daemon as a real process: SIGTERM mid-stream closes its session and exits 0 fast."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.simulator import SimulatorConfig, SimulatorThread


def sigterm_mid_stream(
    sim: SimulatorThread, path: Path, extra_toml: str,
    ready: Callable[[dict[str, Any]], bool], what: str, settle: float,
    sig: signal.Signals = signal.SIGTERM,
) -> tuple[int, str, float]:
    """Write a config for ``sim`` (plus ``extra_toml``) to ``path``, start
    ``cortex-bridge run --config path`` as a process, wait until the simulator's state
    satisfies ``ready``, let it stream ``settle`` s, SIGTERM it; returns (exit code,
    stderr, seconds from SIGTERM to exit)."""
    path.write_text(
        "[cortex]\n"
        f'url = "{sim.url}"\n'
        'client_id = "cortex-bridge-demo"\n'
        'client_secret = "cortex-bridge-demo-secret"\n'
        f'ca_file = "{sim.ca_pem_path}"\n' + extra_toml
    )
    path.chmod(0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready(sim.state()):
            if time.monotonic() > deadline:
                proc.kill()
                _, stderr = proc.communicate()
                raise AssertionError(f"the daemon never {what}:\n{stderr}")
            time.sleep(0.2)
        time.sleep(settle)  # mid-stream
        sent = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stderr, took


def test_sigterm_closes_the_session_and_exits_0(tmp_path: Path, unique_id: str) -> None:
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id={headset},status=connected"], seed=5, control=True
    )
    with SimulatorThread(config) as sim:
        returncode, stderr, took = sigterm_mid_stream(
            sim, tmp_path / "bridge.toml", "", lambda state: bool(state["sessions"] and state["sessions"][0]["streams"]),
            "subscribed", 1.0,
        )
        sessions = sim.state()["sessions"]
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    print(f"SIGTERM to exit: {took:.2f} s")
    assert took < 2.0
    assert len(sessions) == 1
    assert sessions[0]["status"] == "closed"
    assert sessions[0]["closedBy"] == "client"  # updateSession close, not a dropped socket


def test_sigterm_stops_the_record(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With markers on, the daemon opens a record per session; SIGTERM stops it
    (stopRecord) before the session closes, still within 2 s. (Closing the session would
    end the record too, so the simulator's request log is what proves stopRecord.)"""
    caplog.set_level(logging.DEBUG, logger="bridge.simulator")
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id={headset},status=connected"], seed=6, control=True
    )
    with SimulatorThread(config) as sim:
        returncode, stderr, took = sigterm_mid_stream(
            sim, tmp_path / "bridge.toml",
            'streams = ["eeg"]\n'
            "[markers]\n"
            "enabled = true\n"
            "lsl_input = false\n",
            lambda state: bool(state["records"] and state["sessions"][0]["streams"]),
            "opened a record", 0.5,
        )
        state = sim.state()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    print(f"SIGTERM to exit with a record: {took:.2f} s")
    assert took < 2.0
    [record] = state["records"]
    assert record["endDatetime"], "the record was not stopped"
    [session] = state["sessions"]
    assert session["status"] == "closed" and session["closedBy"] == "client"
    methods = [r.getMessage().split(": ", 1)[-1] for r in caplog.records
               if r.getMessage().startswith("conn ")]
    assert "stopRecord" in methods
    assert methods.index("stopRecord") < methods.index("updateSession")


def test_ctrl_c_stops_as_sigterm_does_and_exits_130(tmp_path: Path, unique_id: str) -> None:
    """The README's exit code for an interrupted run; the session is closed all the same."""
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id={headset},status=connected"], seed=7, control=True
    )
    with SimulatorThread(config) as sim:
        returncode, stderr, _took = sigterm_mid_stream(
            sim, tmp_path / "bridge.toml", "",
            lambda state: bool(state["sessions"] and state["sessions"][0]["streams"]),
            "subscribed", 0.5, sig=signal.SIGINT,
        )
        sessions = sim.state()["sessions"]
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    assert sessions[0]["closedBy"] == "client"
