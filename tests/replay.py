"""A Cortex replay server: answers the bridge from a published transcript.

The simulator (``bridge/simulator``) is our own reading of the Cortex docs, so a
misunderstanding shared by the bridge and the simulator passes every test. This server
has no model of Cortex: it answers with what real Cortex (or Emotiv's docs) was seen to
send, from a transcript in ``tests/fixtures/cortex_traffic/`` (its format is described
in that directory's README), and fills the gaps with the smallest documented answer.

How a transcript is replayed:

- Each request is matched **by method** (for ``createSession``/``updateSession`` also by
  the requested ``status``: see :data:`MATCH_PARAMS`) to the transcript's answers for
  that method, in order; the last one repeats (a refusal stays a refusal until the user acts). The answer
  is re-keyed to the request's id. ``subscribe`` picks the first unused answer that names
  one of the requested streams (or names none: an error), so one transcript can answer
  1.x's one-stream-per-request subscriptions.
- What followed an answer in the transcript (data frames, warnings) is sent after that
  answer, in order, once. The frames that followed a ``subscribe`` then repeat, in a
  loop, until the session ends (warning 0/1, ``updateSession`` close, the connection
  closes): a consumer that connects late still sees data. Looped frames repeat their
  ``COUNTER`` values, so the bridge may count (and log) dropped samples; tests of
  streams with counters assert values, not the absence of drop warnings.
- Frames and warnings before the first answer are sent as soon as the first client
  connects (warning 11 arrived like that).
- Session ids: each ``createSession`` hands out a fresh id (Cortex does), also when the
  transcript's answer is ``{}``; every session id of the transcript is rewritten, in
  every message sent, to the session it belongs to. Headset ids are renamed (a suffix)
  so that each test's LSL streams have unique names; sample ``time`` values are moved
  to now (same spacing), since a 2019 time stamp would be wrong today for a reason that
  has nothing to do with the bridge. Values are sent verbatim.
- Methods the transcript lacks get :data:`DEFAULTS`: each answer is a documented
  example's shape (cited there), filled from the replay's state.
- A test can put answers in front of the transcript's (:meth:`ReplayServer.inject`: the
  next request of a method answers a given error) and send warnings to every connection
  (:meth:`ReplayServer.broadcast`): how every row of the bridge's error/warning table is
  driven (``tests/e2e/test_error_table.py``).
- ``createSession`` on a headset whose ``connectedBy`` is ``"usb cable"``: the docs say
  only that Cortex cannot open such a session, not how it refuses; the server answers
  :data:`USB_REFUSAL`, its own stand-in (the observed -32004 "headset not available").

Runs on its own event loop in a thread (:class:`ReplayThread`), like the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bridge.simulator.background import BackgroundServer
from bridge.simulator.tls import TlsFiles, generate, server_context

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cortex_traffic"
STREAMS = ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys")
# Observed (cortex_api.md §5.1, Emotiv/cortex-example#42) for a stream Cortex will not give.
STREAM_REFUSED = {"code": -32016, "message": "The stream is unavailable or unsupported."}
# 1.x's message for the same code (seeds/001, Errors).
STREAM_REFUSED_V1 = {"code": -32016, "message": "Stream unavailable or already been subscribed."}
# seeds/001 (Errors): the 1.x table's message; v2 does not document its refusal.
RECORDING_STOPPED = {"code": -32011, "message": "The recording of current session has been stopped."}
USB_REFUSAL = {"code": -32004, "message": "The headset is currently not available."}
METHOD_NOT_FOUND = {"code": -32601, "message": "Method not found."}
METHOD_NOT_FOUND_V1 = {"code": -32601, "message": "The method does not exist / is not available."}
REPLAY_TOKEN = "replay-token"  # not a secret: the server accepts any token
JsonObject = dict[str, Any]
# Methods whose answer depends on a parameter as well as the method: a refusal to
# *activate* a session says nothing about opening one.
MATCH_PARAMS: dict[str, tuple[str, ...]] = {"createSession": ("status",), "updateSession": ("status",)}


# --------------------------------------------------------------------------- transcripts


@dataclass
class Entry:
    """One answer of the transcript and what followed it."""

    method: str
    answer: JsonObject  # the response message: {"result": ...} or {"error": ...}
    request: JsonObject  # the params of the transcript's request (may be reconstructed)
    events: list[JsonObject] = field(default_factory=list)  # {"kind", "data"} in order
    used: bool = False

    def streams(self) -> set[str]:
        """The streams a subscribe answer names (v2 success/failure, 1.x list items)."""
        result = self.answer.get("result")
        named: set[str] = set()
        if isinstance(result, dict):
            for item in [*result.get("success", []), *result.get("failure", [])]:
                if isinstance(item, dict) and isinstance(item.get("streamName"), str):
                    named.add(item["streamName"])
        elif isinstance(result, list):
            for item in result:
                if isinstance(item, dict):
                    named.update(k for k in item if k in STREAMS)
        return named

    def frames(self) -> list[JsonObject]:
        return [e["data"] for e in self.events if e["kind"] == "frame"]


@dataclass
class Transcript:
    """A fixture file, parsed into answers by method."""

    path: Path
    meta: JsonObject
    dialect: str
    opening: list[JsonObject]
    answers: dict[str, list[Entry]]
    session_ids: set[str]

    @classmethod
    def load(cls, name: str | Path) -> Transcript:
        path = Path(name)
        if not path.is_absolute():
            path = FIXTURES / path
        meta = json.loads(path.read_text(encoding="utf-8"))
        opening: list[JsonObject] = []
        answers: dict[str, list[Entry]] = {}
        pending: dict[Any, JsonObject] = {}  # request id -> the latest such request
        current: Entry | None = None
        session_ids: set[str] = set(meta.get("session_ids", []))
        for message in meta["messages"]:
            kind, data = message["kind"], message["data"]
            if kind == "request":
                pending[data.get("id")] = data
            elif kind == "response":
                request = pending.pop(data.get("id"), None)
                if request is None:
                    raise ValueError(f"{path.name}: a response without its request: {data}")
                method = request["method"]
                current = Entry(method, data, request.get("params") or {})
                answers.setdefault(method, []).append(current)
                session_ids.update(_session_ids_in_answer(method, data))
            elif kind in ("frame", "warning"):
                (current.events if current is not None else opening).append(message)
                if kind == "frame" and isinstance(data.get("sid"), str):
                    session_ids.add(data["sid"])
                if kind == "warning":
                    msg = data["warning"].get("message")
                    if isinstance(msg, dict) and isinstance(msg.get("sessionId"), str):
                        session_ids.add(msg["sessionId"])
            else:
                raise ValueError(f"{path.name}: unknown kind {kind!r}")
        return cls(path, meta, meta["dialect"], opening, answers, session_ids)

    def headset_ids(self) -> list[str]:
        """Headset ids the transcript's answers list (queryHeadsets, session objects)."""
        ids: list[str] = []
        for entries in self.answers.values():
            for entry in entries:
                for obj in _walk(entry.answer.get("result")):
                    hid = obj.get("id")
                    headset = "sensors" in obj or "connectedBy" in obj
                    if isinstance(hid, str) and headset and hid not in ids:
                        ids.append(hid)
        return ids


def _session_ids_in_answer(method: str, data: JsonObject) -> set[str]:
    found: set[str] = set()
    result = data.get("result")
    if method in ("createSession", "updateSession") and isinstance(result, dict):
        sid = result.get("id")
        found.update([sid] if isinstance(sid, str) else [])
    if method == "subscribe":
        items = result.get("success", []) if isinstance(result, dict) else result or []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("sid"), str):
                found.add(item["sid"])
    return found


def _walk(obj: Any) -> Iterator[JsonObject]:
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from _walk(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _walk(value)


def _rewrite(obj: Any, pattern: re.Pattern[str] | None, mapping: dict[str, str]) -> Any:
    """``obj`` with every occurrence of a mapped string replaced, in keys' values only."""
    if pattern is None:
        return obj
    if isinstance(obj, str):
        return pattern.sub(lambda m: mapping[m.group(0)], obj)
    if isinstance(obj, list):
        return [_rewrite(v, pattern, mapping) for v in obj]
    if isinstance(obj, dict):
        return {k: _rewrite(v, pattern, mapping) for k, v in obj.items()}
    return obj


def _pattern(keys: list[str]) -> re.Pattern[str] | None:
    if not keys:
        return None
    return re.compile("|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)))


# ------------------------------------------------------------------------------- server


@dataclass(frozen=True)
class Received:
    """A request the server received: which connection, method and params."""

    connection: int
    method: str
    params: JsonObject
    at: float  # time.monotonic()


@dataclass
class _Session:
    sid: str
    headset: str
    status: str  # "opened" / "activated" / "closed"
    started: str
    loops: list[asyncio.Task[None]] = field(default_factory=list)
    ended: bool = False
    record: JsonObject | None = None  # the record in progress (createRecord, v2)


class ReplayServer:
    """The WebSocket server; see the module docstring for the replay rules."""

    def __init__(
        self,
        transcript: Transcript,
        *,
        tls_dir: Path | None = None,
        suffix: str = "",
        frame_interval: float = 0.02,
        retime: bool = True,
    ) -> None:
        self.transcript = transcript
        self.dialect = transcript.dialect
        self.tls: TlsFiles | None = generate(tls_dir) if tls_dir is not None else None
        self.frame_interval = frame_interval
        self.retime = retime
        self.requests: list[Received] = []
        self.connections = 0
        self.url = ""
        self._server: Server | None = None
        self._headset_map = {h: f"{h}{suffix.upper()}" for h in transcript.headset_ids()}
        if not self._headset_map:
            # No headset in the transcript: the docs' queryHeadsets example answers.
            self._headset_map = {DOCS_HEADSET["id"]: f"{DOCS_HEADSET['id']}{suffix.upper()}"}
        self._headset_pattern = _pattern(list(self._headset_map))
        self._reverse_map = {v: k for k, v in self._headset_map.items()}
        self._reverse_pattern = _pattern(list(self._reverse_map))
        self._opening_sent = False
        self._started_at = time.monotonic()
        # Answers a test puts in front of the transcript's: method -> answers, each used
        # once (see inject); and the open connections (see broadcast).
        self.injected: dict[str, list[JsonObject]] = {}
        self.live: set[_Connection] = set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        context = server_context(self.tls) if self.tls is not None else None
        self._server = await serve(self._handle, "127.0.0.1", 0, ssl=context, max_size=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'wss' if context else 'ws'}://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def state(self) -> dict[str, Any]:
        return {"connections": self.connections, "requests": len(self.requests)}

    def inject(self, method: str, answer: JsonObject, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``method`` with ``answer`` (``{"error":
        {"code", "message"}}`` or ``{"result": ...}``) instead of the transcript's: how a
        test drives a documented error the transcript does not show."""
        self.injected.setdefault(method, []).extend(copy.deepcopy(answer) for _ in range(times))

    async def broadcast(self, message: JsonObject) -> None:
        """Send ``message`` (a warning) to every open connection, with the transcript's
        session ids mapped to each connection's current session."""
        for conn in list(self.live):
            with contextlib.suppress(ConnectionClosed):
                await conn.send(self.outgoing(message, conn._session_map(None)))

    def current_session(self) -> str | None:
        """The newest live session id of the newest connection (for warnings 0/1)."""
        for conn in sorted(self.live, key=lambda c: -c.number):
            if conn.sessions:
                return list(conn.sessions)[-1]
        return None

    @property
    def ca_file(self) -> str | None:
        return str(self.tls.ca_pem) if self.tls is not None else None

    def headset(self, transcript_id: str) -> str:
        """The id under which the server presents a transcript's headset."""
        return self._headset_map[transcript_id]

    # --------------------------------------------------------------- connection

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        conn = _Connection(self, ws, self.connections)
        self.live.add(conn)
        try:
            await conn.run()
        except ConnectionClosed:
            pass
        finally:
            self.live.discard(conn)
            conn.close()

    # ------------------------------------------------------------------ helpers

    def incoming(self, params: JsonObject) -> JsonObject:
        """Request params with the renamed headset ids turned back into the transcript's
        (the server's state speaks the transcript's ids; only the wire is renamed)."""
        return dict(_rewrite(params, self._reverse_pattern, self._reverse_map))

    def outgoing(self, obj: Any, session_map: dict[str, str]) -> Any:
        """A transcript message as sent: headset ids renamed, session ids mapped."""
        obj = _rewrite(obj, self._headset_pattern, self._headset_map)
        return _rewrite(obj, _pattern(list(session_map)), session_map)

    def retimed(self, frame: JsonObject) -> JsonObject:
        """A frame with its ``time`` (if it has one) set to the moment it is sent: epoch
        seconds for v2, seconds since the server started for 1.x ("time since Cortex
        start"). Spacing follows the replay's pace, not the transcript's."""
        stamp = frame.get("time")
        if not self.retime or isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return frame
        now = time.time() if self.dialect == "v2" else time.monotonic() - self._started_at + 1
        return {**frame, "time": round(now, 4)}


class _Connection:
    """One client's state: its sessions, its position in the transcript."""

    def __init__(self, server: ReplayServer, ws: ServerConnection, number: int) -> None:
        self.server = server
        self.ws = ws
        self.number = number
        self.sessions: dict[str, _Session] = {}
        self.latest: _Session | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        transcript = self.server.transcript
        if transcript.opening and not self.server._opening_sent:
            self.server._opening_sent = True
            await self._send_events(transcript.opening, None)
        async for raw in self.ws:
            request = json.loads(raw)
            method = request.get("method", "")
            params = request.get("params") or {}
            self.server.requests.append(Received(self.number, method, params, time.monotonic()))
            await self._answer(request.get("id"), method, self.server.incoming(params))

    def close(self) -> None:
        for session in list(self.sessions.values()):
            self._end(session)
        for task in self.tasks:
            task.cancel()

    async def send(self, obj: Any) -> None:
        await self.ws.send(json.dumps(obj, separators=(",", ":")))

    def _session_map(self, session: _Session | None) -> dict[str, str]:
        target = session or self.latest
        if target is None:
            return {}
        return {sid: target.sid for sid in self.server.transcript.session_ids}

    # ------------------------------------------------------------------ answering

    async def _answer(self, rid: Any, method: str, params: JsonObject) -> None:
        session = self.sessions.get(params.get("session", "")) if params.get("session") else None
        injected = self.server.injected.get(method)
        if injected:
            answer = injected.pop(0)
            answer["id"] = rid
            answer.setdefault("jsonrpc", "2.0")
            await self.send(self.server.outgoing(answer, self._session_map(session)))
            return
        entry = self._pick(method, params)
        follow: list[JsonObject] = []
        if method == "createSession":
            answer, session = self._create_session(entry, params)
        elif entry is not None:
            answer = copy.deepcopy(entry.answer)
            if method == "subscribe":
                answer = self._complete_subscribe(answer, params)
            if method == "updateSession":
                self._update_session(session, params)
        else:
            answer = self._default(method, params, session)
        answer["id"] = rid
        answer.setdefault("jsonrpc", "2.0")
        await self.send(self.server.outgoing(answer, self._session_map(session)))
        if entry is not None:
            first = not entry.used
            entry.used = True
            if first:
                follow = entry.events
            if method == "subscribe" and "result" in entry.answer:
                target = session or self.latest
                if target is not None:
                    self._start_frames(entry, target, follow)
                    return
            if follow:
                await self._send_events(follow, session)

    def _pick(self, method: str, params: JsonObject) -> Entry | None:
        entries = [
            e for e in self.server.transcript.answers.get(method, [])
            if all(e.request.get(k) == params.get(k) for k in MATCH_PARAMS.get(method, ()))
        ]
        if not entries:
            return None
        if method == "subscribe":
            wanted = set(params.get("streams") or [])
            fits = [e for e in entries if not e.streams() or e.streams() & wanted]
            if not fits:
                return None
            unused = [e for e in fits if not e.used]
            if unused:
                return unused[0]
            named = [e for e in fits if e.streams()]
            return named[-1] if named else fits[-1]
        unused = [e for e in entries if not e.used]
        return unused[0] if unused else entries[-1]

    def _create_session(
        self, entry: Entry | None, params: JsonObject
    ) -> tuple[JsonObject, _Session | None]:
        headset = params.get("headset") or self._first_connected()
        known = {h.get("id"): h for h in self._headsets()}
        if known.get(headset, {}).get("connectedBy") == "usb cable":
            return {"error": dict(USB_REFUSAL)}, None
        if entry is not None and "error" in entry.answer:
            return copy.deepcopy(entry.answer), None
        status = "activated" if params.get("status") == "active" else "opened"
        session = _Session(str(uuid.uuid4()), str(headset), status, _now_iso())
        self.sessions[session.sid] = session
        self.latest = session
        if entry is not None:
            return copy.deepcopy(entry.answer), session
        return {"result": self._session_object(session)}, session

    def _update_session(self, session: _Session | None, params: JsonObject) -> None:
        if session is None:
            return
        if params.get("status") == "close":
            session.status = "closed"
            self._end(session)
        elif params.get("status") == "active":
            session.status = "activated"

    def _complete_subscribe(self, answer: JsonObject, params: JsonObject) -> JsonObject:
        """Streams the bridge asked for that the transcript's answer does not name are
        refused (v2): real Cortex answers every requested stream."""
        result = answer.get("result")
        if self.server.dialect != "v2" or not isinstance(result, dict):
            return answer
        named = {i.get("streamName") for i in [*result.get("success", []), *result.get("failure", [])]}
        for stream in params.get("streams") or []:
            if stream not in named:
                result.setdefault("failure", []).append({**STREAM_REFUSED, "streamName": stream})
        return answer

    # --------------------------------------------------------------- frames, events

    def _start_frames(self, entry: Entry, session: _Session, first: list[JsonObject]) -> None:
        frames = entry.frames()
        if not frames and not first:
            return
        task = asyncio.get_running_loop().create_task(self._frames(frames, session, first))
        session.loops.append(task)
        self.tasks.append(task)

    async def _frames(
        self, frames: list[JsonObject], session: _Session, first: list[JsonObject]
    ) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send_events(first, session)
            while True:
                if session.ended or not frames:
                    return
                for frame in frames:
                    if session.ended:
                        return
                    await self._send_frame(frame, session)

    async def _send_events(self, events: list[JsonObject], session: _Session | None) -> None:
        for event in events:
            if session is not None and session.ended:
                return
            if event["kind"] == "frame":
                if session is not None:
                    await self._send_frame(event["data"], session)
                continue
            data = event["data"]
            await self.send(self.server.outgoing(data, self._session_map(session)))
            if data["warning"].get("code") in (0, 1) and session is not None:
                self._end(session)

    async def _send_frame(self, frame: JsonObject, session: _Session) -> None:
        await asyncio.sleep(self.server.frame_interval)
        if session.ended:
            return
        out = self.server.outgoing(frame, self._session_map(session))
        await self.send(self.server.retimed(out))

    def _end(self, session: _Session) -> None:
        session.ended = True
        current = asyncio.current_task()
        for task in session.loops:
            if task is not current:
                task.cancel()
        self.sessions.pop(session.sid, None)

    # ------------------------------------------------------------------ defaults

    def _headsets(self) -> list[JsonObject]:
        entries = self.server.transcript.answers.get("queryHeadsets")
        listed = entries[-1].answer.get("result") if entries else [DOCS_HEADSET]
        listed = copy.deepcopy(listed)
        return [h for h in listed if isinstance(h, dict)] if isinstance(listed, list) else []

    def _first_connected(self) -> str:
        for h in self._headsets():
            if h.get("connectedBy") != "usb cable" and h.get("status", "connected") == "connected":
                return str(h.get("id"))
        return ""

    def _session_object(self, session: _Session) -> JsonObject:
        headset = next((h for h in self._headsets() if h.get("id") == session.headset), {})
        if self.server.dialect == "v1":
            # 1.x session object (seeds/001 createSession examples).
            return {"appId": "", "headset": headset, "id": session.sid, "license": "",
                    "logs": {"recordInfos": []}, "markers": [], "owner": "", "profile": "",
                    "project": "", "recording": False, "started": session.started,
                    "status": session.status, "stopped": "", "streams": None, "subject": "",
                    "tags": [], "title": ""}  # fmt: skip
        # v2 session object (cortex_api.md §4.5; seeds/000 example's fields).
        return {"appId": "", "headset": headset, "id": session.sid, "license": "",
                "owner": "", "recordIds": [], "recording": False, "started": session.started,
                "status": session.status, "stopped": "", "streams": []}  # fmt: skip

    def _default(self, method: str, params: JsonObject, session: _Session | None) -> JsonObject:
        handler = DEFAULTS.get((self.server.dialect, method)) or DEFAULTS.get(("*", method))
        if handler is None:
            nf = METHOD_NOT_FOUND_V1 if self.server.dialect == "v1" else METHOD_NOT_FOUND
            return {"error": dict(nf)}
        return handler(self, params, session)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# The docs' queryHeadsets example (cortex_api.md §3.1).
DOCS_HEADSET: JsonObject = {
    "connectedBy": "dongle", "customName": "", "dongle": "6ff", "firmware": "625",
    "id": "EPOCPLUS-3B9AXXXX",
    "motionSensors": ["GYROX", "GYROY", "GYROZ", "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ"],
    "sensors": ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8",
                "AF4"],
    "settings": {"eegRate": 256, "eegRes": 16, "memsRate": 64, "memsRes": 16, "mode": "EPOCPLUS"},
    "status": "connected",
}  # fmt: skip

Handler = Callable[[_Connection, JsonObject, "_Session | None"], JsonObject]


def _ok(result: Any) -> JsonObject:
    return {"result": result}


def _subscribe_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    streams = params.get("streams") or []
    if c.server.dialect == "v1":
        return {"error": dict(STREAM_REFUSED_V1)}
    return _ok({"success": [], "failure": [{**STREAM_REFUSED, "streamName": x} for x in streams]})


def _update_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    if s is None:
        # Docs description of -32007 (cortex_api.md §9.1): no such session.
        return {"error": {"code": -32007, "message": "The session does not exist."}}
    c._update_session(s, params)
    return _ok(c._session_object(s))


def _sync_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    # cortex_api.md §3.4: adjustment = Cortex clock - your monotonic clock; frames are
    # retimed to the wall clock.
    mono = params.get("monotonicTime")
    adjustment = time.time() - float(mono) if isinstance(mono, int | float) else 0.0
    return _ok({"headset": params.get("headset"), "adjustment": adjustment})


# cortex_api_more.md §B.1, the docs' two examples.
DETECTION_INFO: dict[str, JsonObject] = {
    "mentalCommand": {
        "actions": ["neutral", "push", "pull", "lift", "drop", "left", "right", "rotateLeft",
                    "rotateRight", "rotateClockwise", "rotateCounterClockwise",
                    "rotateForwards", "rotateReverse", "disappear"],
        "controls": ["start", "accept", "reject", "erase", "reset"],
        "events": ["MC_Started", "MC_Succeeded", "MC_Failed", "MC_Completed", "MC_DataErased",
                   "MC_Rejected", "MC_Reset", "MC_AutoSamplingNeutralCompleted",
                   "MC_SignatureUpdated"],
        "signature": [],
    },
    "facialExpression": {
        "actions": ["neutral", "blink", "winkL", "winkR", "horiEye", "surprise", "frown",
                    "smile", "clench", "laugh", "smirkLeft", "smirkRight"],
        "controls": ["start", "accept", "reject", "erase", "reset"],
        "events": ["FE_Started", "FE_Succeeded", "FE_Failed", "FE_Completed", "FE_DataErased",
                   "FE_Rejected", "FE_Reset"],
        "signature": ["universal", "trained"],
    },
}  # fmt: skip

def _record_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    """``createRecord`` (cortex_api.md §8): the observed answer's shape (Emotiv/cortex-
    example#71), filled from the request; the record is the session's until stopRecord."""
    if s is None:
        return {"error": {"code": -32007, "message": "The session does not exist."}}
    s.record = {
        "applicationId": "", "applicationVersion": "1.0",
        "description": str(params.get("description", "")), "endDatetime": "",
        "experimentId": 0, "licenseId": "", "licenseScope": [""], "localOnly": False,
        "ownerId": "", "startDatetime": _now_iso(), "tags": [],
        "title": str(params.get("title", "")), "uuid": str(uuid.uuid4()),
    }  # fmt: skip
    return _ok({"record": dict(s.record), "sessionId": s.sid})


def _stop_record_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    """``stopRecord`` (cortex_api.md §8): ``{record, sessionId}``, ``endDatetime`` set. A
    session without a record: the 1.x table's -32011 and its message (seeds/001, Errors);
    the v2 docs do not say how Cortex refuses it."""
    if s is None:
        return {"error": {"code": -32007, "message": "The session does not exist."}}
    if s.record is None:
        return {"error": dict(RECORDING_STOPPED)}
    record, s.record = {**s.record, "endDatetime": _now_iso()}, None
    return _ok({"record": record, "sessionId": s.sid})


def _marker_default(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    """``injectMarker`` (cortex_api.md §7.1, the docs' example): ``{marker, recordId,
    sessionId}``, the marker object echoing the request (v2)."""
    if s is None:
        return {"error": {"code": -32007, "message": "The session does not exist."}}
    at = params.get("time")
    when = (datetime.fromtimestamp(float(at) / 1000.0, UTC).isoformat()
            if isinstance(at, int | float) and not isinstance(at, bool) else _now_iso())  # fmt: skip
    marker = {"endDatetime": when, "extras": params.get("extras") or {},
              "label": params.get("label", ""), "port": params.get("port") or "Software",
              "startDatetime": when, "type": "instance", "uuid": str(uuid.uuid4()),
              "value": params.get("value")}  # fmt: skip
    record = s.record.get("uuid", "") if s.record is not None else ""
    return _ok({"marker": marker, "recordId": record, "sessionId": s.sid})


def _marker_default_v1(c: _Connection, params: JsonObject, s: _Session | None) -> JsonObject:
    """1.x ``injectMarker`` (cortex_api.md §7.5): the whole session object, its
    ``markers`` naming the one injected."""
    if s is None:
        return {"error": {"code": -32007, "message": "The session does not exist."}}
    value = params.get("value")
    marker = {"code": value if isinstance(value, int) else 1,
              "enums": [value] if isinstance(value, str) else [],
              "events": [[_now_iso(), value]], "label": params.get("label", ""),
              "port": params.get("port") or "Software"}  # fmt: skip
    return _ok({**c._session_object(s), "markers": [marker]})


ACCESS_GRANTED = {  # observed, Emotiv/cortex-example#48
    "accessGranted": True,
    "message": "The user has granted access right to this application.",
}

# (dialect or "*", method) -> the minimal documented answer.
DEFAULTS: dict[tuple[str, str], Handler] = {
    # Observed in Emotiv/cortex-example#42 (cortex_api.md §2.2); 1.x has no such method.
    ("v2", "getCortexInfo"): lambda c, p, s: _ok(
        {"buildDate": "2019-09-03T09:40:00", "buildNumber": "v2.0.2-417-g3845976",
         "version": "2.2.0"}),
    ("v2", "getUserLogin"): lambda c, p, s: _ok(
        [{"currentOSUId": "1001", "currentOSUsername": "lenovo", "loggedInOSUId": "1001",
          "loggedInOSUsername": "lenovo", "username": "replay"}]),
    ("v1", "getUserLogin"): lambda c, p, s: _ok(["cortextest"]),  # seeds/001 workflow
    ("v2", "hasAccessRight"): lambda c, p, s: _ok(dict(ACCESS_GRANTED)),
    ("v2", "requestAccess"): lambda c, p, s: _ok(dict(ACCESS_GRANTED)),
    ("v2", "authorize"): lambda c, p, s: _ok({"cortexToken": REPLAY_TOKEN}),
    ("v1", "authorize"): lambda c, p, s: _ok({"_auth": REPLAY_TOKEN}),
    ("v2", "generateNewToken"): lambda c, p, s: _ok({"cortexToken": REPLAY_TOKEN}),
    ("v1", "generateNewToken"): lambda c, p, s: _ok({"_auth": REPLAY_TOKEN}),
    ("*", "queryHeadsets"): lambda c, p, s: _ok(c._headsets()),
    # Observed form, Emotiv/cortex-example#105 (cortex_api.md §3.3).
    ("v2", "controlDevice"): lambda c, p, s: _ok(
        {"command": p.get("command"),
         "message": f"Start connecting to headset {p.get('headset', '')}".strip()}),
    ("v1", "controlBluetoothHeadset"): lambda c, p, s: _ok(
        f"Connect headset {p.get('headset', '')} success"),
    ("*", "querySessions"): lambda c, p, s: _ok(
        [c._session_object(x) for x in c.sessions.values()]),
    ("*", "updateSession"): _update_default,
    ("*", "subscribe"): _subscribe_default,
    ("v2", "unsubscribe"): lambda c, p, s: _ok(
        {"success": [{"streamName": x} for x in p.get("streams") or []], "failure": []}),
    ("v1", "unsubscribe"): lambda c, p, s: _ok(  # seeds/001 unsubscribe example
        {"message": f"Unsubscribe stream {','.join(p.get('streams') or [])} with session "
                    f"{s.sid if s else ''} success"}),
    ("v2", "syncWithHeadsetClock"): _sync_default,
    ("*", "getDetectionInfo"): lambda c, p, s: _ok(
        copy.deepcopy(DETECTION_INFO.get(str(p.get("detection")), {}))),
    # Records and markers (1.x has no records: the bridge asks for none there).
    ("v2", "createRecord"): _record_default,
    ("v2", "stopRecord"): _stop_record_default,
    ("v2", "injectMarker"): _marker_default,
    ("v1", "injectMarker"): _marker_default_v1,
}


class ReplayThread(BackgroundServer[ReplayServer]):
    """``with ReplayThread(Transcript.load(name), tls_dir=tmp, suffix=uid) as replay:``"""

    def __init__(self, transcript: Transcript, **options: Any) -> None:
        super().__init__(lambda: ReplayServer(transcript, **options), "cortex-replay")

    @property
    def server(self) -> ReplayServer:
        assert self.simulator is not None
        return self.simulator

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_file(self) -> str | None:
        return self.server.ca_file

    def requests(self, method: str | None = None) -> list[Received]:
        """The requests received so far (all, or of one method)."""
        got = list(self.server.requests)
        return [r for r in got if method is None or r.method == method]

    def methods(self) -> list[str]:
        return [r.method for r in self.requests()]

    def inject(self, method: str, answer: JsonObject, times: int = 1) -> None:
        self.call(lambda server: server.inject(method, answer, times))

    def broadcast(self, message: JsonObject) -> None:
        self.call(lambda server: server.broadcast(message))

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll ``predicate`` (a test-thread condition on the server) until true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            threading.Event().wait(0.05)
        return predicate()


def fixtures() -> list[str]:
    """Every transcript file name."""
    return sorted(p.name for p in FIXTURES.glob("*.json"))
