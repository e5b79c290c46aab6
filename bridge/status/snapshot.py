"""The status snapshot: ``/status.json``, the page's updates and the LSL status stream
are this one dictionary.

Built once a second from the counters (:class:`~bridge.status.board.StatusBoard`), the
device data the tap keeps (:class:`~bridge.status.tap.StatusTap`), the event hub and
the marker counts; whoever asks gets the latest one, so the cost does not grow with the
number of pages or fleet readers. Nothing secret is in it: the configuration appears
only as its digest, the Cortex URL without user info or query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.status.board import StatusBoard
from bridge.status.events import EventHub
from bridge.status.tap import StatusTap

SCHEMA = 1
WARNINGS_SHOWN = 8

# Where each sensor sits on the page's head map: x right, y front, unit radius at the
# 10-20 circumference (azimuthal projection, Fz at (0, 0.4)). Emotiv's sensor sets
# (EPOC/EPOC X, Insight, MN8, EPOC Flex's common sites) use these labels.
HEAD_MAP: Mapping[str, tuple[float, float]] = {
    "Fp1": (-0.31, 0.95), "Fp2": (0.31, 0.95), "AF3": (-0.36, 0.76), "AF4": (0.36, 0.76),
    "AF7": (-0.59, 0.81), "AF8": (0.59, 0.81), "F7": (-0.81, 0.59), "F8": (0.81, 0.59),
    "F3": (-0.39, 0.48), "F4": (0.39, 0.48), "Fz": (0.0, 0.4), "FC5": (-0.72, 0.26),
    "FC6": (0.72, 0.26), "FC1": (-0.22, 0.21), "FC2": (0.22, 0.21), "T7": (-1.0, 0.0),
    "T8": (1.0, 0.0), "C3": (-0.4, 0.0), "C4": (0.4, 0.0), "Cz": (0.0, 0.0),
    "CP5": (-0.72, -0.26), "CP6": (0.72, -0.26), "CP1": (-0.22, -0.21), "CP2": (0.22, -0.21),
    "P7": (-0.81, -0.59), "P8": (0.81, -0.59), "P3": (-0.39, -0.48), "P4": (0.39, -0.48),
    "Pz": (0.0, -0.4), "O1": (-0.31, -0.95), "O2": (0.31, -0.95), "Oz": (0.0, -1.0),
    "TP9": (-1.02, -0.3), "TP10": (1.02, -0.3), "M1": (-1.05, -0.35), "M2": (1.05, -0.35),
    "CMS": (-1.05, -0.35), "DRL": (1.05, -0.35), "LeftEar": (-1.08, 0.0),
    "RightEar": (1.08, 0.0),
}  # fmt: skip


@dataclass(slots=True)
class RateMeter:
    """Samples per second per stream between two snapshots (the status line keeps its
    own marks; two readers of one counter must not share them)."""

    marks: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    def rate(self, key: tuple[str, str], samples: int, now: float) -> float:
        previous = self.marks.get(key)
        self.marks[key] = (samples, now)
        if previous is None or now <= previous[1]:
            return 0.0
        return (samples - previous[0]) / (now - previous[1])


def public_url(url: str) -> str:
    """A URL without user info, query or fragment (nothing secret on the page)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def build_snapshot(
    *,
    bridge: Mapping[str, Any],
    board: StatusBoard,
    hub: EventHub,
    tap: StatusTap,
    markers: Mapping[str, Any],
    meter: RateMeter,
    now: float,
    lsl_now: float,
) -> dict[str, Any]:
    """The whole status. ``now`` is monotonic (rates), ``lsl_now`` LSL time (latency)."""
    per_headset: dict[str, list[dict[str, Any]]] = {}
    for (hid, name), stats in sorted(board.streams.items()):
        nominal = tap.headsets[hid].nominal.get(name, 0.0) if hid in tap.headsets else 0.0
        per_headset.setdefault(hid, []).append({
            "stream": name,
            "state": stats.state,
            "rate": round(meter.rate((hid, name), stats.samples, now), 2),
            "nominal": nominal,
            "samples": stats.samples,
            "drops": stats.dropped,
            "interpolated": stats.interpolated,
            "malformed": stats.malformed,
            "age_s": round(lsl_now - stats.last_lsl_time, 3) if stats.samples else None,
        })
    ids = sorted(set(board.headsets) | set(per_headset))
    headsets = []
    for hid in ids:
        status = board.headset(hid) if hid in board.headsets else None
        streams = per_headset.get(hid, [])
        tap_hs = tap.headsets.get(hid)
        fastest = max((s for s in streams if s["nominal"] > 0 and s["age_s"] is not None),
                      key=lambda s: s["nominal"], default=None)
        entry: dict[str, Any] = {
            "id": hid,
            "model": tap_hs.model if tap_hs else "",
            "state": status.state if status else "unknown",
            "sessions": status.sessions if status else 0,
            "clock": {"method": status.clock_source if status else "",
                      "offset": round(status.clock_offset, 6) if status else None},
            "latency_s": fastest["age_s"] if fastest else None,
            "streams": streams,
            "warnings": [e.as_dict() for e in hub.last(WARNINGS_SHOWN, hid)
                         if e.severity != "info"],
            "markers": markers.get("per_headset", {}).get(hid, {}),
        }
        entry.update({"battery": None, "battery_level": None, "signal": None, "cq": {},
                      "cq_overall": None})
        if tap_hs is not None:
            entry.update(tap_hs.device())
        headsets.append(entry)
    return {
        "schema": SCHEMA,
        "bridge": dict(bridge),
        "time": round(lsl_now, 6),
        "cortex": {"state": board.cortex_state, "malformed": board.malformed_frames,
                   "unrouted": board.unrouted_frames},
        "headsets": headsets,
        "markers": {k: v for k, v in markers.items() if k != "per_headset"},
        "events": [e.as_dict() for e in hub.last(20)],
        "event_counts": dict(hub.counts),
    }


SnapshotFn = Callable[[], dict[str, Any]]
