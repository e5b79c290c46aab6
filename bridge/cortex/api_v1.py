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

:func:`open_api` picks the dialect (``auto``: :func:`find_dialect` probes
``getCortexInfo``, then ``hasAccessRight`` and ``getUserLogin`` when the first answer
does not settle it, and says what it found) and returns the matching API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bridge.clock import (
    ClockPair,
    OriginEstimator,
    SyncReading,
    cortex_time_from_iso,
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
from bridge.cortex.errors import Action, error_rule
from bridge.cortex.protocol import CortexError, ErrorCode
from bridge.cortex.v1_frames import (
    V1Frames,
    iso_time,
    translate_columns,
)

log = logging.getLogger(__name__)

Dialect = Literal["auto", "v2", "v1"]

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
                # A token error is the token runner's (the table's REAUTHORIZE rows).
                reauthorize = error_rule(exc.code, exc.method).action is Action.REAUTHORIZE
                if reauthorize or exc.code not in NOT_SUBSCRIBABLE:
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
        ours = iso_time(time_ms / 1000.0)
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


# The probes, in order, and what each can tell: getCortexInfo is Cortex 2's documented
# smoke test (1.x has none); hasAccessRight exists only since Cortex 2 (1.x has no
# application approval); getUserLogin exists in both and answers user names (strings) in
# 1.x, user objects in 2.x. A method "exists" when it answers anything but -32601.
PROBES: tuple[str, ...] = ("getCortexInfo", "hasAccessRight", "getUserLogin")


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe's answer: a result, or an error code."""

    method: str
    result: Any = None
    error: int | None = None

    @property
    def exists(self) -> bool:
        return self.error != ErrorCode.METHOD_NOT_FOUND

    def describe(self) -> str:
        if self.error is None:
            return f"{self.method} answered"
        if not self.exists:
            return f"{self.method} does not exist"
        return f"{self.method} exists (error {self.error})"


@dataclass(frozen=True, slots=True)
class DialectFinding:
    """The dialect and the evidence for it, in one line (logged, and printed by check)."""

    dialect: Literal["v2", "v1"]
    evidence: str
    sure: bool = True

    def text(self) -> str:
        speaks = "Cortex 2+ (v2)" if self.dialect == "v2" else "Cortex 1.x (v1)"
        guess = "" if self.sure else "; not sure: set cortex.dialect if this is wrong"
        return f"{speaks}: {self.evidence}{guess}"


def _user_login_dialect(probe: Probe) -> Literal["v2", "v1"] | None:
    """getUserLogin's shape: 1.x lists user names, 2.x user objects; empty says nothing."""
    if probe.error is not None or not isinstance(probe.result, list) or not probe.result:
        return None
    if all(isinstance(u, str) for u in probe.result):
        return "v1"
    if all(isinstance(u, dict) for u in probe.result):
        return "v2"
    return None


def decide_dialect(probes: Sequence[Probe]) -> DialectFinding | None:
    """The dialect from the probes so far, or None when the next probe is needed. Pure.

    getCortexInfo answering settles it (v2). Otherwise hasAccessRight decides whether
    the Cortex 2 methods are there, and with getCortexInfo's answer agreeing (both absent,
    or both present) that is sure; when they disagree, getUserLogin's shape decides, and
    without it the bridge goes by hasAccessRight, saying it is not sure."""
    seen = {p.method: p for p in probes}
    info = seen.get("getCortexInfo")
    if info is None:
        return None
    if info.error is None:
        version = info.result.get("version") if isinstance(info.result, dict) else None
        return DialectFinding("v2", "getCortexInfo answered" + (
            f" (version {version})" if version else ""))
    access = seen.get("hasAccessRight")
    if access is None:
        return None
    evidence = f"{info.describe()}, {access.describe()}"
    if info.exists == access.exists:
        return DialectFinding("v2" if access.exists else "v1", evidence)
    login = seen.get("getUserLogin")
    if login is None:
        return None
    by_login = _user_login_dialect(login)
    if by_login is not None:
        shape = "user names" if by_login == "v1" else "user objects"
        return DialectFinding(by_login, f"{evidence}; getUserLogin lists {shape}")
    return DialectFinding("v2" if access.exists else "v1", evidence, sure=False)


async def probe(conn: Requester, method: str) -> Probe:
    """Ask ``method`` without parameters; an error answer is an answer too."""
    try:
        return Probe(method, result=await conn.request(method))
    except CortexError as exc:
        return Probe(method, error=exc.code)


async def find_dialect(conn: Requester) -> DialectFinding:
    """Probe until :func:`decide_dialect` knows: one request for any Cortex 2 that has
    getCortexInfo, two or three otherwise. A lost connection or a timeout is raised."""
    probes: list[Probe] = []
    for method in PROBES:
        probes.append(await probe(conn, method))
        found = decide_dialect(probes)
        if found is not None:
            return found
    raise AssertionError("decide_dialect decides with every probe")  # pragma: no cover


async def detect_dialect(conn: Requester) -> Literal["v2", "v1"]:
    """The dialect ``conn`` speaks (:func:`find_dialect` for the evidence)."""
    return (await find_dialect(conn)).dialect


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
    if dialect == "auto":
        finding = await find_dialect(conn)
        log.log(logging.INFO if finding.sure else logging.WARNING, "Cortex dialect: %s",
                finding.text())
        chosen, note = finding.dialect, finding.text()
    else:
        chosen, note = dialect, f"cortex.dialect = {dialect!r} (not probed)"
    if chosen == "v2":
        api = CortexApi(conn)
        api.dialect_note = note
        return api
    log.info("speaking the Cortex 1.x API")
    frames = V1Frames(OriginEstimator(latency=v1_latency))
    hook = filter_data if filter_data is not None else getattr(conn, "filter_data", None)
    if hook is None:
        raise TypeError("a Cortex 1.x connection needs a data filter hook")
    hook(frames.wrap)
    v1 = CortexApiV1(conn, frames)
    v1.dialect_note = note
    return v1
