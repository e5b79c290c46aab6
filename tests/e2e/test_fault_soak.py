"""A soak with random faults: 8 headsets, markers at 10/s from LSL and OSC, faults of
every kind at random times; in the end every marker is in every headset's record exactly
once, on the sample its sender stamped it at (within one sample), and the bridge's own
counts say so.

The suite runs it for ``CORTEX_BRIDGE_SOAK_S`` seconds (16 by default: four faults
in 10 s); the issue's full run is 5 minutes:

    CORTEX_BRIDGE_SOAK_S=300 .venv/bin/python -m pytest tests/e2e/test_fault_soak.py -s

``CORTEX_BRIDGE_SOAK_SEED`` picks the faults (printed with the results).
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bridge_harness import BridgeThread, settings_for
from stimulus import StimulusProcess

from bridge.simulator import Simulator, SimulatorConfig, SimulatorThread

SOAK_S = float(os.environ.get("CORTEX_BRIDGE_SOAK_S", "16"))
SEED = int(os.environ.get("CORTEX_BRIDGE_SOAK_SEED", "7"))
HEADSETS = 8
EEG_RATE = 128
MARKERS_PER_S = 10.0

Fault = Callable[[Simulator, random.Random, str], Any]


def _headset_off_and_on(sim: Simulator, rnd: random.Random, headset: str) -> None:
    """Off now, on again 1-3 s later (run on the simulator's loop)."""
    sim.set_headset_power(headset, False)
    asyncio.get_running_loop().call_later(rnd.uniform(1.0, 3.0), sim.set_headset_power,
                                          headset, True)  # fmt: skip


FAULTS: dict[str, Fault] = {
    "connection cut": lambda s, r, h: s.drop_connections("abort"),
    "outage": lambda s, r, h: s.outage(r.uniform(1.0, 3.0)),
    "stall": lambda s, r, h: s.stall(r.uniform(1.0, 4.0)),
    "lost marker answers": lambda s, r, h: s.lose_answers("injectMarker", r.randint(1, 3)),
    "headset off and on": _headset_off_and_on,
    "token expiry": lambda s, r, h: s.expire_tokens(),
    "malformed frames": lambda s, r, h: s.send_malformed(4),
    "muted session": lambda s, r, h: s.mute(h, r.uniform(2.0, 4.0)),
    "dropped samples": lambda s, r, h: s.drop_samples(h, "eeg", r.randint(1, 40)),
}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    ids = [f"EPOCX-{unique_id[:6].upper()}{k:02d}" for k in range(HEADSETS)]
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id={h},status=connected" for h in ids], seed=SEED,
        control=True, connect_delay_s=0.2, power_off_timeout_s=0.5, scan_delay_s=0.3,
        delay_ms=30.0,
    )  # fmt: skip
    with SimulatorThread(config) as running:
        yield running


def _recorded(sim: SimulatorThread) -> dict[str, list[dict[str, Any]]]:
    return {h["id"]: list(h["markers"]) for h in sim.state()["headsets"]}


@pytest.mark.timeout(SOAK_S + 120)
def test_random_faults_lose_and_repeat_no_marker(sim: SimulatorThread, unique_id: str) -> None:
    headsets = [h["id"] for h in sim.state()["headsets"]]
    name = f"soak-{unique_id}"
    osc_port = _free_udp_port()
    settings = settings_for(
        sim, cortex__headsets=f'{headsets}'.replace("'", '"'), cortex__streams='["eeg"]',
        cortex__stall_timeout="1.5", osc__enabled="false", markers__enabled="true",
        markers__osc_input="true", markers__osc_port=str(osc_port),
        markers__lsl_predicate=f"name='{name}'",
    )  # fmt: skip
    rnd = random.Random(SEED)
    faults: list[tuple[float, str, str]] = []
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        assert bridge.app is not None
        deadline = time.monotonic() + 30
        while len({r["sessionId"] for r in sim.state()["records"]}) < HEADSETS:
            assert time.monotonic() < deadline, "not every headset has a record"
            time.sleep(0.1)
        stimulus = StimulusProcess(name, osc_port, MARKERS_PER_S)  # once the bridge reads it
        try:
            start = time.monotonic()
            count = max(4, round(SOAK_S / 20))
            at = sorted(rnd.uniform(2.0, SOAK_S - 6.0) for _ in range(count))
            for when in at:
                time.sleep(max(0.0, start + when - time.monotonic()))
                kind, headset = rnd.choice(sorted(FAULTS)), rnd.choice(headsets)
                sim.call(lambda s, k=kind, h=headset: FAULTS[k](s, rnd, h))
                faults.append((round(when, 1), kind, headset))
            time.sleep(max(0.0, start + SOAK_S - time.monotonic()))
            sent = stimulus.stop()
        finally:
            stimulus.kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                len(m) < len(sent) for m in _recorded(sim).values()):  # fmt: skip
            time.sleep(0.25)
        time.sleep(1.0)  # anything later would be a duplicate
        recorded = _recorded(sim)
        counts = bridge.app.markers.counts()
    print(f"\nsoak {SOAK_S:g} s, seed {SEED}, {HEADSETS} headsets, {len(sent)} markers; "
          f"faults: {faults}")
    lost: dict[str, int] = {}
    repeated: dict[str, int] = {}
    placed: list[tuple[float, str, str]] = []
    for headset in headsets:
        values = collections.Counter(str(m["value"]) for m in recorded[headset])
        lost[headset] = sum(1 for v in sent if v not in values)
        repeated[headset] = sum(n - 1 for v, n in values.items() if v in sent and n > 1)
        twice = [v for v, n in values.items() if v in sent and n > 1]
        if twice:
            print(f"{headset}: recorded more than once: {twice[:5]} at "
                  f"{[round(sent[v] - min(sent.values()), 1) for v in twice[:5]]} s")
        placed += [((m["monoTime"] - sent[str(m["value"])]) * EEG_RATE, str(m["value"]), headset)
                   for m in recorded[headset] if str(m["value"]) in sent]  # fmt: skip
    errors = [e for e, _, _ in placed]
    first = min(sent.values())
    off = sorted((p for p in placed if abs(p[0]) > 0.5), key=lambda p: -abs(p[0]))
    print(f"placed over half a sample off: {len(off)} of {len(placed)}: " + ", ".join(
        f"{v} ({sent[v] - first:.1f} s) on {h} {e:+.2f}" for e, v, h in off[:8]))
    worst = max(errors, key=abs)
    print(f"lost {sum(lost.values())}, duplicated {sum(repeated.values())}, "
          f"worst placement {worst:+.3f} samples; counts {counts}")
    assert sum(lost.values()) == 0, lost
    assert sum(repeated.values()) == 0, repeated
    assert abs(worst) <= 1.0
    assert counts["dropped"] == 0 and counts["rejected"] == 0
    assert counts["received"] == len(sent)
    assert counts["injected"] + counts["duplicates_avoided"] == HEADSETS * len(sent)
