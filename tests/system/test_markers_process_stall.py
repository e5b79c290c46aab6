"""The bridge process stopped (SIGSTOP) while a stimulus program keeps sending LSL and OSC
markers: when it runs again every marker is injected exactly once, on the sample its
sender stamped it at (within one sample), not when the stopped process got round to
reading it.

LSL markers carry their sender's time; OSC markers are stamped by the kernel on arrival
(``SO_TIMESTAMPNS``), so both survive a process that reads them seconds late. The truth is
the simulator's record of each marker: the EEG sample index it attached it to.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stimulus import StimulusProcess

from bridge.simulator import SimulatorConfig, SimulatorThread

RATE_HZ = 10.0  # each source (LSL, OSC): 10 markers a second
STOPPED_S = 3.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _markers(sim: SimulatorThread, headset: str) -> list[dict[str, Any]]:
    truth = next(h for h in sim.state()["headsets"] if h["id"] == headset)
    return list(truth["markers"])


def test_markers_survive_a_stopped_bridge_process(tmp_path: Path, unique_id: str) -> None:
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(port=0, headsets=[f"epocx:id={headset},status=connected"],
                             seed=9, delay_ms=50.0, clock_offset_s=3.21)  # fmt: skip
    name = f"stim-stop-{unique_id}"
    osc_port = _free_udp_port()
    with SimulatorThread(config) as sim:
        path = tmp_path / "bridge.toml"
        path.write_text(
            "[cortex]\n"
            f'url = "{sim.url}"\n'
            'client_id = "cortex-bridge-demo"\n'
            'client_secret = "cortex-bridge-demo-secret"\n'
            f'ca_file = "{sim.ca_pem_path}"\n'
            'streams = ["eeg"]\n'
            "[osc]\nenabled = false\n"
            "[markers]\nenabled = true\nosc_input = true\n"
            f"osc_port = {osc_port}\n"
            f"lsl_predicate = \"name='{name}'\"\n"
        )
        path.chmod(0o600)
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        stimulus: StimulusProcess | None = None
        try:
            deadline = time.monotonic() + 20
            while not sim.state()["records"]:
                assert bridge.poll() is None and time.monotonic() < deadline, "no record"
                time.sleep(0.1)
            stimulus = StimulusProcess(name, osc_port, RATE_HZ * 2)  # once the bridge reads it
            time.sleep(1.5)
            bridge.send_signal(signal.SIGSTOP)
            time.sleep(STOPPED_S)
            bridge.send_signal(signal.SIGCONT)
            time.sleep(2.0)
            sent = stimulus.stop()
            deadline = time.monotonic() + 15
            while len(_markers(sim, headset)) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # anything more would be a duplicate
            recorded = _markers(sim, headset)
            truth = next(h for h in sim.state()["headsets"] if h["id"] == headset)
            bridge.send_signal(signal.SIGTERM)
            _, stderr = bridge.communicate(timeout=15)
        finally:
            if stimulus is not None:
                stimulus.kill()
            if bridge.poll() is None:
                bridge.send_signal(signal.SIGCONT)
                bridge.kill()
                bridge.communicate()
    assert bridge.returncode == 0, stderr
    values = [str(m["value"]) for m in recorded]
    missing = sorted(set(sent) - set(values), key=lambda v: sent[v])
    repeated = len(values) - len(set(values))
    during = [v for v, t in sent.items() if 1.4 < t - min(sent.values()) < 1.5 + STOPPED_S]
    rate = truth["eegRate"]
    errors = {str(m["value"]): (m["monoTime"] - sent[str(m["value"])]) * rate
              for m in recorded if str(m["value"]) in sent}  # fmt: skip
    worst = max(errors.values(), key=abs)
    print(f"SIGSTOP {STOPPED_S} s: {len(sent)} markers sent ({len(during)} while stopped), "
          f"{len(missing)} lost, {repeated} duplicated, worst placement {worst:+.3f} samples")
    assert len(during) >= 2 * RATE_HZ * (STOPPED_S - 0.5)
    assert not missing, missing[:10]
    assert repeated == 0
    assert all(abs(e) <= 1.0 for e in errors.values()), sorted(errors.items(), key=lambda kv: -abs(kv[1]))[:5]
