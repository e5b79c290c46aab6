"""The bridge's own LSL streams: diagnostics (one JSON event per sample, into the
recording) and status (the ``/status.json`` snapshot once a second, for the fleet view).

Both are string outlets with an irregular rate, one per bridge process, identified by
the bridge's name (the host name unless ``status.name`` says otherwise):
``source_id`` ``cortex-bridge:<name>:diagnostics`` and ``cortex-bridge:<name>:status``.
Their types are our own (``CortexBridgeDiagnostics``, ``CortexBridgeStatus``), never
``Markers``: a marker-reading program (this bridge's own LSL marker input included)
must not take diagnostics for experiment markers.

A recorder only receives what is pushed after it connects, so the diagnostics header
(``desc/bridge``) also carries what ``bridge_started`` says: version, configuration
digest, and the LSL time the bridge started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pylsl

from bridge import __version__
from bridge.status.events import Event, EventName

log = logging.getLogger(__name__)

DIAGNOSTICS_TYPE: Final = "CortexBridgeDiagnostics"
STATUS_TYPE: Final = "CortexBridgeStatus"
DIAGNOSTICS_BUFFER: Final = 3600  # events kept for a slow consumer (irregular: samples)
STATUS_BUFFER: Final = 10  # only the newest status matters


def bridge_name(configured: str = "") -> str:
    """The name this bridge goes by on the LSL network: ``status.name`` or the host name."""
    return configured or socket.gethostname() or "localhost"


def diagnostics_source_id(name: str) -> str:
    return f"cortex-bridge:{name}:diagnostics"


def status_source_id(name: str) -> str:
    return f"cortex-bridge:{name}:status"


def _string_outlet(
    name: str, stream_type: str, source_id: str, desc: Mapping[str, str], buffered: int
) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, stream_type, 1, pylsl.IRREGULAR_RATE, "string", source_id)
    node = info.desc()
    channels = node.append_child("channels").append_child("channel")
    channels.append_child_value("label", "json")
    channels.append_child_value("unit", "none")
    channels.append_child_value("type", "MISC")
    bridge = node.append_child("bridge")
    for key, value in desc.items():
        bridge.append_child_value(key, value)
    return pylsl.StreamOutlet(info, chunk_size=1, max_buffered=buffered)


@dataclass(frozen=True, slots=True)
class BridgeIdentity:
    """What both outlets' headers say about the bridge."""

    name: str
    config_digest: str
    started: float  # LSL time

    def desc(self) -> dict[str, str]:
        return {
            "name": self.name,
            "host": socket.gethostname(),
            "version": __version__,
            "config_digest": self.config_digest,
            "started": f"{self.started:.6f}",
            "clock": "pylsl.local_clock",
        }


class DiagnosticsOutlet:
    """An :class:`~bridge.status.events.EventHub` sink: each event is one sample, its JSON
    text, stamped with the event's own LSL time (when it happened, not when it was
    pushed)."""

    def __init__(self, identity: BridgeIdentity) -> None:
        self.source_id = diagnostics_source_id(identity.name)
        desc = identity.desc()
        desc["events"] = ",".join(e.value for e in EventName)
        self._outlet: pylsl.StreamOutlet | None = _string_outlet(
            f"CortexBridge-Diagnostics-{identity.name}", DIAGNOSTICS_TYPE, self.source_id,
            desc, DIAGNOSTICS_BUFFER,
        )
        self.pushed = 0

    def __call__(self, event: Event) -> None:
        outlet = self._outlet
        if outlet is None:
            return
        outlet.push_sample([event.to_json()], event.lsl_time if event.lsl_time > 0 else 0.0)
        self.pushed += 1

    def have_consumers(self) -> bool:
        return self._outlet is not None and bool(self._outlet.have_consumers())

    def close(self) -> None:
        self._outlet = None


class StatusOutlet:
    """The status snapshot as one JSON sample a second (the fleet view reads it)."""

    def __init__(self, identity: BridgeIdentity) -> None:
        self.source_id = status_source_id(identity.name)
        self._outlet: pylsl.StreamOutlet | None = _string_outlet(
            f"CortexBridge-Status-{identity.name}", STATUS_TYPE, self.source_id,
            identity.desc(), STATUS_BUFFER,
        )

    def publish(self, snapshot: Mapping[str, Any]) -> None:
        if self._outlet is not None:
            self._outlet.push_sample([json.dumps(snapshot, separators=(",", ":"))],
                                     pylsl.local_clock())

    def close(self) -> None:
        self._outlet = None


# ------------------------------------------------------------------------- the fleet


def find_bridges(wait: float = 2.0) -> list[pylsl.StreamInfo]:
    """Every bridge's status stream this machine's liblsl can see (the local machine, or
    the ``KnownPeers`` and multicast scope of its configuration, within its SessionID)."""
    return list(pylsl.resolve_byprop("type", STATUS_TYPE, 1_000, wait))


def read_fleet(wait: float = 2.0, read_timeout: float = 3.0) -> list[dict[str, Any]]:
    """The newest status of every bridge found, sorted by name. Each bridge publishes
    once a second, so the inlets are opened together and read until each has given one
    snapshot (or ``read_timeout`` passed): the time does not grow with the fleet."""
    inlets: dict[str, pylsl.StreamInlet] = {}
    for info in find_bridges(wait):
        with contextlib.suppress(Exception):  # a bridge that went away while we looked
            inlet = pylsl.StreamInlet(info, max_buflen=2, recover=False)
            inlet.open_stream(read_timeout)
            inlets[info.source_id()] = inlet
    found: dict[str, dict[str, Any]] = {}
    deadline = pylsl.local_clock() + read_timeout
    try:
        while len(found) < len(inlets) and pylsl.local_clock() < deadline:
            for source_id, inlet in inlets.items():
                if source_id in found:
                    continue
                with contextlib.suppress(Exception):
                    sample, _ = inlet.pull_sample(0.0)
                    status = _parse(sample[0]) if sample else None
                    if status is not None:
                        found[source_id] = status
            time.sleep(0.05)
    finally:
        for inlet in inlets.values():
            with contextlib.suppress(Exception):
                inlet.close_stream()
    return [found[k] for k in sorted(found)]


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def fleet_command(wait: float = 2.0, as_json: bool = False) -> int:
    """``cortex-bridge status``: every bridge on this LSL network (this machine's liblsl
    configuration: ``LSLAPICFG``, its SessionID and KnownPeers) as one table. Exit 1 when
    there is none."""
    fleet = read_fleet(wait)
    if as_json:
        print(json.dumps(fleet, indent=1))
    elif fleet:
        print(render_fleet(fleet))
        headsets = sum(len(b.get("headsets") or []) for b in fleet)
        print(f"{len(fleet)} bridge(s), {headsets} headset(s)")
    if not fleet:
        print("cortex-bridge: no bridge found on this LSL network (same SessionID, "
              "KnownPeers or multicast scope?)", file=sys.stderr)
        return 1
    return 0


def fleet_rows(fleet: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One row per (bridge, headset): host, headset, state, battery, signal, streams,
    rate, drops, clock, latency. A bridge without a headset still has a row."""
    rows: list[tuple[str, ...]] = []
    for bridge in fleet:
        name = str(bridge.get("bridge", {}).get("name", "?"))
        cortex = str(bridge.get("cortex", {}).get("state", "?"))
        headsets = bridge.get("headsets") or []
        if not headsets:
            rows.append((name, "-", f"cortex {cortex}", "-", "-", "0", "-", "-", "-", "-"))
        for hs in headsets:
            streams = hs.get("streams") or []
            rows.append((
                name,
                str(hs.get("id", "?")),
                str(hs.get("state", "?")),
                _fmt(hs.get("battery"), "{:.0f}%"),
                _fmt(hs.get("signal"), "{:.2f}"),
                str(len(streams)),
                _fmt(next((s.get("rate") for s in streams if s.get("stream") == "eeg"), None),
                     "{:.1f}"),
                str(sum(int(s.get("drops", 0)) for s in streams)),
                f"{hs.get('clock', {}).get('method') or '-'}",
                _fmt(hs.get("latency_s"), "{:.3f}s"),
            ))
    return rows


FLEET_HEADER: Final = ("bridge", "headset", "state", "battery", "signal", "streams",
                       "eeg Hz", "drops", "clock", "latency")


def render_fleet(fleet: Sequence[Mapping[str, Any]]) -> str:
    """The ``cortex-bridge status`` table."""
    rows = [FLEET_HEADER, *fleet_rows(fleet)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(FLEET_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    return "\n".join(lines)


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return spec.format(value)
    return "-"


class FleetWatcher:
    """The fleet tab's data: every bridge's status stream, read in a thread (resolving
    and inlets block) only while a page is open. ``latest()`` is the newest snapshot of
    each bridge seen in the last few seconds."""

    def __init__(self, resolve_every: float = 5.0, stale_after: float = 5.0) -> None:
        import threading

        self.resolve_every = resolve_every
        self.stale_after = stale_after
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[float, dict[str, Any]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._threading = threading

    def start(self) -> None:
        self._stop.clear()  # a thread still winding down goes on instead
        if self._thread is None or not self._thread.is_alive():
            self._thread = self._threading.Thread(target=self._run, name="fleet", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def latest(self) -> list[dict[str, Any]]:
        now = pylsl.local_clock()
        with self._lock:
            return [snap for _, (seen, snap) in sorted(self._latest.items())
                    if now - seen < self.stale_after]

    def _run(self) -> None:
        inlets: dict[str, pylsl.StreamInlet] = {}
        next_resolve = 0.0
        try:
            while not self._stop.is_set():
                if pylsl.local_clock() >= next_resolve:
                    for info in find_bridges(1.0):
                        if info.source_id() not in inlets:
                            inlets[info.source_id()] = pylsl.StreamInlet(info, max_buflen=2)
                    next_resolve = pylsl.local_clock() + self.resolve_every
                for source_id, inlet in list(inlets.items()):
                    self._read(source_id, inlet)
                self._stop.wait(0.5)
        finally:
            for inlet in inlets.values():
                with contextlib.suppress(Exception):
                    inlet.close_stream()

    def _read(self, source_id: str, inlet: pylsl.StreamInlet) -> None:
        try:
            chunk, _ = inlet.pull_chunk(timeout=0.0)
        except Exception:  # the bridge went away: its entry goes stale
            return
        if not chunk:
            return
        try:
            snap = json.loads(chunk[-1][0])
        except ValueError:
            return
        if isinstance(snap, dict):
            with self._lock:
                self._latest[source_id] = (pylsl.local_clock(), snap)
