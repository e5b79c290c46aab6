"""``cortex-bridge demo`` as the README runs it: every headset bridged, OSC and markers
shown, Ctrl-C exits 130."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")

README_DEMO = ["demo", "--duration", "12", "--headset", "insight", "--headset", "epocx:rate=256"]


def demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def test_the_readme_demo_bridges_both_headsets_and_shows_osc_and_markers() -> None:
    proc = demo(*README_DEMO)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    table = stderr[[m.start() for m in re.finditer(r"^headset\s+stream", stderr, re.M)][-1]:]
    for model, rate in (("INSIGHT", 128), ("EPOCX", 256)):
        row = re.search(rf"^{model}-\w+\s+eeg\s+\w+\s+[\d.]+\s+(\d+)", table, re.M)
        assert row is not None, f"{model} eeg not bridged:\n{table}"
        assert int(row.group(1)) > rate * 5, row.group(0)  # several seconds of data each
    assert re.search(r"marker echoed: OSC /emotiv/\S+/marker 'demo' 1", stderr), stderr
    assert "marker sent: OSC /marker 1 'demo'" in stderr


def test_ctrl_c_ends_the_demo_with_130() -> None:
    proc = demo("demo")
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        if "marker sent" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=45)  # shared CPUs: closing 9 outlets can be slow
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest
