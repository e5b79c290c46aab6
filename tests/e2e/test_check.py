"""``cortex-bridge check`` against the simulator: run's path, stopped before streaming
(issue 15): access is requested, discovered headsets are connected, the session is
unactivated unless ``--activate``, every output run would create is listed, and what run
would go on without is a ``warning:`` line."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

from bridge_harness import bridge_settings

from bridge.cortex.check import check
from bridge.simulator import SimulatorThread

SimFactory = Callable[..., SimulatorThread]


def run_check(sim: SimulatorThread, *, activate: bool = False, **overrides: str) -> tuple[int, str]:
    settings = bridge_settings(sim.url, str(sim.ca_pem_path), **overrides)
    out = io.StringIO()
    code = asyncio.run(check(settings, out, activate=activate))
    print(out.getvalue())
    return code, out.getvalue()


def lines_with(text: str, *needles: str) -> list[str]:
    return [line for line in text.splitlines() if all(n in line for n in needles)]


def sessions(sim: SimulatorThread) -> list[dict[str, Any]]:
    return list(sim.state()["sessions"])


def test_check_connects_a_discovered_headset_and_lists_every_output(
    sim_factory: SimFactory, unique_id: str
) -> None:
    hid = f"EPOCX-{unique_id[:8].upper()}"
    sim = sim_factory(headsets=[f"epocx:id={hid}"])  # discovered: run connects it
    code, out = run_check(
        sim, cortex__streams="eeg,pow,com", markers__enabled="true", markers__echo_int32="true",
        markers__osc_input="true", osc__enabled="true", osc__targets='["127.0.0.1:9123"]',
        emogg__enabled="true", emogg__token="not-a-real-token",
    )  # fmt: skip
    assert code == 0, out
    assert f"headset {hid}: discovered" in out and "connecting it, as run does" in out
    assert f"headset {hid}: connected" in out
    assert "access: granted" in out
    # Streams, then the marker echo outlets, OSC addresses, status and marker echo.
    assert lines_with(out, "outlet", f"cortex-bridge:{hid}:pow")
    assert lines_with(out, "outlet", f"cortex-bridge:{hid}:markers")
    assert lines_with(out, "outlet", f"cortex-bridge:{hid}:markers-int32")
    assert lines_with(out, "OSC /emotiv/pow")
    assert lines_with(out, "OSC", "/emotiv/com/action")  # action streams: per action
    assert lines_with(out, "OSC /emotiv/status") and lines_with(out, "OSC /emotiv/marker")
    assert lines_with(out, "OSC targets: 127.0.0.1:9123")
    assert lines_with(out, "marker input: OSC /marker on 127.0.0.1:")
    assert lines_with(out, "marker input: LSL marker streams")
    assert lines_with(out, "outlet", "cortex-bridge:emogg:emogg-")  # Emogg's outlets
    # Not activated without --activate: eeg is a note, not a problem; no licence used.
    assert lines_with(out, "stream eeg needs an activated session; not checked")
    assert all(s["status"] != "activated" for s in sessions(sim))
    assert all(s["status"] == "closed" for s in sessions(sim))  # check closes what it opened


def test_check_requests_access_and_says_what_to_do(sim_factory: SimFactory) -> None:
    sim = sim_factory(headsets=["epocx:status=connected"], access="prompt",
                      approval_delay_s=60.0)  # fmt: skip
    code, out = run_check(sim)
    assert code == 1
    assert "access: not granted yet" in out
    assert lines_with(out, "problem:", "approve this application in EMOTIV Launcher")
    assert sessions(sim) == []


def test_check_warns_about_what_run_would_degrade(sim_factory: SimFactory) -> None:
    """A licence without EEG (quirk no-eeg-licence), with --activate: eeg refused is a
    warning (run streams the others and asks for it again), the other streams are listed,
    exit 0."""
    sim = sim_factory(headsets=["epocx:status=connected"], quirks=["no-eeg-licence"])
    code, out = run_check(sim, activate=True, cortex__streams="eeg,pow")
    assert code == 0, out
    assert lines_with(out, "warning:", "stream eeg refused", "EEG needs an EEG licence",
                      "asks for it again")
    assert lines_with(out, "outlet", ":pow")
    code, out = run_check(sim, activate=True, cortex__streams="pow", cortex__activate="false")
    assert code == 0 and lines_with(out, "session activated")
    code, out = run_check(sim, cortex__streams="pow", cortex__activate="false")
    assert lines_with(out, "warning:", "cortex.activate = false")


def test_check_skips_a_usb_cabled_headset_and_says_why(sim_factory: SimFactory) -> None:
    sim = sim_factory(headsets=["insight:status=connected"], quirks=["usb-headset"])
    code, out = run_check(sim, cortex__streams="pow")
    assert code == 0, out
    assert lines_with(out, "headset EPOCX-0000CAB1: connected (usb cable)")
    assert lines_with(out, "EPOCX-0000CAB1 is not bridged", "USB cable")
    assert not [s for s in sessions(sim) if s["headset"]["id"] == "EPOCX-0000CAB1"]
    code, out = run_check(sim, cortex__headsets='["EPOCX-*"]')
    assert code == 1
    assert lines_with(out, "warning:", "matches only headsets Cortex cannot open")
