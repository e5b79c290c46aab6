"""What every scenario shares: result rows, percentiles, bridge settings, a UDP sink.

A scenario measures *ours* beside a *baseline* in the same run, because on a shared,
noisy machine single times wander while ratios hold. Each row says which way is
better, the target, and whether it was met.
"""

from __future__ import annotations

import importlib.util
import math
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bridge.config import load_settings
from bridge.errors import ConfigError
from bridge.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

EPOC_X_STREAMS = ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys")


@dataclass(frozen=True)
class Options:
    """Run options: ``quick`` shortens every scenario to a smoke run (figures are rough)."""

    quick: bool = False

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the table: a figure of ours beside its baseline."""

    metric: str
    ours: float | None
    baseline: float | None = None
    unit: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class ScenarioResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [asdict(r) for r in self.rows],
            "figures": self.figures,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "error": self.error,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or baseline is None or baseline == 0 or math.isnan(ours):
        return None
    return ours / baseline


def headset_ids(n: int, model: str = "EPOCX") -> list[str]:
    """Fresh headset ids, so this run's LSL streams have names no other run uses."""
    return [f"{model}-{uuid.uuid4().hex[:8].upper()}" for _ in range(n)]


def epoc_x_specs(ids: Sequence[str], rate: int = 256) -> list[str]:
    return [f"epocx:id={hid},rate={rate},status=connected" for hid in ids]


def bridge_env(
    url: str, ca: str, headsets: Sequence[str], streams: Sequence[str], osc_port: int | None
) -> dict[str, str]:
    """The bridge's settings as ``CORTEX_BRIDGE_*`` variables (what the daemon reads)."""
    env = {
        "CORTEX_BRIDGE_CORTEX__URL": url,
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID": DEFAULT_CLIENT_ID,
        "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CORTEX_BRIDGE_CORTEX__CA_FILE": ca,
        "CORTEX_BRIDGE_CORTEX__RECONNECT_MAX_DELAY": "1",
        "CORTEX_BRIDGE_CORTEX__HEADSETS": ",".join(headsets),
        "CORTEX_BRIDGE_CORTEX__STREAMS": ",".join(streams),
        "CORTEX_BRIDGE_LOG__LEVEL": "warning",
        "CORTEX_BRIDGE_LOG__STATUS_INTERVAL": "3600",
        "CORTEX_BRIDGE_STATUS__LISTEN": "",  # the status_page scenario measures it
    }
    if osc_port is not None:
        env.update(osc_env(osc_port))
    return env


def osc_env(port: int) -> dict[str, str]:
    return {
        "CORTEX_BRIDGE_OSC__ENABLED": "true",
        "CORTEX_BRIDGE_OSC__TARGETS": f"127.0.0.1:{port}",
    }


def osc_output_available() -> bool:
    """True once ``bridge/outputs/osc.py`` exists and ``[osc]`` takes targets."""
    if importlib.util.find_spec("bridge.outputs.osc") is None:
        return False
    try:
        load_settings(None, osc_env(9))
    except ConfigError:
        return False
    return True


def osc_messages(datagram: bytes) -> list[bytes]:
    """The OSC messages of one datagram: itself, or a bundle's elements (nested too)."""
    if not datagram.startswith(b"#bundle\0"):
        return [datagram]
    found: list[bytes] = []
    at = 16  # "#bundle\0" and the timetag
    while at + 4 <= len(datagram):
        size = int.from_bytes(datagram[at:at + 4], "big")
        found += osc_messages(datagram[at + 4:at + 4 + size])
        at += 4 + size
    return found


class UdpSink:
    """A local UDP receiver on 127.0.0.1 that drains datagrams on a thread.

    ``count`` counts datagrams, ``messages`` the OSC messages in them (the bridge bundles
    the messages of one loop tick). ``keep`` selects OSC messages by the end of their
    address (``b"/eeg"``) to note with their arrival time (``time.monotonic()``), for
    latency; the rest are only counted.
    """

    def __init__(self, keep: bytes | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.keep = keep
        self.count = 0
        self.messages = 0
        self.kept: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp-sink", daemon=True)

    def _run(self) -> None:
        keep = self.keep
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.count += 1
            messages = osc_messages(data)
            self.messages += len(messages)
            if keep is None:
                continue
            for message in messages:
                if message[: message.find(b"\0")].endswith(keep):
                    self.kept.append((now, message))

    def __enter__(self) -> UdpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
