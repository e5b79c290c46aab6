"""The Cortex service as a state machine: text in, text out, no sockets.

:class:`CortexService` keeps connections (as outboxes of JSON texts), the app's access
rights, tokens, headsets, sessions, subscriptions and records. ``receive`` handles one
request; ``tick`` runs timers and appends every data frame that has become due. The
server (``server.py``) only moves texts between outboxes and WebSockets, so everything
here can be driven by a fake clock in a unit test.

The service's data types live in ``model.py``. Method handlers live in ``methods.py``
(and the modules it merges) and ``v1_methods.py``; the service receives them as a
:class:`~bridge.simulator.spec.CortexApi` (see ``dialects.py``) and never imports them,
so the handlers can import the service's types without a cycle. Faults: ``faults.py``.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import random
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from bridge.simulator import jsonrpc
from bridge.simulator.config import SimulatorConfig
from bridge.simulator.device import STATUS_CONNECTED, VirtualHeadset
from bridge.simulator.headsets import MET_LAYOUTS, MET_RATE_HIGH, MET_RATE_LOW, parse_headset_spec
from bridge.simulator.jsonrpc import Code, RpcError
from bridge.simulator.model import (
    Call,
    Clock,
    Connection,
    LoadedProfile,
    Record,
    ServerAction,
    Session,
    Subscription,
    SystemClock,
    Timer,
    iso,
)
from bridge.simulator.quirks import apply_quirks, parse_quirk
from bridge.simulator.signals import parse_signal
from bridge.simulator.spec import CortexApi, registered_api
from bridge.simulator.store import UserStore
from bridge.simulator.tokens import TokenAuthority, TokenClaims, TokenError

log = logging.getLogger("bridge.simulator")

FLOOD_BATCH = 512  # flood frames produced per tick and subscription
FLOOD_HIGH_WATER = 2048  # ...only while the connection's outbox holds fewer than this
OUTBOX_LIMIT = 500_000  # a client this far behind is dropped (it would exhaust memory)


BAD_FRAME_TIMES: dict[str, str] = {
    "time_inf": "Infinity", "time_nan": "NaN", "time_huge": "1e300", "time_zero": "0",
}
BAD_FRAME_KINDS = (*BAD_FRAME_TIMES, "value_inf", "value_huge", "repeat")


def bad_frame(kind: str, head: str, row: list[Any], mid: str, t: float) -> list[str]:
    """The wire text for one frame spoiled as ``kind`` (see the ``bad_frames`` fault):
    its time replaced, its first sensor value replaced, or the frame sent twice."""
    if kind in BAD_FRAME_TIMES:
        return [f"{head}{jsonrpc.encode(row)}{mid}{BAD_FRAME_TIMES[kind]}}}"]
    if kind in ("value_inf", "value_huge"):
        spoiled = list(row)
        spoiled[2] = math.inf if kind == "value_inf" else 1e300
        return [f"{head}{jsonrpc.encode(spoiled)}{mid}{t!r}}}"]
    text = f"{head}{jsonrpc.encode(row)}{mid}{t!r}}}"
    return [text, text]


class CortexService:
    """All of Cortex's state and behaviour, driven by ``receive`` and ``tick``."""

    # The request parameter holding the token (Cortex 1.x calls it ``_auth``, see v1.py).
    token_param = "cortexToken"
    # Whose registered API a service built without one gets (see spec.py).
    dialect = "v2"

    def __init__(
        self, config: SimulatorConfig, clock: Clock | None = None, api: CortexApi | None = None
    ) -> None:
        """``api`` is what the service answers with (``dialects.make_service`` passes it);
        without one, the API its handler module registered for :attr:`dialect`."""
        config = dataclasses.replace(apply_quirks(config))  # ours: faults change it
        if config.met_layout not in MET_LAYOUTS:
            raise ValueError(f"met layout must be one of {', '.join(MET_LAYOUTS)}")
        self.cfg = config
        self.clock: Clock = clock or SystemClock()
        self.seed = config.seed if config.seed is not None else secrets.randbits(62)
        self.rand = random.Random(self.seed)
        self.delay_s = config.delay_ms / 1000.0
        self.clock_offset = config.clock_offset_s
        self.stalled_until = 0.0
        self.refusing_until = 0.0  # refuse_connections fault: new handshakes get 503
        self.response_delays = {m: ms / 1000.0 for m, ms in config.response_delays_ms.items()}
        self.control_enabled = config.control
        self.conns: dict[int, Connection] = {}
        self.sessions: dict[str, Session] = {}
        self.records: dict[str, Record] = {}
        self.access: dict[str, str] = {}  # clientId -> granted/pending/rejected
        self.debits: dict[str, int] = {}
        self.actions: list[ServerAction] = []
        self.malformed_sent = 0
        self.power_timers: dict[str, Timer] = {}  # headset id -> pending warning 103
        self.licence_id = self.new_uuid()
        self.user_id = self.new_uuid()
        self.tokens = TokenAuthority(self.rand.randbytes(32), self.user_id, config.username)
        self.started_epoch = self.clock.time()
        self.met_cols = MET_LAYOUTS[config.met_layout]
        self.quirks = frozenset(parse_quirk(q) for q in config.quirks)
        self.eula_accepted = config.eula_accepted
        self.strict_params = True  # undocumented parameters answer -32602
        self.unknown_methods: dict[str, int] = {}  # truth: what clients asked for in vain
        self.lose_answers: dict[str, int] = {}  # method -> answers still to lose (fault)
        self.answers_lost: dict[str, int] = {}  # truth: answers lost so far, per method
        self.store = UserStore(config.state_dir, config.username)
        self.loaded: dict[str, LoadedProfile] = {}  # headset id -> its loaded profile
        self.trainings_started = 0
        self._timers: list[Timer] = []
        self._timer_seq = itertools.count()
        self._conn_ids = itertools.count(1)
        self._last_trim = 0.0
        signal = parse_signal(config.signal)
        self.headsets: list[VirtualHeadset] = []
        for i, text in enumerate(config.headsets):
            spec = parse_headset_spec(text)
            hid = spec.id or f"{spec.model.id_prefix}-{self.rand.getrandbits(32):08X}"
            if any(h.id == hid for h in self.headsets):
                raise ValueError(f"duplicate headset id {hid}")
            self.headsets.append(VirtualHeadset(i, spec, hid, self.seed, signal))
        for h in self.headsets:
            if h.initial_status == STATUS_CONNECTED:
                # Both anchors read together: they must describe the same instant.
                h.connect(self.clock.monotonic(), self.clock.time(), self.clock_offset)
        self.api = api if api is not None else registered_api(self.dialect)
        self.methods = self.api.methods
        self.api.started(self)

    # ---- helpers used by handlers and faults ---------------------------------------

    def quirk(self, name: str) -> bool:
        return name in self.quirks

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rand.getrandbits(128), version=4))

    def epoch_now(self) -> float:
        """The service's wall clock (with the clock-offset fault applied)."""
        return self.clock.time() + self.clock_offset

    def at(self, due: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(due, next(self._timer_seq), fn)
        heapq.heappush(self._timers, timer)
        return timer

    def send(self, conn_id: int, text: str) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None and conn.open:
            conn.outbox.append(text)
            if len(conn.outbox) > OUTBOX_LIMIT:
                log.warning(
                    "connection %d is %d messages behind; dropping it", conn_id, len(conn.outbox)
                )
                conn.outbox.clear()
                self.actions.append(ServerAction("drop", "abort", None, conn_id))

    def warn(self, conn_id: int, code: int, message: Any) -> None:
        self.send(conn_id, jsonrpc.warning(code, message))

    def broadcast_warning(self, code: int, message: Any) -> None:
        for cid in list(self.conns):
            self.warn(cid, code, message)

    def find_headset(self, hid: str) -> VirtualHeadset | None:
        return next((h for h in self.headsets if h.id == hid), None)

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.live]

    def session_for(self, call: Call, sid: str) -> Session:
        """A live session of the caller's application, or -32007."""
        session = self.sessions.get(sid)
        if (
            session is None
            or not session.live
            or call.claims is None
            or session.app_id != call.claims.app_id
        ):
            raise RpcError(Code.SESSION_NOT_FOUND, f"Cannot find the session {sid}.")
        return session

    def close_session(self, session: Session, reason: str) -> None:
        """Close a session. ``reason``: "client" (updateSession close: warning 0),
        "headset" (headset lost or disconnected: warnings 0 and 1) or "connection"
        (the app's WebSocket closed: nobody left to warn)."""
        if not session.live:
            return
        if reason in ("client", "headset"):
            self.warn(
                session.conn,
                0,
                {
                    "behavior": f"Cortex has stopped all the subscriptions of session {session.id}.",
                    "sessionId": session.id,
                },
            )
        if reason == "headset":
            self.warn(
                session.conn,
                1,
                {
                    "behavior": f"Cortex has closed the session {session.id}.",
                    "sessionId": session.id,
                },
            )
        for timer in session.training_timers.values():
            timer.cancel()
        session.training_timers.clear()
        self._abandon_markers(session)
        session.subs.clear()
        if session.record is not None:
            self.finish_record(session)
        session.status = "closed"
        session.closed_by = reason
        session.stopped = iso(self.epoch_now())

    def finish_record(self, session: Session) -> Record:
        """Stop the session's record, keep its samples and start post-processing
        (warnings 18 then 30, see records.py)."""
        record = session.record
        assert record is not None
        record.obj["endDatetime"] = iso(self.epoch_now(), "microseconds")
        record.end_mono = self.clock.monotonic()
        session.record = None
        self.api.record_finished(self, session, record)
        return record

    def close_headset_sessions(self, headset: VirtualHeadset) -> None:
        for session in self.live_sessions():
            if session.headset is headset:
                self.close_session(session, "headset")
        self.auto_unload(lambda hid, lp: hid == headset.id)

    def auto_unload(self, which: Callable[[str, LoadedProfile], bool]) -> None:
        """Cortex unloads a profile when its headset disconnects or the app that loaded
        it disconnects: warning 15 (D:warning-objects)."""
        for hid, lp in list(self.loaded.items()):
            if which(hid, lp):
                del self.loaded[hid]
                h = self.find_headset(hid)
                if h is not None:
                    h.detection = None
                self.warn(
                    lp.conn,
                    15,
                    {
                        "behavior": "Cortex has unloaded the profile",
                        "headset": hid,
                        "profile": lp.name,
                    },
                )

    def met_rate(self, session: Session) -> float:
        pm = "pm" in self.cfg.licence_scopes and self.cfg.licence
        return MET_RATE_HIGH if pm and session.status == "activated" else MET_RATE_LOW

    def _abandon_markers(self, session: Session) -> None:
        sub = session.subs.get("eeg")
        if sub is not None:
            sub.markers.clear()

    # ---- connections ---------------------------------------------------------------

    def open_connection(self, peer: str = "") -> int:
        cid = next(self._conn_ids)
        self.conns[cid] = Connection(cid, peer)
        return cid

    def close_connection(self, conn_id: int) -> None:
        """ "All the sessions of an application are automatically closed when the
        application is disconnected from the Cortex service" (D:session)."""
        conn = self.conns.pop(conn_id, None)
        if conn is None:
            return
        conn.open = False
        for session in self.live_sessions():
            if session.conn == conn_id:
                self.close_session(session, "connection")
        self.auto_unload(lambda hid, lp: lp.conn == conn_id)

    def outbox(self, conn_id: int) -> deque[str]:
        return self.conns[conn_id].outbox

    def stalled(self, mono: float | None = None) -> bool:
        return (self.clock.monotonic() if mono is None else mono) < self.stalled_until

    def refusing(self) -> bool:
        """Whether new WebSocket handshakes are refused (the refuse_connections fault)."""
        return self.clock.monotonic() < self.refusing_until

    # ---- requests ------------------------------------------------------------------

    def receive(self, conn_id: int, text: str) -> None:
        """Handle one incoming message and queue the answer (now or after the
        configured per-method delay)."""
        conn = self.conns.get(conn_id)
        if conn is None:
            return
        mono = self.clock.monotonic()
        try:
            request = jsonrpc.parse_request(text)
        except RpcError as err:
            self.send(conn_id, jsonrpc.error_response(err.request_id, self.localize(err)))
            return
        method = request.method
        spec = self.methods.get(method)
        if spec is None or (spec.control and not self.control_enabled):
            # Cortex answers -32601 (D:error-codes); we also say so, once per method,
            # because a client calling an unknown method is usually a client bug.
            self.unknown_methods[method] = self.unknown_methods.get(method, 0) + 1
            if self.unknown_methods[method] == 1:
                log.warning("conn %d called unknown method %r (answered -32601)", conn_id, method)
            missing = RpcError(Code.METHOD_NOT_FOUND, f"The method {method} does not exist.")
            answer = jsonrpc.error_response(request.id, self.localize(missing))
        else:
            log.debug("conn %d: %s", conn_id, method)
            try:
                jsonrpc.check_params(
                    spec.params, request.params, self.strict_params and not spec.control
                )
                claims = self._claims(request.params[self.token_param]) if spec.token else None
                result = spec.handler(self, Call(conn, request.params, claims, mono))
                answer = jsonrpc.response(request.id, result)
            except RpcError as err:
                log.debug("conn %d: %s -> error %d", conn_id, method, err.code)
                answer = jsonrpc.error_response(request.id, self.localize(err))
        if not request.has_id:
            return  # a JSON-RPC notification: executed, not answered [U]
        if self.lose_answers.get(method, 0) > 0:
            # The ``lose_answers`` fault: the request took effect, its answer never comes
            # (a half-open connection, a lost TCP segment the client gave up on).
            self.lose_answers[method] -= 1
            self.answers_lost[method] = self.answers_lost.get(method, 0) + 1
            return
        delay = self.response_delays.get(method, 0.0)
        if delay > 0:
            self.at(mono + delay, lambda: self.send(conn_id, answer))
        else:
            self.send(conn_id, answer)

    def localize(self, err: RpcError) -> RpcError:
        """The error as this dialect words it (v2: as raised)."""
        return err

    def _claims(self, token: Any) -> TokenClaims:
        try:
            return self.tokens.verify(str(token), self.epoch_now())
        except TokenError as err:
            if err.expired:
                raise RpcError(Code.TOKEN_EXPIRED) from None
            raise RpcError(Code.TOKEN_INVALID) from None

    # ---- time ----------------------------------------------------------------------

    @property
    def flooding(self) -> bool:
        return any(
            sub.flood_end > sub.cursor for s in self.live_sessions() for sub in s.subs.values()
        )

    def next_wake(self, mono: float) -> float:
        """When ``tick`` next has something to do (at most one tick period away)."""
        nxt = mono + self.cfg.tick_s
        if self._timers:
            nxt = min(nxt, self._timers[0].due)
        if self.stalled_until > mono:
            nxt = max(nxt, self.stalled_until)
        return nxt

    def tick(self) -> None:
        """Run due timers and queue every data frame whose send time has come."""
        mono = self.clock.monotonic()
        if mono < self.stalled_until:
            return
        while self._timers and self._timers[0].due <= mono:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.fn()
        for h in self.headsets:
            h.begin_tick()
        for h in self.headsets:
            if h.status == STATUS_CONNECTED and h.prefetch_eeg(mono, self.delay_s):
                break  # at most one new second of EEG per tick
        for session in self.live_sessions():
            h = session.headset
            if h.status != STATUS_CONNECTED:
                continue
            for sub in session.subs.values():
                if sub.rate > 0:
                    self._pump(session, sub, mono)
        if mono - self._last_trim > 1.0:
            self._last_trim = mono
            for h in self.headsets:
                if h.status == STATUS_CONNECTED:
                    h.forget_faults_before(mono, self.delay_s)

    def _pump(self, session: Session, sub: Subscription, mono: float) -> None:
        h = session.headset
        end = h.last_due(sub.rate, mono, self.delay_s) + 1
        if sub.flood_end > sub.cursor:
            conn = self.conns.get(session.conn)
            if conn is not None and len(conn.outbox) < FLOOD_HIGH_WATER:
                end = max(end, min(sub.flood_end, sub.cursor + FLOOD_BATCH))
        if end <= sub.cursor:
            return
        if h.muted_until > mono:  # fault "mute": what falls due now is never sent
            sub.cursor = end
            return
        stream = sub.stream
        rows = h.rows(stream, sub.cursor, end, sub.rate, self.met_cols)
        head = f'{{"{stream}":'
        mid = f',"sid":"{session.id}","time":'
        anchor, rate = h.epoch_anchor, sub.rate
        encode = jsonrpc.encode
        pending = sub.markers
        conn = self.conns.get(session.conn)
        if conn is None or not conn.open:
            sub.cursor = end
            return
        out = conn.outbox
        corrupt = sub.corrupt
        for k, row in rows:
            t = round(anchor + k / rate, 4)
            if pending and pending[0].k <= k:
                row = list(row)
                row[-1] = []
                while pending and pending[0].k <= k:
                    marker = pending.pop(0)
                    marker.entry["sentIndex"] = k
                    marker.entry["sentTime"] = t
                    row[-1].append(marker.wire)
            if corrupt:
                out.extend(bad_frame(corrupt.pop(0), head, row, mid, t))
                continue
            out.append(f"{head}{encode(row)}{mid}{t!r}}}")
        h.frames_sent[stream] = h.frames_sent.get(stream, 0) + len(rows)
        sub.cursor = end

    def subscription_start(self, h: VirtualHeadset, rate: float) -> int:
        """First sample not yet due: a new subscriber gets data from now on."""
        return max(0, h.last_due(rate, self.clock.monotonic(), self.delay_s) + 1)

    def emit_sys(self, session: Session, detection: str, event: str) -> None:
        """A training event on the session's ``sys`` stream, if subscribed."""
        if not session.live or "sys" not in session.subs:
            return
        h = session.headset
        t = round(h.clock_at(self.clock.monotonic()), 4)
        h.frames_sent["sys"] = h.frames_sent.get("sys", 0) + 1
        self.send(
            session.conn, jsonrpc.encode({"sys": [detection, event], "sid": session.id, "time": t})
        )

    # ---- truth ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the simulator's truth (not part of the Cortex API)."""
        mono = self.clock.monotonic()
        return {
            "seed": self.seed,
            "now": {"epoch": self.epoch_now(), "monotonic": mono},
            "delayMs": self.delay_s * 1000.0,
            "clockOffset": self.clock_offset,
            "stalledFor": max(0.0, self.stalled_until - mono),
            "connections": len(self.conns),
            "tokensIssued": self.tokens.issued_count,
            "malformedSent": self.malformed_sent,
            "access": dict(self.access),
            "headsets": [h.state() for h in self.headsets],
            "sessions": [
                {
                    **s.to_json(),
                    "connection": s.conn,
                    "closedBy": s.closed_by,
                    "metRate": s.subs["met"].rate if "met" in s.subs else None,
                }
                for s in self.sessions.values()
            ],
            "records": [
                {**r.obj, "sessionId": r.session_id, "markers": list(r.markers.values())}
                for r in self.records.values()
            ],
            "quirks": sorted(self.quirks),
            "unknownMethods": dict(self.unknown_methods),
            "answersLost": dict(self.answers_lost),
            "loadedProfiles": {
                hid: {"name": lp.name, "appId": lp.app_id, "guest": lp.guest}
                for hid, lp in self.loaded.items()
            },
            "store": self.store.snapshot(),
        }
