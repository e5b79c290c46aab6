"""Cortex 1.x data frames made to look like v2 ones, ahead of the router.

1.x names columns ``IED_AF3`` where v2 says ``AF3``, orders eeg columns its own way, and
stamps samples with seconds since Cortex started; :class:`V1Frames` translates the
columns, reorders eeg frames and maps the time onto epoch seconds, so nothing after it
knows which dialect spoke (seed page ``001``; ``docs/architecture.md``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pylsl

from bridge.clock import OriginEstimator, epoch_minus_lsl
from bridge.cortex.connection import DataHandler

log = logging.getLogger(__name__)

# Detections: 1.x names them the way the user interface does.
V1_DETECTIONS: Mapping[str, str] = {
    "Mental Command": "mentalCommand",
    "Facial Expression": "facialExpression",
}

# 1.x column names whose v2 name is not the 1.x name minus its prefix. Both spellings
# of the marker columns occur in the 1.x docs (IED_ in the eeg table, IEE_ in the prose).
V1_COLUMNS: Mapping[str, str] = {
    "IED_COUNTER": "COUNTER",
    "IED_INTERPOLATED": "INTERPOLATED",
    "IED_RAW_CQ": "RAW_CQ",
    "IEE_MARKER_HARDWARE": "MARKER_HARDWARE",
    "IED_MARKER_HARDWARE": "MARKER_HARDWARE",
    "IEE_MARKER": "MARKERS",
    "IED_MARKER": "MARKERS",
    "IMD_COUNTER": "COUNTER_MEMS",
    "IMD_INTERPOLATED": "INTERPOLATED_MEMS",
}
# Otherwise the prefix goes: IED_AF3 -> AF3, IED_AF3/theta -> AF3/theta, IMD_GYROX ->
# GYROX, IEE_CHAN_AF3 (dev) -> AF3.
V1_PREFIXES = ("IEE_CHAN_", "IED_", "IMD_")
# sys frames name the detection in words in 1.x.
EPOCH_REFRESH_S = 1.0  # how often V1Frames re-reads the wall clock against the LSL clock
# Sample times in 1.x are seconds since Cortex started (seed 001). No Cortex runs for
# 3,000 years, so a time above this is not seconds: epoch milliseconds (about 1.7e12,
# seen from 1.x services and mocks) read as seconds would run the clock 1000 times fast
# and put LSL timestamps hours ahead. Such times are scaled to seconds, counted and said.
MILLISECONDS_ABOVE = 1e11


def time_scale(stamp: float) -> float:
    """The factor that turns a 1.x sample time into seconds (pure)."""
    return 0.001 if abs(stamp) >= MILLISECONDS_ABOVE else 1.0


def translate_column(col: Any) -> Any:
    """One 1.x column (or nested list of columns) under its v2 name."""
    if isinstance(col, list):
        return [translate_column(c) for c in col]
    if not isinstance(col, str):
        return col
    known = V1_COLUMNS.get(col)
    if known is not None:
        return known
    for prefix in V1_PREFIXES:
        if col.startswith(prefix):
            return col[len(prefix) :]
    return col


def translate_columns(cols: Sequence[Any]) -> list[Any]:
    return [translate_column(c) for c in cols]


_EEG_RANKS: Mapping[str, int] = {
    "COUNTER": 0,
    "INTERPOLATED": 1,
    "RAW_CQ": 3,
    "MARKER_HARDWARE": 4,
    "MARKERS": 5,
}


def _eeg_rank(col: Any) -> int:
    return _EEG_RANKS.get(col, 2) if isinstance(col, str) else 2


@dataclass(frozen=True, slots=True)
class EegLayout:
    """One session's eeg frames: the v1 -> v2 column order (None: already), the frame
    size, and the marker columns' positions in v2 order."""

    order: tuple[int, ...] | None
    size: int
    hardware: int
    marker: int


class V1Frames:
    """Makes 1.x data frames look like v2 ones, in front of the daemon's data handler.

    ``time`` becomes epoch seconds: the origin (Cortex start) is estimated on the LSL
    clock from arrival times, then expressed in wall-clock time, which is what the
    daemon's wall-clock mapping (the fallback for a Cortex without
    ``syncWithHeadsetClock``) turns back into LSL time. Frames without a time (1.x sys
    events) are left without one. The eeg marker columns need the subscription's
    columns: eeg frames of a session whose eeg subscription is under way wait here
    (already time-stamped) until :meth:`register_eeg` has them.
    """

    def __init__(
        self,
        estimator: OriginEstimator,
        lsl_clock: Callable[[], float] = pylsl.local_clock,
        epoch_offset: Callable[[], float] = epoch_minus_lsl,
    ) -> None:
        self.estimator = estimator
        self.lsl_clock = lsl_clock
        self._epoch_offset = epoch_offset
        self._offset = epoch_offset()
        self._offset_read = lsl_clock()
        self._downstream: DataHandler = _ignore
        self._eeg_layout: dict[str, EegLayout] = {}
        self._held: dict[str, list[tuple[dict[str, Any], bool]]] = {}  # (frame, reordered)
        # (sid, code) -> (label, port, enums) and pending event times, from session objects
        self._marker_types: dict[tuple[str, int], tuple[str, str, list[str]]] = {}
        self._marker_events: dict[tuple[str, int], deque[tuple[int, str]]] = {}
        self._injecting: dict[str, int] = {}  # sid -> injectMarker requests under way
        self._sessions: set[str] = set()  # our sessions: only their frames are evidence
        self.milliseconds = 0  # frames whose time came in milliseconds (scaled to seconds)

    def wrap(self, downstream: DataHandler) -> DataHandler:
        self._downstream = downstream
        return self.handle

    def handle(self, frame: dict[str, Any]) -> None:
        now = self.lsl_clock()
        stamp = frame.get("time")
        sid = frame.get("sid")
        if not isinstance(sid, str) or sid not in self._sessions:
            self._downstream(frame)  # not ours (the daemon counts it): no clock evidence
            return
        if type(stamp) is float or type(stamp) is int:
            scale = time_scale(stamp)
            if scale != 1.0:
                stamp *= scale
                self._rescaled(sid)
            origin = self.estimator.observe(stamp, now)
            if now - self._offset_read > EPOCH_REFRESH_S:
                self._offset, self._offset_read = self._epoch_offset(), now
            frame["time"] = stamp + origin + self._offset
        if "eeg" in frame:
            layout = self._eeg_layout.get(sid)
            ready = layout is not None and self._reorder(frame, layout)
            if sid in self._held:
                self._held[sid].append((frame, ready))
                return
            if layout is not None and ready:
                if self._injecting.get(sid) and _has_marker(frame, layout.marker):
                    # Our injectMarker's answer (with the marker's enums) is not read
                    # yet: hold eeg until it is, to decode the value.
                    self._held[sid] = [(frame, ready)]
                    return
                self._markers(frame, sid, layout)
        elif "sys" in frame:
            values = frame["sys"]
            if isinstance(values, list) and values and isinstance(values[0], str):
                values[0] = V1_DETECTIONS.get(values[0], values[0])
        self._downstream(frame)

    def _rescaled(self, sid: str) -> None:
        self.milliseconds += 1
        if self.milliseconds == 1:
            log.warning(
                "Cortex 1.x sends sample times in milliseconds (session %s), not in the "
                "documented seconds since Cortex started; reading them as milliseconds "
                "(every such frame is counted)", sid)

    # ---- eeg: column order and markers -------------------------------------------

    def expect_eeg(self, sid: str) -> None:
        """An eeg subscription of ``sid`` is being made: hold its frames till its cols."""
        self._held.setdefault(sid, [])

    def register_eeg(self, sid: str, v1_cols: Sequence[Any]) -> list[Any]:
        """The eeg cols of ``sid`` are known: release what was held; the cols in v2
        names and v2 order (1.x puts RAW_CQ before the sensors), which frames now get."""
        cols = translate_columns(v1_cols)
        order = sorted(range(len(cols)), key=lambda i: (_eeg_rank(cols[i]), i))
        ordered = [cols[i] for i in order]
        if "MARKERS" in ordered and "MARKER_HARDWARE" in ordered:
            self._eeg_layout[sid] = EegLayout(
                None if order == list(range(len(cols))) else tuple(order),
                len(cols),
                ordered.index("MARKER_HARDWARE"),
                ordered.index("MARKERS"),
            )
        self.release(sid)
        return ordered

    def release(self, sid: str) -> None:
        held = self._held.pop(sid, [])
        layout = self._eeg_layout.get(sid)
        for frame, ready in held:
            if layout is not None and (ready or self._reorder(frame, layout)):
                self._markers(frame, sid, layout)
            self._downstream(frame)

    @staticmethod
    def _reorder(frame: dict[str, Any], layout: EegLayout) -> bool:
        """Put an eeg frame's values in v2 order; False if it does not fit (malformed:
        left alone for the pipeline to count)."""
        values = frame["eeg"]
        if not isinstance(values, list) or len(values) != layout.size:
            return False
        if layout.order is not None:
            frame["eeg"] = [values[i] for i in layout.order]
        return True

    def learn_session(self, session: Mapping[str, Any]) -> None:
        """Remember the marker types of a 1.x session object (label, port, enums) and
        the times of their newest events, to decode the numeric marker columns."""
        sid = session.get("id")
        if isinstance(sid, str):
            self._sessions.add(sid)
        markers = session.get("markers")
        if not isinstance(sid, str) or not isinstance(markers, list):
            return
        for mt in markers:
            if not isinstance(mt, dict) or not isinstance(mt.get("code"), int):
                continue
            key = (sid, mt["code"])
            enums = [e for e in mt.get("enums") or [] if isinstance(e, str)]
            self._marker_types[key] = (str(mt.get("label", "")), str(mt.get("port", "")), enums)

    def begin_inject(self, sid: str) -> None:
        self._injecting[sid] = self._injecting.get(sid, 0) + 1

    def end_inject(self, sid: str) -> None:
        left = self._injecting.get(sid, 0) - 1
        if left > 0:
            self._injecting[sid] = left
            return
        self._injecting.pop(sid, None)
        if sid in self._held and sid in self._eeg_layout:
            self.release(sid)

    def expect_event(self, sid: str, code: int, wire: int, when: str) -> None:
        self._marker_events.setdefault((sid, code), deque(maxlen=256)).append((wire, when))

    def _markers(self, frame: dict[str, Any], sid: str, layout: EegLayout) -> None:
        values = frame["eeg"]
        hw_index, index = layout.hardware, layout.marker
        wire = values[index]
        if not wire or not isinstance(wire, int | float) or isinstance(wire, bool):
            values[index] = []
            return
        code = values[hw_index]
        values[index] = [self._marker_object(sid, code, wire)]

    def _marker_object(self, sid: str, code: Any, wire: int | float) -> dict[str, Any]:
        number = int(wire) if float(wire).is_integer() else wire
        key = (sid, int(code)) if isinstance(code, int | float) else (sid, -1)
        label, port, enums = self._marker_types.get(key, ("", "", []))
        value: Any = number
        if enums and isinstance(number, int) and 1 <= number <= len(enums):
            value = enums[number - 1]
        obj: dict[str, Any] = {"value": value, "label": label, "port": port, "type": "instance"}
        if code:
            obj["hardware"] = code
        events = self._marker_events.get(key)
        while events:
            event_wire, when = events.popleft()
            if event_wire == number:
                obj["startDatetime"] = when
                break
        return obj


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


def _ignore(frame: dict[str, Any]) -> None:
    return None


def _has_marker(frame: dict[str, Any], index: int) -> bool:
    values = frame["eeg"]
    return isinstance(values, list) and len(values) > index and bool(values[index])


