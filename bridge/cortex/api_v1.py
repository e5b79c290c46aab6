"""The Cortex 1.x dialect, behind the same :class:`CortexApi` methods the daemon calls.

Everything that differs between Cortex 1.x (seed page ``001``, 2017) and Cortex 2+
stops here, so the daemon, the stream catalog's users, the outlets and OSC never ask
which dialect they talk to:

- calls: ``_auth`` instead of ``cortexToken``, snake-case credentials, no access
  approval (granted), ``controlBluetoothHeadset`` for ``controlDevice``, no
  ``syncWithHeadsetClock`` (-32601, so the daemon takes the wall-clock mapping), one
  ``subscribe`` per stream (a 1.x subscribe fails as a whole), markers without records;
- shapes: headset status ``pending`` -> ``discovered``, ``[{"<stream>": {"cols"}}]`` ->
  :class:`Subscription`, column names ``IED_AF3`` -> ``AF3`` (:data:`V1_COLUMNS`);
- frames (:class:`V1Frames`, in front of the connection's data handler): ``time`` in
  seconds since Cortex start -> epoch seconds through :class:`~bridge.clock.OriginEstimator`,
  the numeric ``IEE_MARKER`` column -> a v2 ``MARKERS`` list of marker objects, sys
  detection names ``"Mental Command"`` -> ``"mentalCommand"``.

:func:`open_api` picks the dialect (``auto``: ``getCortexInfo`` answered -> v2,
-32601 -> v1) and returns the matching API.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pylsl

from bridge.clock import (
    ClockPair,
    OriginEstimator,
    SyncReading,
    cortex_time_from_iso,
    epoch_minus_lsl,
    remote_wall_offset,
)
from bridge.cortex.api import (
    AccessState,
    CortexApi,
    Requester,
    ShapeError,
    SubscribeFailure,
    Subscription,
)
from bridge.cortex.connection import DataHandler
from bridge.cortex.protocol import TOKEN_ERRORS, CortexError, ErrorCode

log = logging.getLogger(__name__)

Dialect = Literal["auto", "v2", "v1"]

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
V1_DETECTIONS: Mapping[str, str] = {
    "Mental Command": "mentalCommand",
    "Facial Expression": "facialExpression",
}
# Headset status: 1.x lists a headset in range but not connected as "pending".
V1_HEADSET_STATUS: Mapping[str, str] = {"pending": "discovered"}
# 1.x codes that mean what a different v2 code means (the daemon reacts to v2 codes).
V1_ERRORS: Mapping[int, int] = {
    -32006: ErrorCode.SESSION_LIMIT,  # "No valid license to activate a new session."
}
# The streams of Cortex 1.x (the seed page's stream table): no eq.
V1_STREAMS = frozenset({"mot", "eeg", "com", "fac", "met", "dev", "pow", "sys"})
# Errors of a single-stream subscribe that make that stream a failure, not the call.
NOT_SUBSCRIBABLE = frozenset({-32016, -32012, -32004})
EPOCH_REFRESH_S = 1.0  # how often V1Frames re-reads the wall clock against the LSL clock


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


def normalise_headset(obj: dict[str, Any]) -> dict[str, Any]:
    """A 1.x headset object as the daemon reads v2 ones (status names)."""
    status = obj.get("status")
    if isinstance(status, str):
        obj = {**obj, "status": V1_HEADSET_STATUS.get(status, status)}
    elif status is None:
        obj = {**obj, "status": "connected"}  # the workflow example lists none [I]
    return obj


def normalise_session(obj: dict[str, Any]) -> dict[str, Any]:
    """A 1.x session object as the daemon reads v2 ones (``headset`` an object)."""
    headset = obj.get("headset")
    if isinstance(headset, str):  # the early examples give the id only
        obj = {**obj, "headset": {"id": headset}}
    elif isinstance(headset, dict):
        obj = {**obj, "headset": normalise_headset(headset)}
    return obj


# eeg columns in v2 order: counter and flag first, then the sensors (and anything
# else), then RAW_CQ and the marker columns.
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


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


def _ignore(frame: dict[str, Any]) -> None:
    return None


def _has_marker(frame: dict[str, Any], index: int) -> bool:
    values = frame["eeg"]
    return isinstance(values, list) and len(values) > index and bool(values[index])


def _list(value: Any, method: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError(f"{method}: expected an array, got {type(value).__name__}")
    return value


def _session(value: Any, method: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{method}: expected a session object, got {type(value).__name__}")
    return normalise_session(value)


class CortexApiV1(CortexApi):
    """The daemon's :class:`CortexApi` calls, spoken in Cortex 1.x."""

    def __init__(
        self, conn: Requester, frames: V1Frames, wall: Callable[[], float] = time.time
    ) -> None:
        super().__init__(conn)
        self.frames = frames
        self._wall = wall
        # Cortex's wall clock minus ours, from the ``started`` of new sessions (the
        # reading with the shortest round trip wins); markers are sent in Cortex's.
        self.wall_offset: ClockPair | None = None

    async def _call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A request whose 1.x-only error codes are translated to their v2 meaning; its
        round trip calibrates the frames' transport time (:class:`OriginEstimator`)."""
        clock = self.frames.lsl_clock
        sent = clock()
        try:
            result = await self._conn.request(method, params)
            self.frames.estimator.note_round_trip(clock() - sent)
            return result
        except CortexError as exc:
            self.frames.estimator.note_round_trip(clock() - sent)
            code = V1_ERRORS.get(exc.code)
            if code is None:
                raise
            raise CortexError(method, int(code), exc.cortex_message, exc.data) from None

    def _auth(self, **params: Any) -> dict[str, Any]:
        return {"_auth": self._token(), **{k: v for k, v in params.items() if v is not None}}

    async def get_cortex_info(self) -> dict[str, Any]:
        """1.x has no getCortexInfo. The daemon logs what this returns at connect, and
        probes a silent Cortex with it (a stall: does the service still answer?), so it
        must ask the service: ``getUserLogin``, the 1.x method without token or
        parameters. An error is an answer too."""
        try:
            users = await self._call("getUserLogin")
        except CortexError:
            users = None
        info: dict[str, Any] = {"version": "1.x", "dialect": "v1"}
        if isinstance(users, list):
            info["users"] = [u for u in users if isinstance(u, str)]
        return info

    async def has_access_right(self, client_id: str, client_secret: str) -> AccessState:
        return AccessState(True, "Cortex 1.x has no application approval")

    async def request_access(self, client_id: str, client_secret: str) -> AccessState:
        return AccessState(True, "Cortex 1.x has no application approval")

    async def authorize(
        self, client_id: str, client_secret: str, license_id: str = "", debit: int = 0
    ) -> str:
        """With the app's credentials (Cortex needs a logged-in user for that); with no
        client id, anonymously (no licence: no raw EEG)."""
        params: dict[str, Any] = {}
        if client_id:
            params = {"client_id": client_id, "client_secret": client_secret}
        if license_id:
            params["license"] = license_id
        if debit:
            params["debit"] = debit
        result = await self._call("authorize", params)
        token = result.get("_auth") if isinstance(result, dict) else None
        if not isinstance(token, str):
            raise ShapeError("authorize: result has no string '_auth'")
        self.token = token
        return token

    async def generate_new_token(self, client_id: str, client_secret: str) -> str:
        result = await self._call("generateNewToken", {"token": self._token()})
        token = result.get("_auth") if isinstance(result, dict) else None
        if not isinstance(token, str):
            raise ShapeError("generateNewToken: result has no string '_auth'")
        self.token = token
        return token

    async def query_headsets(self, headset_id: str | None = None) -> list[dict[str, Any]]:
        result = _list(await self._call("queryHeadsets", {"id": headset_id} if headset_id else {}),
                       "queryHeadsets")  # fmt: skip
        return [
            normalise_headset(h)
            for h in result
            if isinstance(h, dict) and isinstance(h.get("id"), str)
        ]

    async def control_device(self, command: str, headset: str | None = None) -> Any:
        """connect/disconnect via ``controlBluetoothHeadset``; 1.x has no scan
        (``refresh`` does nothing)."""
        if command == "refresh" or headset is None:
            return {"command": command, "message": "Cortex 1.x has no headset scan"}
        return await self._call("controlBluetoothHeadset", {"command": command, "headset": headset})

    async def create_session(self, headset: str, status: str) -> dict[str, Any]:
        sent = self._wall()
        answer = await self._call("createSession", self._auth(headset=headset, status=status))
        received = self._wall()
        result = _session(answer, "createSession")
        started = cortex_time_from_iso(result.get("started"))
        if started is not None:
            reading = remote_wall_offset(started, sent, received)
            if self.wall_offset is None or reading.spread <= self.wall_offset.spread:
                self.wall_offset = reading
        self.frames.learn_session(result)
        return result

    async def update_session(self, session: str, status: str) -> dict[str, Any]:
        result = _session(
            await self._call("updateSession", self._auth(session=session, status=status)),
            "updateSession",
        )
        self.frames.learn_session(result)
        return result

    async def query_sessions(self) -> list[dict[str, Any]]:
        result = _list(await self._call("querySessions", self._auth()), "querySessions")
        return [normalise_session(s) for s in result if isinstance(s, dict)]

    async def subscribe(
        self, session: str, streams: Sequence[str]
    ) -> tuple[list[Subscription], list[SubscribeFailure]]:
        """One request per stream: a 1.x subscribe has no failure list and fails as a
        whole, so this is how one refused stream does not take the others with it."""
        success: list[Subscription] = []
        failure: list[SubscribeFailure] = []
        for stream in streams:
            if stream not in V1_STREAMS:
                failure.append(
                    SubscribeFailure(stream, -32016, f"Cortex 1.x has no {stream} stream",
                                     permanent=True)
                )
                continue
            if stream == "eeg":
                self.frames.expect_eeg(session)
            try:
                result = await self._call(
                    "subscribe", self._auth(session=session, streams=[stream])
                )
            except CortexError as exc:
                if stream == "eeg":
                    self.frames.release(session)
                if exc.code in TOKEN_ERRORS or exc.code not in NOT_SUBSCRIBABLE:
                    raise
                failure.append(SubscribeFailure(stream, exc.code, exc.cortex_message))
                continue
            item = next(
                (i for i in _list(result, "subscribe") if isinstance(i, dict) and stream in i),
                None,
            )
            info = item.get(stream) if item is not None else None
            cols = info.get("cols") if isinstance(info, dict) else None
            sid = item.get("sid") if item is not None else None
            if not isinstance(cols, list) or not isinstance(sid, str):
                if stream == "eeg":
                    self.frames.release(session)
                raise ShapeError(f"subscribe: no cols and sid for {stream}")
            names = (
                self.frames.register_eeg(session, cols)
                if stream == "eeg"
                else translate_columns(cols)
            )
            success.append(Subscription(stream, names, sid))
        return success, failure

    async def unsubscribe(self, session: str, streams: Sequence[str]) -> Any:
        return await self._call("unsubscribe", self._auth(session=session, streams=list(streams)))

    async def sync_with_headset_clock(self, headset: str) -> SyncReading:
        """Cortex 1.x has no clock exchange: the answer an old Cortex gives (-32601)."""
        raise CortexError("syncWithHeadsetClock", ErrorCode.METHOD_NOT_FOUND, "not in Cortex 1.x")

    async def create_record(self, session: str, title: str, **extra: Any) -> dict[str, Any]:
        """1.x markers need no record, and a 1.x record is uploaded to Emotiv's cloud:
        none is started. The answer has the v2 shape with an empty record id."""
        return {"record": {"uuid": "", "title": title}, "sessionId": session}

    async def stop_record(self, session: str) -> dict[str, Any]:
        return {"record": {"uuid": ""}, "sessionId": session}

    async def inject_marker(
        self,
        session: str,
        time_ms: float,
        value: str | int,
        label: str,
        port: str | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``injectMarker`` on the session (no record; ``extras`` do not exist in 1.x).
        ``time`` is sent in epoch milliseconds, as Cortex 2 wants it [U: the 1.x docs
        say "Epoch time" without a unit], on Cortex's wall clock (``wall_offset``). The
        answer (the 1.x session object) is reshaped into v2's ``{marker, recordId,
        sessionId}``; the marker's ``startDatetime`` is the time asked for, on ours."""
        if value == 0 and not isinstance(value, str):
            # 0 in the numeric marker column means "no marker": a 0 would vanish from
            # the eeg stream, so it goes as the text "0" (Cortex shows its enums index).
            value = "0"
        offset_ms = self.wall_offset.difference * 1000.0 if self.wall_offset else 0.0
        cortex_ms = round(time_ms + offset_ms, 3)
        params = self._auth(session=session, label=label, value=value, time=cortex_ms, port=port)
        self.frames.begin_inject(session)
        try:
            result = _session(await self._call("injectMarker", params), "injectMarker")
            self.frames.learn_session(result)
        except BaseException:
            self.frames.end_inject(session)
            raise
        port_name = port or "Software"
        ours = _iso(time_ms / 1000.0)
        marker: dict[str, Any] = {
            "label": label, "port": port_name, "value": value, "startDatetime": ours,
        }  # fmt: skip
        for mt in result.get("markers") or []:
            if not isinstance(mt, dict) or mt.get("label") != label or mt.get("port") != port_name:
                continue
            events = mt.get("events")
            code = mt.get("code")
            if isinstance(events, list) and events and isinstance(code, int):
                last = events[-1]
                if isinstance(last, list) and len(last) == 2 and isinstance(last[1], int):
                    self.frames.expect_event(session, code, last[1], ours)
        self.frames.end_inject(session)
        return {"marker": marker, "recordId": "", "sessionId": session}


async def detect_dialect(conn: Requester) -> Literal["v2", "v1"]:
    """``getCortexInfo`` is Cortex 2's documented smoke test and every 2.x answers it;
    Cortex 1.x has no such method and says -32601 (method not found). Any other error
    (a v2 Cortex in trouble) is raised."""
    try:
        await conn.request("getCortexInfo")
    except CortexError as exc:
        if exc.code == ErrorCode.METHOD_NOT_FOUND:
            return "v1"
        raise
    return "v2"


async def open_api(
    conn: Requester,
    dialect: Dialect = "auto",
    *,
    v1_latency: float = 0.0,
    filter_data: Callable[[Callable[[DataHandler], DataHandler]], None] | None = None,
) -> CortexApi:
    """The API for ``dialect`` on an open connection (``auto``: ask the service).

    For 1.x the frame normaliser is put in front of the connection's data handler
    (``filter_data``, :meth:`CortexConnection.filter_data` by default when ``conn`` has
    it)."""
    chosen = await detect_dialect(conn) if dialect == "auto" else dialect
    if chosen == "v2":
        return CortexApi(conn)
    log.info("speaking the Cortex 1.x API")
    frames = V1Frames(OriginEstimator(latency=v1_latency))
    hook = filter_data if filter_data is not None else getattr(conn, "filter_data", None)
    if hook is None:
        raise TypeError("a Cortex 1.x connection needs a data filter hook")
    hook(frames.wrap)
    return CortexApiV1(conn, frames)
