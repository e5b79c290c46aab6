"""The fleet view over LSL: ``cortex-bridge status`` finds every bridge of its LSL
network (SessionID) and prints one table of hosts and headsets.

Two bridges run in this test's process (its SessionID), a third as a ``cortex-bridge
run`` process in a SessionID of its own; all three bridge one simulator, one headset
each. ``cortex-bridge status`` in the test's SessionID lists the two and not the third,
and in the third's SessionID only the third: different SessionIDs are separate fleets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_harness import BridgeThread, settings_for

from bridge.lslconfig import write_loopback_config
from bridge.simulator import SimulatorConfig, SimulatorThread


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    tag = unique_id[:6].upper()
    config = SimulatorConfig(
        port=0, seed=8,
        headsets=[f"epocx:id=EPOCX-{tag}A,status=connected",
                  f"insight:id=INSIGHT-{tag}B,status=connected",
                  f"epocx:id=EPOCX-{tag}C,status=connected"],
    )
    thread = SimulatorThread(config).start()
    yield thread
    thread.stop()


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "status", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_status_lists_the_bridges_of_its_session_only(
    sim: SimulatorThread, unique_id: str, tmp_path: Path
) -> None:
    ids = [spec.split("id=")[1].split(",")[0] for spec in sim.config.headsets]
    names = [f"fleet-{n}-{unique_id}" for n in "abc"]
    other_cfg = write_loopback_config(tmp_path / "other", f"other-room-{unique_id}")
    env_c = {
        **os.environ,
        "LSLAPICFG": str(other_cfg),
        "CORTEX_BRIDGE_CORTEX__URL": sim.url,
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "cortex-bridge-demo",
        "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "cortex-bridge-demo-secret",
        "CORTEX_BRIDGE_CORTEX__CA_FILE": str(sim.ca_pem_path or ""),
        "CORTEX_BRIDGE_CORTEX__HEADSETS": ids[2],
        "CORTEX_BRIDGE_CORTEX__STREAMS": "eeg,dev",
        "CORTEX_BRIDGE_STATUS__NAME": names[2],
        "CORTEX_BRIDGE_STATUS__LISTEN": "",
    }
    third = subprocess.Popen([sys.executable, "-m", "bridge", "run"], env=env_c,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with (
            BridgeThread(settings_for(sim, cortex__headsets=ids[0], cortex__streams='["eeg", "dev"]',
                                      status__name=names[0])) as a,
            BridgeThread(settings_for(sim, cortex__headsets=ids[1], cortex__streams='["eeg", "dev"]',
                                      status__name=names[1])) as b,
        ):
            a.wait_streaming()
            b.wait_streaming()
            time.sleep(2.0)  # a status snapshot with the headsets streaming
            here = status(dict(os.environ), "--json")
            table = status(dict(os.environ))
            there = status(env_c, "--json")
    finally:
        third.terminate()
        try:
            _, err = third.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            third.kill()
            _, err = third.communicate(timeout=5)
    assert third.returncode == 0, err

    assert here.returncode == 0, here.stderr
    fleet = {b["bridge"]["name"]: b for b in json.loads(here.stdout)}
    assert names[0] in fleet and names[1] in fleet and names[2] not in fleet
    assert [h["id"] for h in fleet[names[0]]["headsets"]] == [ids[0]]
    assert [h["id"] for h in fleet[names[1]]["headsets"]] == [ids[1]]
    assert fleet[names[0]]["headsets"][0]["state"].startswith("streaming")

    # One table of hosts and headsets.
    assert table.returncode == 0, table.stderr
    print(table.stdout)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["bridge", "headset", "state"]
    row_a = next(line for line in lines if line.startswith(names[0]))
    row_b = next(line for line in lines if line.startswith(names[1]))
    assert ids[0] in row_a and "streaming" in row_a
    assert ids[1] in row_b and "streaming" in row_b
    assert names[2] not in table.stdout

    assert there.returncode == 0, there.stderr
    other = {b["bridge"]["name"] for b in json.loads(there.stdout)}
    assert other == {names[2]}


def test_status_says_when_there_is_no_bridge(tmp_path: Path, unique_id: str) -> None:
    cfg = write_loopback_config(tmp_path, f"empty-{unique_id}")
    result = status({**os.environ, "LSLAPICFG": str(cfg)}, "--wait", "0.5")
    assert result.returncode == 1
    assert "no bridge found" in result.stderr
