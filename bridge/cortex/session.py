"""One headset's session, driven through the headset lifecycle: connect the headset, open
the session, map its clock, subscribe, then watch the stream until the session ends.

Each step reports its outcome to the headset :class:`~bridge.cortex.lifecycle.Machine`,
which mirrors the state onto the status board; the watch's rules are the pure
:func:`~bridge.cortex.lifecycle.decide`. Outlets are not this module's: they belong to
the application and outlive every session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import pylsl

from bridge.clock import (
    ClockMapping,
    best_sync,
    epoch_minus_lsl,
    mapping_from_adjustment,
    mapping_from_epoch,
    monotonic_to_lsl,
)
from bridge.config import Settings
from bridge.cortex.api import CortexApi, ShapeError, Subscription
from bridge.cortex.auth import Authorizer
from bridge.cortex.errors import Action, error_rule, escalate
from bridge.cortex.lifecycle import (
    Counters,
    HeadsetEvent,
    HeadsetState,
    Verdict,
    Watch,
    WatchPolicy,
    decide,
    headset_machine,
)
from bridge.cortex.protocol import ConnectionLost, CortexError, ErrorCode
from bridge.cortex.router import Router, SessionRoutes
from bridge.errors import Transient
from bridge.outputs.lsl import OutletRegistry
from bridge.pipeline import HeadsetClock, MarkerHandler, Sink, StreamPipeline
from bridge.repeats import Repeats
from bridge.selection import CONNECTED, DISCOVERED
from bridge.status import EventName, StatusBoard
from bridge.streams import MODEL_LACKS, HeadsetInfo, StreamPlan, build_plan
from bridge.supervise import cancel_and_wait, describe

log = logging.getLogger(__name__)

HEADSET_POLL_SECONDS = 1.0
HEADSET_RETRY_SECONDS = 5.0
CONNECT_WAIT_SECONDS = 30.0
SUBSCRIBE_RETRY_SECONDS = 30.0
CLOCK_RESYNC_SECONDS = 60.0
SYNC_READINGS = 5
PROBE_TIMEOUT = 2.0  # closing a session we give up on: Cortex need not answer
STALL_ANSWER_GRACE = 1.0  # after a stalled Cortex answers, how long its late data may take
CLOCK_CHECK_SECONDS = 0.25  # how often the streaming loop looks at its counters
CLOCK_STEP_SECONDS = 0.5  # sample times jumping this far against arrival: re-sync at once
DETECTIONS = {"com": "mentalCommand", "fac": "facialExpression"}


class SessionEnded(Transient):
    """The headset's session is over; start over. ``at_once``: Cortex ended it or the
    headset went (warnings 0/1/103, a stall), so the next session may start now; else a
    step failed and the next try waits for the headset's backoff."""

    def __init__(self, reason: str, at_once: bool = True) -> None:
        super().__init__(reason)
        self.at_once = at_once


class Markers(Protocol):
    """What a session asks of the marker service (:class:`bridge.markers.MarkerService`
    implements it; the application wires it in, so the Cortex source does not depend
    on the markers package, which depends on the Cortex API)."""

    def start_session(
        self,
        api: CortexApi,
        session_id: str,
        headset_id: str,
        clock: HeadsetClock,
        with_token: Any,
        ready: Callable[[], bool] | None = None,
        on_silent: Callable[[str], None] | None = None,
    ) -> object: ...

    def echo_handler(
        self, headset: HeadsetInfo, clock: HeadsetClock, osc: Callable[[], Any]
    ) -> MarkerHandler | None: ...

    async def stop_records(self, api: CortexApi, session_ids: list[str]) -> None: ...


class NoMarkers:
    """Markers off (``check``, and a source built without them)."""

    def start_session(self, *args: Any, **kwargs: Any) -> object:
        return None

    def echo_handler(
        self, headset: HeadsetInfo, clock: HeadsetClock, osc: Callable[[], Any]
    ) -> MarkerHandler | None:
        return None

    async def stop_records(self, api: CortexApi, session_ids: list[str]) -> None:
        return None


class SessionHost(Protocol):
    """What a session needs from its Cortex source (shared by all its headsets)."""

    settings: Settings
    board: StatusBoard
    registry: OutletRegistry
    router: Router
    auth: Authorizer
    markers: Markers
    streaming: asyncio.Event
    clock_mode: str
    vocab: dict[str, list[str]]
    listed: dict[str, str]  # headset id -> its status in the last queryHeadsets
    listed_objects: dict[str, Mapping[str, Any]]
    connect_failures: dict[str, str]

    @property
    def stopping(self) -> bool: ...

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> Sequence[Sink]: ...

    def osc_output(self) -> Any: ...

    def request_reconnect(self, reason: str) -> None: ...

    def streaming_started(self, headset_id: str) -> None: ...

    async def claim_headset(self, headset_id: str) -> str | None: ...

    @property
    def repeats(self) -> Repeats: ...


class HeadsetSession:
    """Runs one headset's session until it ends (raises :class:`SessionEnded`)."""

    def __init__(self, host: SessionHost, api: CortexApi, headset_id: str) -> None:
        self.host = host
        self.api = api
        self.hid = headset_id
        self.status = host.board.headset(headset_id)
        self.activated = False
        self.machine = headset_machine(self._show)

    def _show(self, old: HeadsetState, new: HeadsetState, event: HeadsetEvent) -> None:
        label = new.value
        if new is HeadsetState.STREAMING and not self.activated:
            label += " (not activated)"
        self.status.state = label

    async def run(self) -> None:
        """The session from start to end. However it ends, it never leaves a session open
        behind it (every later ``createSession`` would fail with -32040): a failed step
        closes it before the error goes up, as :class:`SessionEnded` or, for what the
        connection must handle (a wait for the user, a refusal), escalated."""
        host, hid = self.host, self.hid
        self.machine.handle(HeadsetEvent.START)
        sid: str | None = None
        try:
            try:
                holder = await host.claim_headset(hid)
                if holder is not None:
                    raise SessionEnded(f"{holder} bridges it", at_once=False)
                await self._ensure_connected()
                self.machine.handle(HeadsetEvent.CONNECTED)
                listed = host.listed_objects.get(hid, {"id": hid})
                headset = HeadsetInfo.from_headset_object(listed)
                sid, self.activated = await self.open_session()
                self.machine.handle(HeadsetEvent.SESSION_OPENED)
                self.status.sessions += 1  # diagnostics: the second session is a restart
                host.board.events.emit(RESTARTED[self.status.sessions > 1], hid, session=sid,
                                       activated=self.activated)
                routes = SessionRoutes(hid)
                host.router.routes[sid] = routes
                clock = HeadsetClock(await self._clock_mapping())
                self._show_clock(clock.mapping)
                self.machine.handle(HeadsetEvent.CLOCK_SYNCED)
                # Markers: a record, then this headset's queued markers (end with this task).
                streams = list(host.settings.cortex.streams)
                host.markers.start_session(
                    self.api, sid, hid, clock, host.auth.with_token,
                    ready=lambda: "eeg" in routes.pipelines or "eeg" not in streams,
                    on_silent=host.request_reconnect,
                )
                await self._stream(sid, headset, clock, routes, streams)
            except CortexError as exc:
                escalated = escalate(exc)
                if escalated is not exc:
                    raise escalated from None
                rule = error_rule(exc.code, exc.method)
                raise SessionEnded(f"{exc} ({rule.hint})", at_once=False) from None
            except (ShapeError, TimeoutError) as exc:
                raise SessionEnded(describe(exc), at_once=False) from None
        except BaseException as exc:
            if isinstance(exc, SessionEnded):
                host.board.events.emit(EventName.SESSION_ENDED, hid, reason=str(exc))
            if sid is not None and _left_open(exc) and not host.stopping:
                await self._close_quietly(sid)
            raise
        finally:
            if sid is not None:
                host.router.routes.pop(sid, None)
            self.machine.handle(HeadsetEvent.END)
            self.machine.handle(HeadsetEvent.RESTART)
            for stats in host.board.streams.values():
                if stats.headset == hid:
                    stats.state = "waiting"
            if not any(r.pipelines for r in host.router.routes.values()):
                host.streaming.clear()

    async def _close_quietly(self, sid: str) -> None:
        """Close a session we give up on; a Cortex that no longer knows it, or does not
        answer in time, changes nothing."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.api.update_session(sid, "close")

    async def _stream(
        self,
        sid: str,
        headset: HeadsetInfo,
        clock: HeadsetClock,
        routes: SessionRoutes,
        wanted: list[str],
    ) -> None:
        """Subscribe, then look at the counters a few times a second and act on
        :func:`decide`'s verdict until the session ends."""
        watch = Watch(WatchPolicy(
            stall_timeout=self.host.settings.cortex.stall_timeout,
            resync_interval=CLOCK_RESYNC_SECONDS,
            step_threshold=CLOCK_STEP_SECONDS,
            retry_interval=SUBSCRIBE_RETRY_SECONDS,
        ))
        watch.start(time.monotonic())
        wanted = await self._subscribe(sid, headset, clock, routes, wanted)
        watch.subscribed(time.monotonic(), bool(wanted))
        self.machine.handle(HeadsetEvent.SUBSCRIBED)
        self.host.streaming_started(self.hid)
        while True:
            self._check_live(routes)
            decision = decide(watch, time.monotonic(), _counters(routes))
            verdict = decision.verdict
            if verdict is Verdict.STALLED:
                await self._stalled(sid, decision.amount, routes)
            elif verdict is Verdict.CLOCK_STEP or verdict is Verdict.RESYNC:
                if verdict is Verdict.CLOCK_STEP:
                    self.host.board.events.emit(EventName.CLOCK_STEP, self.hid,
                                                step=decision.amount)
                    log.warning("headset %s: sample times jumped by %+.3f s against their "
                                "arrival; re-syncing the clock", self.hid, decision.amount)
                clock.mapping = await self._clock_mapping()
                self._show_clock(clock.mapping)
                watch.resynced(time.monotonic())
            elif verdict is Verdict.RETRY_STREAMS:
                self.machine.handle(HeadsetEvent.RETRY_STREAMS)
                wanted = await self._subscribe(sid, headset, clock, routes, wanted)
                watch.subscribed(time.monotonic(), bool(wanted))
                self.machine.handle(HeadsetEvent.SUBSCRIBED)
            if self.status.stalled_at is not None:  # diagnostics: data again after a stall
                self._note_resumed(routes)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOCK_CHECK_SECONDS):
                    await routes.ended.wait()

    def _show_clock(self, mapping: ClockMapping) -> None:
        change = mapping.offset - self.status.clock_offset if self.status.clock_source else None
        self.host.board.events.emit(EventName.CLOCK_RESYNC, self.hid, method=mapping.source.value,
                                    offset=mapping.offset, change=change)
        self.status.clock_source = mapping.source.value
        self.status.clock_offset = mapping.offset

    def _note_resumed(self, routes: SessionRoutes) -> None:
        """Diagnostics: the first sample born after the stall began ends it."""
        since = self.status.stalled_at
        pipelines = routes.pipelines.values()
        if since is not None and any(p.stats.last_lsl_time > since for p in pipelines):
            now = pylsl.local_clock()
            self.host.board.events.emit(EventName.STREAM_RESUMED, self.hid, at=now,
                                        after_s=now - since)
            self.status.stalled_at = None

    def _check_live(self, routes: SessionRoutes) -> None:
        """End the session when Cortex ended it or the headset went."""
        if routes.ended.is_set():
            raise SessionEnded(routes.end_reason)
        if self.host.listed.get(self.hid) != CONNECTED:
            raise SessionEnded("the headset is no longer connected")

    async def _stalled(self, sid: str, silent: float, routes: SessionRoutes) -> None:
        """No frame for ``silent`` seconds. Cortex may only be late (a busy machine, a
        hiccup): what it sends late still goes out with its true times, so the session is
        kept as long as the connection may still deliver. A probe decides, whichever
        comes first:

        - data again: the session goes on, the backlog already published;
        - Cortex answers but this session's data does not follow within
          ``STALL_ANSWER_GRACE`` (late data comes before or with the answer): Cortex no
          longer sends it, so the session is closed and started again;
        - no answer within ``cortex.request_timeout``: the connection is dead, reconnect
          (the WebSocket keepalive drops a half-open socket meanwhile too).
        """
        self.status.stalled_at = self.host.board.events.emit(
            EventName.STREAM_STALLED, self.hid, at=pylsl.local_clock() - silent, silent_s=silent
        ).lsl_time
        received = _counters(routes).received

        def data_again() -> bool:
            return _counters(routes).received != received

        probe = asyncio.ensure_future(self.api.get_cortex_info())
        try:
            while not probe.done():
                if data_again():
                    return
                self._check_live(routes)
                await asyncio.wait({probe}, timeout=CLOCK_CHECK_SECONDS)
            try:
                probe.result()
            except CortexError:
                pass  # an error is an answer too
            except TimeoutError:
                if data_again():
                    return
                reason = f"Cortex sent nothing for {silent:.1f} s and does not answer"
                self.host.request_reconnect(reason)
                raise SessionEnded(reason) from None
            deadline = time.monotonic() + STALL_ANSWER_GRACE
            while time.monotonic() < deadline:
                if data_again():
                    return
                self._check_live(routes)
                await asyncio.sleep(CLOCK_CHECK_SECONDS)
        finally:
            await cancel_and_wait(probe)
        with contextlib.suppress(CortexError, TimeoutError):
            await self.host.auth.with_token(self.api, lambda: self.api.update_session(sid, "close"))
        raise SessionEnded(f"no data for {silent:.1f} s although Cortex answers")

    async def _ensure_connected(self) -> None:
        """Wait until the headset is connected, asking Cortex to connect it whenever it is
        only discovered (again after being switched off and on)."""
        hid = self.hid
        asked = float("-inf")
        deadline = time.monotonic() + CONNECT_WAIT_SECONDS
        while True:
            failed = self.host.connect_failures.pop(hid, None)
            if failed is not None:
                raise SessionEnded(f"Cortex could not connect the headset ({failed})",
                                   at_once=False)
            state = self.host.listed.get(hid)
            if state == CONNECTED:
                if asked > float("-inf"):
                    log.info("headset %s connected", hid)
                return
            now = time.monotonic()
            if state == DISCOVERED and now - asked > HEADSET_RETRY_SECONDS:
                log.info("connecting headset %s", hid)
                await self.api.control_device("connect", hid)
                asked = now
                deadline = max(deadline, now + CONNECT_WAIT_SECONDS)
            if now >= deadline:
                raise SessionEnded(
                    f"did not connect within {CONNECT_WAIT_SECONDS:.0f} s", at_once=False)
            await asyncio.sleep(HEADSET_POLL_SECONDS / 4)

    async def open_session(self) -> tuple[str, bool]:
        """Create the session (active if asked and licensed); returns (id, activated)."""
        api, hid, auth = self.api, self.hid, self.host.auth
        status = "active" if self.host.settings.cortex.activate else "open"
        try:
            session = await auth.with_token(api, lambda: api.create_session(hid, status))
        except CortexError as exc:
            if status == "active" and error_rule(exc.code, exc.method).action is Action.DEGRADE:
                self.host.board.events.emit(EventName.LICENCE_DEGRADED, hid,
                                            reason=exc.cortex_message, code=exc.code)
                log.warning(
                    "headset %s: the session could not be activated (%s); opening it without "
                    "activation: EEG and full-rate performance metrics need an activated "
                    "session, the other streams run",
                    hid,
                    exc.cortex_message,
                )
                session = await auth.with_token(api, lambda: api.create_session(hid, "open"))
            elif exc.code == ErrorCode.SESSION_CONFLICT:
                # A session of an earlier connection (a half-open one) may still stream to
                # its dead socket: never take it over; close it and open our own.
                stale = await self._existing_session()
                log.info("headset %s: closing the session %s of an earlier connection",
                         hid, stale["id"])
                await self._close_quietly(str(stale["id"]))
                session = await auth.with_token(api, lambda: api.create_session(hid, status))
            else:
                raise
        sid = session.get("id")
        if not isinstance(sid, str):
            # The docs' "active" example answers {}: find the session by headset.
            session = await self._existing_session()
            sid = session["id"]
        activated = session.get("status") == "activated"
        log.info("headset %s: session %s %s", hid, sid, session.get("status", "?"))
        return str(sid), activated

    async def _existing_session(self) -> dict[str, Any]:
        for session in await self.host.auth.with_token(self.api, self.api.query_sessions):
            headset = session.get("headset")
            if (
                isinstance(headset, dict)
                and headset.get("id") == self.hid
                and session.get("status") != "closed"
                and isinstance(session.get("id"), str)
            ):
                return session
        raise SessionEnded("Cortex answered createSession without a session, and lists none "
                           "for this headset", at_once=False)

    async def _clock_mapping(self) -> ClockMapping:
        host = self.host
        if host.clock_mode == "sync":
            try:
                readings = [
                    await self.api.sync_with_headset_clock(self.hid) for _ in range(SYNC_READINGS)
                ]
                return mapping_from_adjustment(best_sync(readings).adjustment, monotonic_to_lsl())
            except CortexError as exc:
                if exc.code != ErrorCode.METHOD_NOT_FOUND:
                    raise
                log.info("this Cortex has no syncWithHeadsetClock; using the wall clock")
                host.clock_mode = "epoch"
        return mapping_from_epoch(epoch_minus_lsl())

    async def _subscribe(
        self,
        sid: str,
        headset: HeadsetInfo,
        clock: HeadsetClock,
        routes: SessionRoutes,
        streams: list[str],
    ) -> list[str]:
        """Subscribe; build pipelines for what worked; return the streams to retry."""
        host, api = self.host, self.api
        await self._load_vocab(streams)
        success, failure = await host.auth.with_token(api, lambda: api.subscribe(sid, streams))
        for sub in success:
            self._attach(sub, headset, clock, routes)
        host.router.replay_pending(routes)
        retry = []
        now = time.monotonic()
        for fail in failure:
            host.board.stream(headset.id, fail.stream).state = "unavailable"
            host.board.events.emit(EventName.STREAM_REFUSED, headset.id, stream=fail.stream,
                                   code=fail.code, reason=fail.message)
            # The table's subscribe rows: DROP_STREAM is not asked for again in this
            # session, the rest (licence refusals) at a backoff growing to an hour.
            rule = error_rule(fail.code, "subscribe")
            lacks = fail.stream in MODEL_LACKS.get(headset.model, ())
            if fail.permanent or lacks or rule.action is Action.DROP_STREAM:
                why = (f"an {headset.model_name} has none" if lacks and not fail.permanent
                       else fail.message or rule.hint)  # fmt: skip
                if host.repeats.note(("stream", headset.id, fail.stream), now) is not None:
                    log.warning("headset %s: stream %s not bridged: %s (remove it from "
                                "cortex.streams)", headset.id, fail.stream, why)
                continue
            retry.append(fail.stream)
            say = host.repeats.note(("refused", headset.id, fail.stream, fail.code), now)
            if say is not None:
                log.warning(
                    "headset %s: stream %s unavailable (%s: %s)%s; asking again later%s",
                    headset.id, fail.stream, fail.code, fail.message or rule.hint,
                    _licence_hint(fail.stream, fail.code),
                    "" if say.first else f" (still refused, {say.summary()})",
                )
        if success:
            host.streaming.set()
        return retry

    def _attach(
        self, sub: Subscription, headset: HeadsetInfo, clock: HeadsetClock, routes: SessionRoutes
    ) -> None:
        host = self.host
        try:
            plan = build_plan(sub.stream, sub.cols, headset, host.vocab)
        except ValueError as exc:
            log.warning("headset %s: stream %s not bridged: %s", headset.id, sub.stream, exc)
            return
        if plan.unknown_columns:
            log.info(
                "headset %s/%s: columns not in our catalog, bridged as MISC: %s",
                headset.id, sub.stream, ", ".join(plan.unknown_columns),
            )
        outlet = host.registry.get_or_create(plan, headset)
        stats = host.board.stream(headset.id, sub.stream)
        stats.state = "streaming"
        routes.pipelines[sub.stream] = StreamPipeline(
            plan,
            outlet,
            clock,
            stats,
            sinks=host.sinks_for(plan, headset),
            on_markers=host.markers.echo_handler(headset, clock, host.osc_output),
        )

    async def _load_vocab(self, streams: list[str]) -> None:
        vocab = self.host.vocab
        for stream, detection in DETECTIONS.items():
            if stream in streams and stream not in vocab:
                try:
                    info = await self.api.get_detection_info(detection)
                except CortexError:
                    continue
                actions = info.get("actions")
                if isinstance(actions, list) and all(isinstance(a, str) for a in actions):
                    vocab[stream] = list(actions)


def _left_open(exc: BaseException) -> bool:
    """Whether a session that ended with ``exc`` may still be open in Cortex. Not when
    Cortex ended it or the headset went (``at_once``: Cortex closes it, or a stall was
    closed or found Cortex dead), when the connection is gone with it, or on a stop
    (the source closes every session then)."""
    if isinstance(exc, SessionEnded):
        return not exc.at_once
    return not isinstance(exc, asyncio.CancelledError | ConnectionLost)


RESTARTED = {False: EventName.SESSION_STARTED, True: EventName.SESSION_RESTARTED}


def _counters(routes: SessionRoutes) -> Counters:
    """The watch's view of a session's pipelines (the fastest stream carries the lag)."""
    pipelines = routes.pipelines.values()
    received = sum(p.stats.samples + p.stats.malformed for p in pipelines)
    fastest = max(pipelines, key=lambda p: p.plan.nominal_rate, default=None)
    if fastest is None or fastest.plan.nominal_rate <= 0:
        return Counters(received, 0.0, 0, None)
    stats = fastest.stats
    lag = pylsl.local_clock() - stats.last_lsl_time if stats.samples else None
    return Counters(received, fastest.plan.nominal_rate, stats.samples, lag)


def _licence_hint(stream: str, code: int) -> str:
    if code == ErrorCode.STREAM_UNAVAILABLE and stream == "eeg":
        return " - EEG needs an EEG licence and an activated session"
    return ""
