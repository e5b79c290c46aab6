"""The Emogg source: audience emotion from a live video stream, into LSL and OSC.

Lifecycle (``run``):

1. **Session.** ``POST /v1/sessions {name, streamUri}`` (or follow ``emogg.session_id``).
   503 (no free worker, "server overloaded" [D]), 429 and network errors are retried
   with backoff (429 waits ``RateLimit-Reset``); 401 is fatal (exit 3); 400 and other
   refusals are fatal with the server's message.
2. **Follow.** Open ``wss://…/ws/v1``, send ``auth:token`` first [D], subscribe to the
   configured channels, ``ping`` every ``emogg.ping_interval`` s (< the 65 s idle limit
   [D]). Subscriptions belong to a connection [D], so every reconnect authenticates and
   subscribes again. Reconnects back off and stay under 90 new connections a minute;
   every message goes through an 80-per-minute budget [D].
3. **Publish.** Each event feeds :class:`~bridge.pipeline.StreamPipeline` s built from
   :mod:`bridge.sources.emogg.catalog` (LSL outlets from the shared registry, then the
   OSC sinks), stamped with the event time mapped by :mod:`bridge.clock`.
4. **Shutdown.** ``POST /v1/sessions/:id/stop`` when we created the session; a 400
   ("not active") means it already ended.

The token and the stream URI never appear in a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect

from bridge.backoff import Backoff
from bridge.clock import EpochOffsetTracker, epoch_from_emogg
from bridge.config import EmoggSettings, resolve_emogg_token
from bridge.config.uris import shown_url
from bridge.errors import AuthError, BridgeError, Transient
from bridge.outputs.lsl import OutletClosedError, OutletNaming, OutletRegistry
from bridge.pipeline import HeadsetClock, StreamPipeline
from bridge.sources import SinkFactory
from bridge.sources.emogg.catalog import build_emogg_plans, emogg_source_info, unknown_emotions
from bridge.sources.emogg.protocol import (
    CHANNEL_WORKER_STATE,
    CONNECTIONS_PER_WINDOW,
    EVENT_TYPES,
    LIMIT_WINDOW_S,
    MESSAGES_PER_WINDOW,
    PATH_AUTH,
    PATH_PING,
    PATH_SUBSCRIBE,
    ErrorReply,
    Event,
    MessageError,
    ReplyQueue,
    Response,
    SlidingWindow,
    channel_key,
    encode_request,
    parse_message,
)
from bridge.sources.emogg.rest import EmoggHttpError, EmoggRest
from bridge.status import StatusBoard
from bridge.supervise import Retry, Supervisor, cancel_and_wait, describe

__all__ = ["EmoggAuthError", "EmoggSessionError", "EmoggSource"]

log = logging.getLogger("bridge.emogg")
# The WebSocket library logs frames at DEBUG, and the first frame carries the token:
# the connection gets its own logger, which drops DEBUG records.
_ws_log = logging.getLogger("bridge.emogg.ws")
_ws_log.addFilter(lambda record: record.levelno > logging.DEBUG)

RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
# What each REST status means for us, for the log line (Emogg's message follows).
STATUS_MEANING: Final[Mapping[int, str]] = {
    400: "bad request",
    401: "token refused",
    404: "not found",
    429: "rate limited",
    503: "no free worker (server overloaded)",
}
CLOCK_REFRESH_S: Final = 5.0
STOP_SECONDS: Final = 1.0  # stopping the Emogg session on shutdown: at most this long
STABLE_CONNECTION_S: Final = 30.0  # a connection that lived this long resets the backoff
TOKEN_REFUSED: Final = (
    "Emogg refused the API token ({status} {message}); check emogg.token, "
    "emogg.token_file or the emogg_token credential"
)


class EmoggAuthError(AuthError):
    """Emogg refused the token (REST or WebSocket 401): fatal until the config changes."""


class EmoggSessionError(BridgeError):
    """Emogg refused to create or find the session for a reason retrying cannot fix."""


class _Retry(Transient):
    """This connection is unusable; reconnect after a backoff delay."""


class EmoggBusy(Transient):
    """Emogg answered with a status that may pass (busy, no free worker)."""


def _session_failure(exc: EmoggHttpError, following: bool) -> BridgeError:
    """What an HTTP refusal of the session calls for: a refused token and a refusal no
    retry can change end the bridge; the rest is retried, no sooner than Emogg asks."""
    if exc.status == 401:
        return EmoggAuthError(TOKEN_REFUSED.format(status=401, message=exc.message))
    if exc.status not in RETRY_STATUSES:
        return EmoggSessionError(_refusal(exc, following))
    busy = EmoggBusy(f"{exc.method} {exc.path.split('/')[1]}: {exc.status} "
                     f"{STATUS_MEANING.get(exc.status, 'server error')} ({exc.message})")
    busy.retry_after = exc.retry_after or 0.0
    return busy


class EmoggSource:
    """Follows one Emogg session and publishes it; see the module docstring."""

    name = "emogg"

    def __init__(
        self,
        settings: EmoggSettings,
        registry: OutletRegistry,
        board: StatusBoard,
        osc: SinkFactory | None = None,
        *,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.board = board
        self.osc = osc
        self._token = token if token is not None else resolve_emogg_token(settings, environ)
        self.headset = emogg_source_info(settings.source_id)
        self.naming = OutletNaming(settings.name_template)
        self._tracker = EpochOffsetTracker()
        self._tracker_at = time.monotonic()
        self.clock = HeadsetClock(self._tracker.mapping)
        self.routes: dict[str, list[StreamPipeline]] = {}
        self.session_id: str | None = None
        self.created_session = False
        self.subscribed = asyncio.Event()
        self.connections = 0
        self._replies: ReplyQueue[asyncio.Future[Response | ErrorReply]] = ReplyQueue()
        self._budget = SlidingWindow(MESSAGES_PER_WINDOW, LIMIT_WINDOW_S)
        self._connection_window = SlidingWindow(CONNECTIONS_PER_WINDOW, LIMIT_WINDOW_S)
        self._next_id = 0
        self._channels_by_type = {kind: channel for channel, kind in EVENT_TYPES.items()}
        self._seen_unknown: set[str] = set()
        self._last_state: Any = None
        self._malformed_reported = False

    def __repr__(self) -> str:
        return f"<EmoggSource {self.settings.source_id} session={self.session_id}>"

    # ------------------------------------------------------------------ run

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        status = self.board.headset(s.source_id)
        status.clock_source = self.clock.mapping.source.value
        self._build_pipelines()
        rest = EmoggRest(s.api_url, self._token, s.request_timeout)
        status.state = "creating session"
        session_id = await self._open_session(rest, stop)
        if session_id is None:
            status.state = "stopped"
            return
        self.session_id = session_id
        try:
            await self._follow(session_id, stop)
        finally:
            self.subscribed.clear()
            for stats in self._all_stats():
                stats.state = "stopped"
            status.state = "stopped"
            if self.created_session:
                await self._stop_session(rest, session_id)

    def _build_pipelines(self) -> None:
        """Outlets exist from the start (LabRecorder can select them before data)."""
        if self.routes:
            return
        s = self.settings
        for channel, plans in build_emogg_plans(s.channels, s.emotions, s.frequency).items():
            for plan in plans:
                outlet = self.registry.get_or_create(plan, self.headset, self.naming)
                stats = self.board.stream(self.headset.id, plan.stream)
                stats.state = "waiting"
                sinks = self.osc.sinks_for(plan, self.headset) if self.osc is not None else ()
                self.routes.setdefault(channel, []).append(
                    StreamPipeline(plan, outlet, self.clock, stats, sinks=sinks)
                )

    def _all_stats(self) -> list[Any]:
        return [p.stats for pipelines in self.routes.values() for p in pipelines]

    # ------------------------------------------------------------- session

    async def _open_session(self, rest: EmoggRest, stop: asyncio.Event) -> str | None:
        """Create (or find) the session, retrying what Emogg says may pass (busy, no
        worker); a refused token or session ends the bridge."""
        s = self.settings
        found: list[str] = []

        async def attempt() -> None:
            try:
                if s.session_id:
                    session = await rest.get_session(s.session_id)
                    log.info("following Emogg session %s (%s, worker %s)", session["_id"],
                             session.get("state", "?"), _worker_state(session))
                else:
                    session = await rest.create_session(
                        s.session_name, s.stream_uri.get_secret_value()
                    )
                    self.created_session = True
                    log.info("Emogg session %s created (%s, worker %s)", session["_id"],
                             session.get("state", "?"), _worker_state(session))
            except EmoggHttpError as exc:
                raise _session_failure(exc, following=bool(s.session_id)) from None
            found.append(str(session["_id"]))

        supervisor = Supervisor(
            Backoff(initial=1.0, cap=s.reconnect_max_delay), stop, stable_after=float("inf"),
            on_retry=lambda outcome, delay: log.warning(
                "Emogg API at %s: %s; retrying in %.1f s", shown_url(s.api_url), outcome.reason,
                delay),
        )
        await supervisor.run(attempt, until_done=True)
        return found[0] if found else None

    async def _stop_session(self, rest: EmoggRest, session_id: str) -> None:
        try:
            async with asyncio.timeout(min(self.settings.request_timeout, STOP_SECONDS)):
                session = await rest.stop_session(session_id)
            log.info("Emogg session %s stopped (%s)", session_id, session.get("state", "?"))
        except EmoggHttpError as exc:
            if exc.status == 400:
                log.info("Emogg session %s was no longer active (%s)", session_id, exc.message)
            else:
                log.warning("could not stop Emogg session %s: %d %s; stop it in Emogg",
                            session_id, exc.status, exc.message)
        except (OSError, TimeoutError) as exc:
            log.warning("could not stop Emogg session %s (%s); stop it in Emogg",
                        session_id, describe(exc))

    # -------------------------------------------------------------- follow

    async def _follow(self, session_id: str, stop: asyncio.Event) -> None:
        """Keep a WebSocket subscribed to the session until ``stop``, reconnecting through
        :class:`~bridge.supervise.Supervisor` within Emogg's connection limit."""
        s = self.settings
        status = self.board.headset(s.source_id)

        def within_limit() -> float:
            wait = self._connection_window.delay(time.monotonic())
            if wait > 0:
                log.warning("Emogg connection limit (%d a minute) reached; waiting %.1f s",
                            CONNECTIONS_PER_WINDOW, wait)
            else:
                self._connection_window.record(time.monotonic())
                status.state = "connecting"
            return wait

        def reconnecting(outcome: Retry, delay: float) -> None:
            status.state = "reconnecting"
            for stats in self._all_stats():
                stats.state = "reconnecting"
            log.warning("Emogg WebSocket %s: %s; reconnecting in %.1f s",
                        shown_url(s.ws_url), outcome.reason, delay)

        supervisor = Supervisor(
            Backoff(initial=0.5, cap=s.reconnect_max_delay), stop,
            stable_after=STABLE_CONNECTION_S, on_retry=reconnecting,
        )
        await supervisor.run(lambda: self._connection(session_id, stop), before=within_limit)

    async def _connection(self, session_id: str, stop: asyncio.Event) -> None:
        s = self.settings
        async with connect(
            s.ws_url, open_timeout=s.request_timeout, close_timeout=0.5, max_size=2**20,
            compression=None, logger=_ws_log,
        ) as ws:
            self.connections += 1
            reader = asyncio.create_task(self._read(ws), name="emogg-reader")
            stopped = asyncio.create_task(stop.wait())
            try:
                await self._authenticate(ws)
                await self._subscribe(ws, session_id)
                while not stop.is_set():
                    await asyncio.wait({reader, stopped}, timeout=s.ping_interval,
                                       return_when=asyncio.FIRST_COMPLETED)
                    if stop.is_set():
                        break
                    if reader.done():
                        reader.result()
                        raise _Retry(f"the server closed the connection ({_close_text(ws)})")
                    reply = await self._call(ws, PATH_PING)
                    if isinstance(reply, ErrorReply):
                        log.warning("Emogg ping refused: %d %s", reply.status, reply.message)
            finally:
                self.subscribed.clear()
                await cancel_and_wait(stopped, reader)

    async def _authenticate(self, ws: ClientConnection) -> None:
        reply = await self._call(ws, PATH_AUTH, {"token": self._token})
        if isinstance(reply, ErrorReply):
            if reply.status == 401:
                raise EmoggAuthError(
                    TOKEN_REFUSED.format(status=reply.status, message=reply.message)
                )
            raise _Retry(f"auth:token refused: {reply.status} {reply.message}")

    async def _subscribe(self, ws: ClientConnection, session_id: str) -> None:
        s = self.settings
        subscribed = []
        for channel in s.channels:
            key = channel_key(channel, session_id, s.frequency)
            reply = await self._call(ws, PATH_SUBSCRIBE, {"channel": channel, "key": key})
            if isinstance(reply, ErrorReply):
                log.warning("Emogg refused channel %s for session %s: %d %s", channel,
                            session_id, reply.status, reply.message)
                continue
            subscribed.append(channel)
        if not subscribed:
            raise _Retry("no channel could be subscribed")
        self.board.headset(s.source_id).state = "streaming"
        for channel in subscribed:
            for pipeline in self.routes.get(channel, ()):
                pipeline.stats.state = "streaming"
        log.info("Emogg session %s: following %s every %s", session_id,
                 ", ".join(subscribed), s.frequency)
        self.subscribed.set()

    async def _call(
        self, ws: ClientConnection, path: str, body: Mapping[str, Any] | None = None
    ) -> Response | ErrorReply:
        """Send a request within the message budget and wait for its reply (by path)."""
        wait = self._budget.delay(time.monotonic())
        if wait > 0:
            log.warning("Emogg message limit (%d a minute) reached; waiting %.1f s",
                        MESSAGES_PER_WINDOW, wait)
            await asyncio.sleep(wait)
        self._budget.record(time.monotonic())
        self._next_id += 1
        future: asyncio.Future[Response | ErrorReply] = asyncio.get_running_loop().create_future()
        self._replies.add(path, future)
        await ws.send(encode_request(path, body, self._next_id))
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                return await future
        except TimeoutError:
            raise _Retry(f"no reply to {path} within {self.settings.request_timeout:g} s") from None

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                try:
                    msg = parse_message(text)
                except MessageError as exc:
                    self._malformed(str(exc))
                    continue
                if isinstance(msg, Event):
                    self._on_event(msg)
                    continue
                future = self._replies.pop(msg.path)
                if future is not None and not future.done():
                    future.set_result(msg)
                elif isinstance(msg, ErrorReply):
                    log.warning("Emogg error on %s: %d %s", msg.path, msg.status, msg.message)
        finally:
            for future in self._replies.drain():
                if not future.done():
                    future.set_exception(_Retry("the connection closed"))
                    future.exception()  # retrieved: nobody may be waiting any more

    # --------------------------------------------------------------- events

    def _on_event(self, event: Event) -> None:
        channel = self._channels_by_type.get(event.type)
        pipelines = self.routes.get(channel, ()) if channel else ()
        if not pipelines:
            return
        try:
            epoch = epoch_from_emogg(event.timestamp)
        except ValueError as exc:
            self._malformed(str(exc))
            return
        self._refresh_clock()
        for payload in event.payloads:
            if channel == CHANNEL_WORKER_STATE:
                # The last known state is re-sent after every (re)subscribe [D]: a
                # marker says "the worker entered this state", so repeats are dropped.
                if payload == self._last_state:
                    continue
                self._last_state = payload
            else:
                self._note_unknown(payload)
            try:
                for pipeline in pipelines:
                    pipeline.handle(payload, epoch)
            except OutletClosedError:
                return  # shutting down: the daemon closed the outlets first

    def _refresh_clock(self) -> None:
        now = time.monotonic()
        if now - self._tracker_at < CLOCK_REFRESH_S:
            return
        self._tracker_at = now
        step = self._tracker.update()
        if step:
            log.warning("wall clock stepped by %+.3f s; Emogg times follow it", step)
        self.clock.mapping = self._tracker.mapping
        self.board.headset(self.settings.source_id).clock_offset = self.clock.mapping.offset

    def _note_unknown(self, payload: Any) -> None:
        for name in unknown_emotions(payload, self.settings.emotions):
            if name not in self._seen_unknown and len(self._seen_unknown) < 64:
                self._seen_unknown.add(name)
                log.info("Emogg reports emotion %r, which is not in emogg.emotions; "
                         "add it there to bridge it", name)

    def _malformed(self, reason: str) -> None:
        self.board.malformed_frames += 1
        if not self._malformed_reported:
            self._malformed_reported = True
            log.warning("malformed message from Emogg skipped (%s); further ones are counted",
                        reason)


# ------------------------------------------------------------------ helpers


def _worker_state(session: Mapping[str, Any]) -> str:
    meta = session.get("meta")
    state = meta.get("workerState") if isinstance(meta, Mapping) else None
    return str(state) if state else "unknown"


def _refusal(exc: EmoggHttpError, following: bool) -> str:
    meaning = STATUS_MEANING.get(exc.status, "refused")
    if following:
        return (f"Emogg session in emogg.session_id: {exc.status} {meaning} ({exc.message}); "
                "check the id")
    return (f"Emogg refused to create the session: {exc.status} {meaning} ({exc.message}); "
            "check emogg.stream_uri and emogg.session_name")


def _close_text(ws: ClientConnection) -> str:
    code = ws.close_code
    reason = ws.close_reason
    if code is None:
        return "no close frame"
    return f"code {code}" + (f", {reason}" if reason else "")
