"""The Emogg service as a state machine: requests in, responses and frames out, no sockets.

:class:`EmoggService` holds sessions, their virtual audiences, WebSocket connections
(as outboxes of JSON texts) and the rate limits. ``http`` answers one REST request,
``ws_receive`` one WebSocket message, ``tick`` runs the workers and emits every event
that has become due. The server (``server.py``) only moves bytes. Its data types are in
``model.py``, the REST routing table in ``routes.py`` and the analysis endpoints in
``analytics.py``; those import the service only for type checking (no import cycle).

What is documented and what is our choice is listed in ``docs/emogg-simulator.md``
([D] documented, [D?] contradictory in the docs, [U] our choice).
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from bridge.simulator.emogg import analytics
from bridge.simulator.emogg.audience import Audience
from bridge.simulator.emogg.config import EmoggSimulatorConfig
from bridge.simulator.emogg.model import (
    Clock,
    Emitted,
    HttpResponse,
    SimSession,
    Sub,
    WsConn,
    error_response,
    iso_z,
)
from bridge.simulator.emogg.routes import ROUTES

KNOWN_EMOTIONS: Final = (
    "exaltation", "focus", "shock", "seriousness", "fatigue", "disgust", "overwhelming",
)  # fmt: skip
FREQUENCIES: Final[Mapping[str, int]] = {
    "1s": 1, "3s": 3, "5s": 5, "10s": 10, "30s": 30, "1m": 60, "5m": 300, "10m": 600,
}  # fmt: skip
COUNTS, INTENSITIES, WORKER = (
    "session_emotions_counts", "session_emotions_intensities", "session_worker_state",
)  # fmt: skip
EVENT_TYPE: Final = {COUNTS: "sec", INTENSITIES: "sei", WORKER: "sws"}
STREAM_SCHEMES: Final = ("rtmp", "rtsp", "rtmps")
MAX_CATCH_UP_WINDOWS: Final = 10  # after a stall, older windows are dropped [U]

CLOSE_POLICY: Final = 1008  # protocol violations [U]
CLOSE_NORMAL: Final = 1000  # idle timeout [U]


class _Window:
    """At most ``limit`` events per ``window`` seconds (Emogg's counting limits)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class _Bucket:
    """The REST token bucket [D] with our capacity and refill rate [U]."""

    def __init__(self, capacity: int, refill: float, now: float) -> None:
        self.capacity, self.refill = capacity, refill
        self.level, self.at = float(capacity), now

    def take(self, now: float) -> bool:
        self.level = min(self.capacity, self.level + (now - self.at) * self.refill)
        self.at = now
        if self.level < 1.0:
            return False
        self.level -= 1.0
        return True

    def headers(self) -> list[tuple[str, str]]:
        reset = (self.capacity - self.level) / self.refill if self.refill > 0 else 0.0
        window = self.capacity / self.refill if self.refill > 0 else 0.0
        return [
            ("RateLimit-Limit", str(self.capacity)),
            ("RateLimit-Remaining", str(int(self.level))),
            ("RateLimit-Reset", str(int(reset + 0.999))),
            ("RateLimit-Policy", f"{self.capacity};w={int(window)}"),
        ]


class EmoggService:
    """Sessions, workers, audiences, WebSocket connections and limits."""

    def __init__(self, config: EmoggSimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.emotions = KNOWN_EMOTIONS + ((config.extra_emotion,) if config.extra_emotion else ())
        self.sessions: dict[str, SimSession] = {}
        self.conns: dict[int, WsConn] = {}
        self.emitted: list[Emitted] = []
        self.aborts: list[int | None] = []  # connections to drop without a close frame
        self.unavailable_creates = config.unavailable_creates
        self.token = config.token
        self._next_conn = 1
        self._buckets: dict[str, _Bucket] = {}
        self._conn_windows: dict[str, _Window] = {}
        self._user_messages = _Window(config.messages_per_window, config.limit_window_s)
        self._events = 0
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status): truth
        self.extras: dict[str, analytics.SessionExtras] = {}  # sources and custom events

    # ================================================================== REST

    def http(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, peer: str
    ) -> HttpResponse:
        """One REST request (``headers`` keys lower-case)."""
        now = self.clock.time()
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = _Bucket(
                self.config.rest_bucket, self.config.rest_refill_per_s, now
            )
        if not bucket.take(now):
            response = error_response(429, "Too many requests")
        else:
            response = self._route(method, target, headers, body)
        response.headers.extend(bucket.headers())
        self.requests.append((method, urlsplit(target).path, response.status))
        return response

    def _route(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error_response(401, "Missing token")
        if token.strip() != self.token:
            return error_response(401, "Invalid token")
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(parts.path.rstrip("/") or "/")
            if match and route_method == method:
                data: Any = None
                if body:
                    try:
                        data = json.loads(body)
                    except ValueError:
                        return error_response(400, "Invalid request body")
                return handler(self, match, query, data)
        return error_response(404, "Not found")

    def _session(self, sid: str) -> SimSession | None:
        return self.sessions.get(sid)

    def create_session(self, data: Any) -> HttpResponse:
        if not isinstance(data, dict):
            return error_response(400, "Invalid request body")
        name, uri = data.get("name"), data.get("streamUri")
        if not isinstance(name, str) or not name.strip():
            return error_response(400, "name is required")
        if len(name) > 256:
            return error_response(400, "name must be at most 256 characters")
        if not isinstance(uri, str) or not uri:
            return error_response(400, "streamUri is required")
        parts = urlsplit(uri)
        if parts.scheme.lower() not in STREAM_SCHEMES or not parts.hostname:
            return error_response(400, "streamUri must be an rtmp, rtsp or rtmps URI")
        if self.unavailable_creates > 0:
            self.unavailable_creates -= 1
            return error_response(503, "Server is overloaded")
        now = self.clock.time()
        sid = f"{self.rng.getrandbits(96):024x}"
        session = SimSession(
            sid, name, uri, now,
            Audience(self.emotions, self.config.faces, f"{self.config.seed}:{sid}", int(now)),
        )  # fmt: skip
        session.worker_timer = self.clock.monotonic() + self.config.worker_start_s
        # A14: a stream above 1080p stops the session with no data [D]; the simulator
        # reads the resolution from a "res" query parameter [U].
        res = parse_qs(parts.query).get("res", ["1080"])[0]
        if res.isdigit() and int(res) > 1080:
            session.worker_timer = None
            self._finish(session, "stopped", "worker")
        self.sessions[sid] = session
        return HttpResponse(201, session.to_json(now))

    def list_sessions(self, query: Mapping[str, list[str]]) -> HttpResponse:
        try:
            limit = int(query.get("limit", ["10"])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            return error_response(400, "limit and offset must be integers")
        if not 1 <= limit <= 100 or offset < 0:
            return error_response(400, "limit must be 1-100 and offset at least 0")
        state = query.get("state", [None])[0]
        kind = query.get("type", [None])[0]
        try:
            after, before = analytics.date_bounds(query)
        except ValueError:
            return error_response(400, "from and to must be ISO 8601 dates or Unix milliseconds")
        now = self.clock.time()
        found = [
            s for s in sorted(self.sessions.values(), key=lambda s: s.created, reverse=True)
            if (state is None or s.state == state) and kind in (None, "live_analysis")
            and (after is None or s.created >= after) and (before is None or s.created <= before)
        ]
        page = found[offset : offset + limit]
        return HttpResponse(200, {
            "hasMore": offset + limit < len(found),
            "data": [s.to_json(now) for s in page],
            "offset": offset,
            "limit": limit,
        })  # fmt: skip

    def stop_session(self, sid: str) -> HttpResponse:
        session = self._session(sid)
        if session is None:
            return error_response(404, "Session not found")
        if session.state != "active":
            return error_response(400, "Session is not active")
        self._finish(session, "stopped", "client")
        return HttpResponse(200, session.to_json(self.clock.time()))

    def delete_session(self, sid: str) -> HttpResponse:
        session = self._session(sid)
        if session is None:
            return error_response(404, "Session not found")
        if session.state in ("active", "processing"):
            return error_response(400, "Session is active or processing")
        del self.sessions[sid]
        return HttpResponse(204)

    def _finish(self, session: SimSession, worker_state: str, by: str) -> None:
        session.state = "finished"
        session.stopped_at = self.clock.time()
        session.stopped_by = by
        self.set_worker_state(session, worker_state)

    # ============================================================ WebSocket

    def ws_refusal(self, peer: str, path: str) -> int | None:
        """The HTTP status that refuses a handshake, or None to accept it."""
        if urlsplit(path).path.rstrip("/") != "/ws/v1":
            return 404
        window = self._conn_windows.get(peer)
        if window is None:
            window = self._conn_windows[peer] = _Window(
                self.config.connections_per_window, self.config.limit_window_s
            )
        return None if window.allow(self.clock.monotonic()) else 429

    def ws_open(self, peer: str) -> int:
        cid = self._next_conn
        self._next_conn += 1
        now = self.clock.monotonic()
        self.conns[cid] = WsConn(cid, peer, now, now)
        return cid

    def ws_closed(self, cid: int) -> None:
        self.conns.pop(cid, None)

    def ws_receive(self, cid: int, text: str) -> None:
        conn = self.conns.get(cid)
        if conn is None or conn.close is not None:
            return
        conn.last_message = self.clock.monotonic()
        try:
            msg = json.loads(text)
        except ValueError:
            conn.close = (CLOSE_POLICY, "Invalid JSON")
            return
        if not _is_request(msg):
            conn.close = (CLOSE_POLICY, "Invalid message")
            return
        path, rid, body = msg["path"], msg.get("id"), msg.get("body") or {}
        if not conn.authed and path != "auth:token":
            conn.close = (CLOSE_POLICY, "Authentication required")  # [D]: first message
            return
        if path == "auth:token":
            if body.get("token") != self.token:
                self._send(conn, _ws_error(self._id(rid), path, 401, "Invalid token"))
                conn.close = (CLOSE_POLICY, "Invalid token")  # [D]: closed after a 401
                return
            conn.authed = True
        if not self._user_messages.allow(self.clock.monotonic()):
            self._send(conn, _ws_error(self._id(rid), path, 429, "Too many messages"))
            return
        conn.messages += 1
        if path == "auth:token":
            self._send(conn, self._reply(rid, path, 200, None))
        elif path == "ping":
            self._send(conn, self._reply(rid, path, 200, {"ts": iso_z(self.clock.time())}))
        elif path == "channels:subscribe":
            self._subscribe(conn, rid, body)
        elif path == "channels:unsubscribe":
            sub_id = body.get("subscriptionId")
            if isinstance(sub_id, str) and conn.subs.pop(sub_id, None) is not None:
                self._send(conn, self._reply(rid, path, 200, {}))
            else:
                self._send(conn, _ws_error(self._id(rid), path, 404, "Subscription not found"))
        else:
            self._send(conn, _ws_error(self._id(rid), path, 404, "Path not found"))

    def _subscribe(self, conn: WsConn, rid: Any, body: Mapping[str, Any]) -> None:
        path = "channels:subscribe"
        channel, key = body.get("channel"), body.get("key")
        if not isinstance(channel, str) or not isinstance(key, str):
            self._send(conn, _ws_error(self._id(rid), path, 400, "Invalid body"))
            return
        if channel not in EVENT_TYPE:
            self._send(conn, _ws_error(self._id(rid), path, 404, "Channel not found"))
            return
        sid, _, freq = key.partition(":")
        period = FREQUENCIES.get(freq, -1) if channel != WORKER else (0 if not freq else -1)
        session = self.sessions.get(sid)
        if period < 0 or session is None:
            self._send(conn, _ws_error(self._id(rid), path, 404, "Key not found"))
            return
        total = sum(len(c.subs) for c in self.conns.values())
        if (len(conn.subs) >= self.config.subscriptions_per_connection
                or total >= self.config.subscriptions_per_user):
            self._send(conn, _ws_error(self._id(rid), path, 429, "Too many subscriptions"))
            return
        sub_id = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(14))
        sub = Sub(sub_id, channel, key, sid, period)
        if period:
            now = int(self.clock.time())
            sub.next_end = (now // period + 1) * period  # windows align to the clock [A11]
        conn.subs[sub_id] = sub
        self._send(conn, self._reply(rid, path, 200,
                                     {"subscriptionId": sub_id, "channel": channel, "key": key}))
        if channel == WORKER:  # the last known state right after subscribing [D]
            self._send(conn, self._event(sub_id, self.clock.time(), "sws",
                                         [session.worker_state]))

    # ================================================================= tick

    def tick(self) -> None:
        mono, now = self.clock.monotonic(), self.clock.time()
        for session in self.sessions.values():
            if session.worker_timer is not None and mono >= session.worker_timer:
                session.worker_timer = None
                if session.state == "active" and session.worker_state == "starting":
                    self.set_worker_state(session, "working")
            if session.state == "active":
                session.health_check = now
        for conn in list(self.conns.values()):
            if conn.close is None and mono - conn.last_message > self.config.idle_timeout_s:
                conn.close = (CLOSE_NORMAL, "Inactivity timeout")
                continue
            if conn.authed and conn.close is None:
                for sub in conn.subs.values():
                    if sub.period:
                        self._emit_due(conn, sub, now)

    def _emit_due(self, conn: WsConn, sub: Sub, now: float) -> None:
        period = sub.period
        if now - sub.next_end > MAX_CATCH_UP_WINDOWS * period:
            sub.next_end = (int(now) // period) * period
        while sub.next_end <= now:
            end = sub.next_end
            sub.next_end += period
            session = self.sessions.get(sub.session_id)
            if session is None or session.state != "active" or session.working_since is None:
                continue
            if session.worker_state != "working" or end <= session.working_since:
                continue
            payload = self._payload(session, sub.channel, end, period)
            if payload is None:
                continue
            self._send(conn, self._event(sub.id, float(end), EVENT_TYPE[sub.channel], [payload],
                                         truth=(session.id, sub.channel, period, end, payload)))

    def _payload(self, session: SimSession, channel: str, end: int, period: int) -> Any:
        audience = session.audience
        if channel == COUNTS:
            payload: Any = audience.counts(end, period)
        else:
            payload = audience.intensities(end, period, self.config.sei_zeros)
        if payload is None and not self.config.skip_empty_windows:
            payload = {}
        return payload

    def set_worker_state(self, session: SimSession, state: str) -> None:
        """Enter a worker state and tell every ``session_worker_state`` subscriber."""
        if session.worker_state == state:
            return
        session.worker_state = state
        if state == "working" and session.working_since is None:
            session.working_since = self.clock.time()
        now = self.clock.time()
        for conn in self.conns.values():
            for sub in conn.subs.values():
                if sub.channel == WORKER and sub.session_id == session.id:
                    self._send(conn, self._event(sub.id, now, "sws", [state]))

    # ============================================================== helpers

    def _id(self, rid: Any) -> Any:
        mode = self.config.id_echo
        if mode == "null" or (mode == "random" and self.rng.random() < 0.5):
            return None
        return rid

    def _reply(self, rid: Any, path: str, status: int, body: Any) -> dict[str, Any]:
        reply: dict[str, Any] = {"id": self._id(rid), "path": path, "status": status}
        if body is not None:
            reply["body"] = body
        return reply

    def _wire_ts(self, epoch: float) -> str | int:
        mode = self.config.ts_format
        self._events += 1
        if mode == "ms" or (mode == "mixed" and self._events % 2 == 0):
            return round(epoch * 1000)
        return iso_z(epoch)

    def _event(
        self, sub_id: str, epoch: float, kind: str, payloads: list[Any],
        truth: tuple[str, str, int, int, Any] | None = None,
    ) -> list[Any]:
        wire = self._wire_ts(epoch)
        if truth is not None:
            sid, channel, period, end, payload = truth
            self.emitted.append(Emitted(sid, channel, period, end, wire, payload))
        return [sub_id, wire, kind, payloads]

    def _send(self, conn: WsConn, msg: Any) -> None:
        conn.outbox.append(json.dumps(msg, separators=(",", ":")))

    def state(self) -> dict[str, Any]:
        now = self.clock.time()
        return {
            "sessions": {sid: s.to_json(now) | {"stoppedBy": s.stopped_by}
                         for sid, s in self.sessions.items()},
            "connections": {cid: {"peer": c.peer, "authed": c.authed,
                                  "subscriptions": [s.channel for s in c.subs.values()]}
                            for cid, c in self.conns.items()},
            "events": len(self.emitted),
        }


def _is_request(msg: Any) -> bool:
    """``{"id"?: number|null, "path": string, "body"?: object}`` [D]."""
    if not isinstance(msg, dict) or not isinstance(msg.get("path"), str):
        return False
    rid = msg.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int | float)):
        return False
    body = msg.get("body")
    return body is None or isinstance(body, dict)


def _ws_error(rid: Any, path: str, status: int, message: str) -> dict[str, Any]:
    """The documented WebSocket error frame: details in ``data`` [D]."""
    return {"error": True, "id": rid, "path": path, "status": status,
            "data": {"message": message}}
