"""Remote control for experiments against the simulator: start a record with a title and
send a marker over the status page's WebSocket, stop and start again over OSC
(``/record/stop``, ``/record/start s``); refused when ``status.control`` is off.

After a remote stop the bridge opens no record of its own: a marker sent then waits in
the queue and goes into the next record the experimenter starts.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bridge_harness import BridgeThread, settings_for
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from bridge.config import StatusSettings
from bridge.simulator import SimulatorConfig, SimulatorThread
from bridge.status.control import Action, Command, from_osc, from_ws, refusal


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        port=0, seed=9, headsets=[f"epocx:id=EPOCX-{unique_id[:8].upper()},status=connected"])
    thread = SimulatorThread(config).start()
    yield thread
    thread.stop()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(sim: SimulatorThread) -> list[dict[str, Any]]:
    return list(sim.state()["records"])


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def marker_values(record: dict[str, Any]) -> list[str]:
    return [str(m["value"]) for m in record["markers"]]


def ask(url: str, **message: Any) -> dict[str, Any]:
    with connect(url) as ws:
        ws.send(json.dumps({"type": "control", "id": 1, **message}))
        while True:
            reply = json.loads(ws.recv(timeout=15))
            if reply.get("type") == "control":
                return dict(reply)


def test_record_and_marker_over_websocket_and_osc(sim: SimulatorThread) -> None:
    osc_port = free_udp_port()
    settings = settings_for(
        sim, cortex__streams='["eeg"]', markers__enabled="true", markers__lsl_input="false",
        markers__osc_input="true", markers__osc_port=str(osc_port), status__control="true",
    )
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        app = bridge.app
        assert app is not None and app.status.server is not None
        host, port = app.status.server.bound
        url = f"ws://{host}:{port}/ws"
        wait_for(lambda: records(sim))  # the bridge's own record, for markers

        reply = ask(url, action="record_start", title="subject 7 run 1")
        assert reply["ok"] and reply["id"] == 1, reply
        run1 = wait_for(lambda: [r for r in records(sim) if r["title"] == "subject 7 run 1"])
        (run1,) = run1
        assert ask(url, action="marker", value="stimulus-1", label="stim")["ok"]
        wait_for(lambda: "stimulus-1" in marker_values(
            next(r for r in records(sim) if r["uuid"] == run1["uuid"])))

        osc = SimpleUDPClient("127.0.0.1", osc_port)
        osc.send_message("/record/stop", [])
        wait_for(lambda: next(r for r in records(sim) if r["uuid"] == run1["uuid"])
                 ["endDatetime"])
        # Held: a marker now waits (no record of the bridge's own is opened).
        assert ask(url, action="marker", value="between")["ok"]
        time.sleep(1.5)
        assert not any("between" in marker_values(r) for r in records(sim))
        assert len(records(sim)) == 2  # the bridge's first record and run 1

        osc.send_message("/record/start", ["subject 7 run 2"])
        run2 = wait_for(lambda: [r for r in records(sim) if r["title"] == "subject 7 run 2"])
        wait_for(lambda: "between" in marker_values(
            next(r for r in records(sim) if r["uuid"] == run2[0]["uuid"])))

        bad = ask(url, action="record_start", title="")
        assert not bad["ok"] and "title" in bad["error"]


def test_control_is_refused_unless_enabled(sim: SimulatorThread) -> None:
    settings = settings_for(sim, cortex__streams='["eeg"]', markers__enabled="true",
                            markers__lsl_input="false")
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        assert bridge.app is not None and bridge.app.status.server is not None
        host, port = bridge.app.status.server.bound
        reply = ask(f"ws://{host}:{port}/ws", action="record_start", title="nope")
        assert reply == {"type": "control", "id": 1, "ok": False,
                         "error": "remote control is off (status.control = false)"}
        assert not any(r["title"] == "nope" for r in records(sim))


def test_commands_and_admission_are_pure_decisions() -> None:
    assert from_ws({"action": "record_start", "title": " run 3 "}) == \
        Command(Action.RECORD_START, title="run 3")
    assert from_ws({"action": "launch"}).startswith("unknown action")  # type: ignore[union-attr]
    assert from_ws({"action": "marker"}) == "marker needs a value"
    assert from_osc("/record/stop", []) == Command(Action.RECORD_STOP)
    assert isinstance(from_osc("/record/start", ["x" * 201]), str)
    on = StatusSettings(control=True)
    assert refusal(on, loopback=True, markers_on=True) is None
    assert "other machines" in str(refusal(on, loopback=False, markers_on=True))
    assert refusal(StatusSettings(control=True, control_remote=True), False, True) is None
    assert "status.control" in str(refusal(StatusSettings(), True, True))
    assert "markers" in str(refusal(on, True, False))
