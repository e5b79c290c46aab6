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


def test_sigterm_with_a_frozen_cortex_exits_0_within_2_s(tmp_path: Path, unique_id: str) -> None:
    """Cortex frozen (its process stopped: no answers, no pongs, no close frames) while
    the bridge streams with a record open for markers: SIGTERM still ends the bridge
    cleanly within 2 s (the unit's stop timeout is 10 s)."""
    import os
    import socket

    import pylsl

    headset = f"EPOCX-{unique_id[:8].upper()}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ca = tmp_path / "ca.pem"
    sim = subprocess.Popen(
        [sys.executable, "-m", "bridge", "simulate", "--port", str(port), "--ca-out", str(ca),
         "--tls-dir", str(tmp_path / "tls"), "--headset", f"epocx:id={headset},status=connected",
         "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    config = tmp_path / "bridge.toml"
    config.write_text(
        "[cortex]\n"
        f'url = "wss://127.0.0.1:{port}"\n'
        'client_id = "cortex-bridge-demo"\n'
        'client_secret = "cortex-bridge-demo-secret"\n'
        f'ca_file = "{ca}"\n'
        'streams = ["eeg", "mot"]\n'
        "[markers]\nenabled = true\nosc_input = false\n"
        f"lsl_predicate = \"name='none-{unique_id}'\"\n"
    )
    config.chmod(0o600)
    bridge: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 15
        while not ca.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        found = pylsl.resolve_byprop("source_id", f"cortex-bridge:{headset}:eeg", 1, 20.0)
        assert found, "the bridge never published its EEG outlet"
        time.sleep(1.0)  # streaming, the record open
        os.kill(sim.pid, signal.SIGSTOP)
        time.sleep(0.3)
        sent = time.monotonic()
        bridge.send_signal(signal.SIGTERM)
        _, stderr = bridge.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if bridge is not None and bridge.poll() is None:
            bridge.kill()
            bridge.communicate()
        os.kill(sim.pid, signal.SIGCONT)
        sim.terminate()
        sim.communicate(timeout=10)
    print(f"SIGTERM to exit with a frozen Cortex: {took:.2f} s")
    assert bridge.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert took < 2.0
