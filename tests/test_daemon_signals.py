"""The daemon as a real process: SIGTERM mid-stream closes its session and exits 0 fast."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge.simulator import SimulatorConfig, SimulatorThread


def test_sigterm_closes_the_session_and_exits_0(tmp_path: Path, unique_id: str) -> None:
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(
        port=0, headsets=[f"epocx:id={headset},status=connected"], seed=5, control=True
    )
    with SimulatorThread(config) as sim:
        path = tmp_path / "bridge.toml"
        path.write_text(
            "[cortex]\n"
            f'url = "{sim.url}"\n'
            'client_id = "cortex-bridge-demo"\n'
            'client_secret = "cortex-bridge-demo-secret"\n'
            f'ca_file = "{sim.ca_pem_path}"\n'
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
            while time.monotonic() < deadline:
                sessions = sim.state()["sessions"]
                if sessions and sessions[0]["streams"]:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the daemon never subscribed")
            time.sleep(1.0)  # mid-stream
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=10)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        sessions = sim.state()["sessions"]
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    print(f"SIGTERM to exit: {took:.2f} s")
    assert took < 2.0
    assert len(sessions) == 1
    assert sessions[0]["status"] == "closed"
    assert sessions[0]["closedBy"] == "client"  # updateSession close, not a dropped socket
