"""Pure Data reads the bridge's tick bundles: every message arrives, in order, with
bundles on and off (Pd 0.53's ``oscparse`` unpacks bundles, nested ones too).

A minimal patch (``netreceive -u -b`` -> ``oscparse`` -> ``list trim`` -> ``print``) runs
headless; its printed lines are the messages as Pd saw them.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from osc_receivers import free_udp_port, receiver_path, stop_process
from osc_ticks import output, run_ticks, sent_order

from bridge.outputs.osc_codec import encode_message

PATCH = """#N canvas 0 0 400 300 12;
#X obj 10 10 netreceive -u -b {port};
#X obj 10 40 oscparse;
#X obj 10 70 list trim;
#X obj 10 100 print got;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
"""


class PdPrinter:
    """``pd -nogui`` with the patch; ``lines`` are the ``got:`` lines, split in atoms."""

    def __init__(self, tmp_path: Path) -> None:
        pd = receiver_path("pd", "puredata-core")
        self.port = free_udp_port()
        patch = tmp_path / "printer.pd"
        patch.write_text(PATCH.format(port=self.port), encoding="utf-8")
        self.lines: list[list[str]] = []
        self.other: list[str] = []
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(patch)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            with self._lock:
                if raw.startswith("got: "):
                    self.lines.append(raw.split()[1:])
                else:
                    self.other.append(raw.rstrip("\n"))

    def snapshot(self) -> list[list[str]]:
        with self._lock:
            return list(self.lines)

    def wait_ready(self) -> None:
        """Probe until Pd prints: it needs a moment to open the patch and bind."""
        probe = encode_message("/cortex_bridge_test/probe", [1])
        deadline = time.monotonic() + 15
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.snapshot():
                assert time.monotonic() < deadline and self._proc.poll() is None, self.other
                sock.sendto(probe, ("127.0.0.1", self.port))
                time.sleep(0.1)
        time.sleep(0.2)  # late probes
        with self._lock:
            self.lines.clear()

    def close(self) -> None:
        stop_process(self._proc)
        self._thread.join(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def as_message(atoms: list[str]) -> tuple[str, float]:
    """Pd's ``emotiv eeg electrodes 4000 ...`` as (``/emotiv/eeg/electrodes``, 4000.0)."""
    for k, atom in enumerate(atoms):
        try:
            return "/" + "/".join(atoms[:k]), float(atom)
        except ValueError:
            continue
    return "/" + "/".join(atoms), float("nan")


@pytest.mark.parametrize("bundle", [True, False])
def test_pd_gets_every_message_in_order(tmp_path: Path, bundle: bool) -> None:
    pd = PdPrinter(tmp_path)
    try:
        pd.wait_ready()
        out = output(f"127.0.0.1:{pd.port}", bundle=bundle)
        try:
            run_ticks(out, ticks=20, per_tick=10)
        finally:
            out.close()
        want = sent_order(200, 10)
        deadline = time.monotonic() + 10
        while len([a for a in pd.snapshot() if "labels" not in a]) < len(want):
            assert time.monotonic() < deadline, len(pd.snapshot())
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        pd.close()
    got = [as_message(atoms) for atoms in pd.snapshot() if "labels" not in atoms]
    assert got == want
    assert not [line for line in pd.other if "error" in line.lower()], pd.other
