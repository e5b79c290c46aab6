"""The lifecycle: connect, get access, authorize, find headsets, open sessions, stream.

One asyncio task per connection attempt runs the supervisor, which polls the headset
list (Cortex sends no warning when a headset appears or is switched off) and keeps one
task per bridged headset. A headset task opens a session, synchronises the clock,
subscribes, and streams until the session ends; outlets outlive all of that, they
belong to the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pylsl
from websockets.exceptions import InvalidHandshake, InvalidURI

from bridge.backoff import Backoff
from bridge.clock import (
    ClockMapping,
    best_sync,
    epoch_minus_lsl,
    mapping_from_adjustment,
    mapping_from_epoch,
    monotonic_to_lsl,
)
from bridge.config import Settings, may_match_several, resolve_client_secret
from bridge.cortex.api import CortexApi, ShapeError, Subscription, token_expiry
from bridge.cortex.api_v1 import open_api
from bridge.cortex.connection import CortexConnection, make_ssl_context
from bridge.cortex.protocol import (
    ACTIVATION_ERRORS,
    TOKEN_ERRORS,
    ConnectionLost,
    CortexError,
    CortexWarning,
    ErrorCode,
    WarningCode,
)
from bridge.errors import AuthError, BridgeError, ExitCode
from bridge.markers import MarkerService
from bridge.outputs.lsl import OutletNaming, OutletRegistry
from bridge.outputs.osc import STATUS_INTERVAL_SECONDS as OSC_STATUS_SECONDS
from bridge.outputs.osc import OscOutput
from bridge.pipeline import HeadsetClock, MarkerHandler, Sink, StreamPipeline
from bridge.sdnotify import Notifier
from bridge.selection import CONNECTED, DISCOVERED, select_headsets
from bridge.sources import Source, run_sources
from bridge.status import StatusBoard, TerminalView
from bridge.streams import HeadsetInfo, StreamPlan, build_plan
from bridge.watch import ClockStepWatch, StallWatch

log = logging.getLogger("bridge.daemon")

T = TypeVar("T")

HEADSET_POLL_SECONDS = 1.0
HEADSET_RETRY_SECONDS = 5.0
CONNECT_WAIT_SECONDS = 30.0
SCAN_INTERVAL_SECONDS = 20.0
SUBSCRIBE_RETRY_SECONDS = 30.0
CLOCK_RESYNC_SECONDS = 60.0
ACCESS_POLL_SECONDS = 5.0
SYNC_READINGS = 5
TOKEN_REFRESH_MARGIN = 3600.0
PENDING_FRAMES_LIMIT = 20_000
# Recovery (issue 6).
LOCAL_RECONNECT_CAP = 1.0  # retry a Cortex on this machine at least every second
CONNECTED_AFTER_SECONDS = 10.0  # a connection that lasted this long resets the backoff
STALL_RATE_PERIODS = 3.0  # the stall timeout is at least this many periods of the fastest stream
PROBE_TIMEOUT = 2.0  # a stalled session: does Cortex still answer at all?
CLOCK_CHECK_SECONDS = 0.25  # how often the streaming loop looks for stalls and clock steps
CLOCK_STEP_SECONDS = 0.5  # sample times jumping this far against arrival: re-sync at once
STATUS_NOTIFY_SECONDS = 5.0  # sd_notify STATUS= cadence
DETECTIONS = {"com": "mentalCommand", "fac": "facialExpression"}
CREDENTIALS_REFUSED = (
    "Cortex refused the client id or secret (error -32021); check "
    "cortex.client_id and the client secret"
)


class SessionEnded(Exception):
    """The headset's session is gone (warning 0/1, headset lost); start over."""


class Reconnect(ConnectionLost):
    """Drop this connection to Cortex and open a new one (a reload, a silent Cortex)."""


@dataclass
class SessionRoutes:
    """Where a session's frames go; frames that arrive before their pipeline is built
    (the reader may run ahead of the subscribe call) wait in ``pending``."""

    headset: str
    pipelines: dict[str, StreamPipeline] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Daemon:
    """Runs the bridge until :meth:`stop` is called (or a fatal error)."""

    def __init__(
        self,
        settings: Settings,
        client_secret: str,
        *,
        board: StatusBoard | None = None,
        registry: OutletRegistry | None = None,
        terminal: TerminalView | None = None,
        notifier: Notifier | None = None,
        osc: OscOutput | None = None,
        sources: Sequence[Source] | None = None,
    ) -> None:
        self.settings = settings
        self._terminal = terminal
        self._client_id = settings.cortex.client_id
        self._secret = client_secret
        self.board = board or StatusBoard()
        self.registry = registry or OutletRegistry(OutletNaming(settings.lsl.name_template))
        # OSC output (issue 4); public: marker echo sends through it too.
        self.osc: OscOutput | None = osc
        if osc is None and settings.osc.enabled:
            several = may_match_several(settings.cortex.headsets)
            self.osc = OscOutput(settings.osc, multi_headset=several, board=self.board)
        self.markers = MarkerService(settings.markers, self.registry)
        self.sources: list[Source] = list(sources) if sources is not None else []
        if sources is None and settings.emogg.enabled:
            from bridge.sources.emogg import EmoggSource

            self.sources.append(EmoggSource(settings.emogg, self.registry, self.board, self.osc))
        self._stop = asyncio.Event()
        self._routes: dict[str, SessionRoutes] = {}
        self._headset_tasks: dict[str, asyncio.Task[None]] = {}
        self._headset_status: dict[str, str] = {}
        self._headset_objects: dict[str, Mapping[str, Any]] = {}
        self._token: str | None = None
        self._access_event = asyncio.Event()
        self._access_rejected = False
        self._vocab: dict[str, list[str]] = {}
        self.streaming = asyncio.Event()
        cortex = settings.cortex
        mode = cortex.clock
        self._clock_mode = ("sync" if is_loopback_url(cortex.url) else "epoch") if mode == "auto" else mode
        self.notifier = notifier or Notifier({})
        self._reconnect = asyncio.Event()
        self._reconnect_reason = ""
        self._served = False  # this connection attempt got as far as the supervisor

    # ----------------------------------------------------------------- public

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def reload(self, settings: Settings, client_secret: str) -> None:
        """SIGHUP: take new settings. ``[cortex]`` changes apply by reconnecting (outlets
        stay); other sections are read when a session starts or need a restart (logged)."""
        old = self.settings
        if settings == old and client_secret == self._secret:
            log.info("configuration reloaded: nothing changed")
            return
        for section in ("lsl", "osc", "markers", "emogg"):
            if getattr(settings, section) != getattr(old, section):
                log.warning("configuration reloaded: [%s] changes take effect after a restart",
                            section)
        if settings.cortex.client_id != old.cortex.client_id or client_secret != self._secret:
            self._token = None
        self.settings = settings
        self._client_id = settings.cortex.client_id
        self._secret = client_secret
        cortex = settings.cortex
        self._clock_mode = (
            ("sync" if is_loopback_url(cortex.url) else "epoch")
            if cortex.clock == "auto" else cortex.clock
        )
        self._request_reconnect("the configuration was reloaded")

    def _request_reconnect(self, reason: str) -> None:
        """Make the supervisor close this connection (see :meth:`_supervise`)."""
        if not self._reconnect.is_set():
            self._reconnect_reason = reason
            self._reconnect.set()

    async def run(self) -> int:
        """Connect and stream, reconnecting with backoff, until stopped."""
        cortex = self.settings.cortex
        if cortex.url.startswith("wss://") and not cortex.tls_verify:
            log.warning("TLS verification is OFF for %s (cortex.tls_verify = false)", cortex.url)
        backoff = Backoff(cap=cortex.reconnect_max_delay)
        reporter = asyncio.create_task(self._report_status(), name="status")
        notifier = asyncio.create_task(self._notify_systemd(), name="sd_notify")
        osc_status = self._start_osc()
        sources_stop = asyncio.Event()
        sources = asyncio.create_task(
            run_sources(self.sources, sources_stop, on_fatal=self.stop), name="sources"
        )
        try:
            await self.markers.start()  # LSL/OSC marker inputs (no-op unless markers.enabled)
            while not self.stopping:
                cortex = self.settings.cortex  # a reload may have changed it
                cap = cortex.reconnect_max_delay
                if is_loopback_url(cortex.url):
                    cap = min(cap, LOCAL_RECONNECT_CAP)  # a refused local connect costs nothing
                backoff.cap = max(cap, backoff.initial)
                started = time.monotonic()
                self._served = False
                try:
                    await self._serve_once()
                except AuthError:
                    raise
                except Reconnect as exc:
                    if self.stopping:
                        break
                    log.warning("reconnecting to Cortex: %s", exc)
                    backoff.reset()  # at once: if Cortex is gone, the next failure backs off
                except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionLost,
                        CortexError, ShapeError) as exc:
                    if self.stopping:
                        break
                    self.board.cortex_state = "unreachable"
                    if self._served or time.monotonic() - started > CONNECTED_AFTER_SECONDS:
                        backoff.reset()  # it worked until now: the first retry comes fast
                    delay = backoff.next_delay()
                    log.warning("Cortex at %s: %s; retrying in %.1f s", cortex.url,
                                _describe(exc), delay)
                    await self._pause(delay)
                else:
                    backoff.reset()
                    if not self.stopping:
                        await self._pause(backoff.next_delay())
        finally:
            for task in (reporter, notifier):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.markers.stop()
            sources_stop.set()
            failed = (await asyncio.gather(sources, return_exceptions=True))[0]
            await self._stop_osc(osc_status)
            self.registry.close_all()
            self.notifier.close()
        if isinstance(failed, BaseException):
            raise failed  # a source's fatal error (a refused token) ends the daemon with it
        return int(ExitCode.OK)

    async def _pause(self, seconds: float) -> None:
        """Wait before the next attempt; a stop or a reload ends the wait."""
        if seconds <= 0 or self.stopping:
            return
        stop = asyncio.create_task(self._stop.wait())
        reload = asyncio.create_task(self._reconnect.wait())
        try:
            await asyncio.wait({stop, reload}, timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            reload.cancel()

    async def _notify_systemd(self) -> None:
        """READY=1 now, STATUS= every few seconds, WATCHDOG=1 at half the watchdog
        interval, STOPPING=1 on stop. It runs on the event loop, so a frozen loop stops the
        watchdog pings and systemd restarts the bridge."""
        notifier = self.notifier
        if not notifier.enabled:
            return
        notifier.ready(self.board.summary())
        interval = notifier.watchdog_interval
        tick = min(STATUS_NOTIFY_SECONDS, interval) if interval else STATUS_NOTIFY_SECONDS
        next_status = time.monotonic() + STATUS_NOTIFY_SECONDS
        while not self.stopping:
            if interval:
                notifier.watchdog()
            if time.monotonic() >= next_status:
                notifier.status(self.board.summary())
                next_status = time.monotonic() + STATUS_NOTIFY_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
        notifier.notify("STOPPING=1", "STATUS=stopping")

    # ------------------------------------------------------------- connection

    async def _serve_once(self) -> None:
        cortex = self.settings.cortex
        conn = CortexConnection(
            cortex.url,
            ssl_context=make_ssl_context(cortex.url, cortex.tls_verify, cortex.ca_file or None),
            on_data=self._on_data,
            on_warning=self._on_warning,
            on_malformed=self._on_malformed,
            request_timeout=cortex.request_timeout,
        )
        self.board.cortex_state = "connecting"
        await conn.open()
        supervisor: asyncio.Task[None] | None = None
        try:
            api = await open_api(conn, cortex.dialect, v1_latency=cortex.v1_latency)
            info = await api.get_cortex_info()
            log.info("connected to Cortex %s at %s", info.get("version", "?"), cortex.url)
            await self._ensure_access(api)
            await self._authorize(api)
            self.board.cortex_state = "connected"
            supervisor = asyncio.create_task(self._supervise(api), name="supervisor")
            closed = asyncio.create_task(conn.wait_closed())
            stopped = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait(
                {supervisor, closed, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (closed, stopped):
                task.cancel()
            if supervisor in done:
                supervisor.result()
            if closed in done and not self.stopping:
                raise ConnectionLost("the connection closed")
            if self.stopping:
                await self._close_sessions(api)
        finally:
            if supervisor is not None:
                supervisor.cancel()
            await self._cancel_headsets()
            if supervisor is not None:
                with contextlib.suppress(BaseException):
                    await supervisor
            self._routes.clear()
            self.streaming.clear()
            self.board.cortex_state = "disconnected"
            await conn.close()

    async def _close_sessions(self, api: CortexApi) -> None:
        """On shutdown: close our sessions so Cortex frees the headsets at once."""
        with contextlib.suppress(Exception):  # our records first (markers), then sessions
            await self.markers.stop_records(api, list(self._routes))
        for sid in list(self._routes):
            with contextlib.suppress(Exception):
                await api.update_session(sid, "close")

    async def _ensure_access(self, api: CortexApi) -> None:
        # hasAccessRight/requestAccess check the client id and secret before authorize
        # does: -32021 here is as final as from authorize, not a reason to reconnect.
        try:
            await self._wait_for_access(api)
        except CortexError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            raise

    async def _wait_for_access(self, api: CortexApi) -> None:
        state = await api.has_access_right(self._client_id, self._secret)
        if state.granted:
            return
        self._access_event.clear()
        self._access_rejected = False
        await api.request_access(self._client_id, self._secret)
        self.board.cortex_state = "waiting for access approval"
        log.warning(
            "waiting for the user to approve this application in EMOTIV Launcher (%s)",
            state.message or "access not granted yet",
        )
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._access_event.wait(), ACCESS_POLL_SECONDS)
            if self._access_rejected:
                raise AuthError(
                    "the user rejected this application's access request in EMOTIV Launcher"
                )
            state = await api.has_access_right(self._client_id, self._secret)
            if state.granted:
                log.info("access approved in EMOTIV Launcher")
                return

    async def _authorize(self, api: CortexApi) -> None:
        """Reuse a token that is still valid; otherwise authorize."""
        if self._token is not None:
            expiry = token_expiry(self._token)
            if expiry is None or expiry - time.time() > TOKEN_REFRESH_MARGIN:
                api.token = self._token
                return
        cortex = self.settings.cortex
        try:
            self._token = await api.authorize(
                self._client_id, self._secret, cortex.license, cortex.debit
            )
        except CortexError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            if exc.code in (ErrorCode.INVALID_LICENSE, ErrorCode.NO_LICENSE_PERMISSION):
                raise AuthError(
                    f"Cortex refused the licence (error {exc.code}: {exc.cortex_message}); "
                    "check cortex.license or leave it empty"
                ) from None
            raise
        log.info("authorized with Cortex")

    async def _with_token(self, api: CortexApi, call: Callable[[], Awaitable[T]]) -> T:
        """Run a call; on an invalid or expired token authorize once and run it again."""
        try:
            return await call()
        except CortexError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
            log.warning("Cortex token refused (%s); authorizing again", exc.code)
            self._token = None
            await self._authorize(api)
            return await call()

    async def _refresh_token_if_due(self, api: CortexApi) -> None:
        if self._token is None:
            return
        expiry = token_expiry(self._token)
        if expiry is None or expiry - time.time() > TOKEN_REFRESH_MARGIN:
            return
        try:
            self._token = await api.generate_new_token(self._client_id, self._secret)
            log.info("Cortex token renewed before expiry")
        except CortexError:
            self._token = None
            await self._authorize(api)

    # ------------------------------------------------------------- headsets

    async def _supervise(self, api: CortexApi) -> None:
        """The headset loop, until it fails or a reconnect is asked for (reload, a silent
        Cortex): then the sessions are closed if Cortex still answers, and
        :class:`Reconnect` ends this connection."""
        self._served = True
        self._reconnect.clear()
        loop = asyncio.create_task(self._supervise_headsets(api), name="headsets")
        wake = asyncio.create_task(self._reconnect.wait())
        try:
            await asyncio.wait({loop, wake}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            if not loop.done():
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        if not self._reconnect.is_set():
            loop.result()  # the loop ended by itself: raise what it raised
            return
        reason = self._reconnect_reason
        if not reason.startswith("Cortex"):  # a reload: leave Cortex tidy
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._close_sessions(api), PROBE_TIMEOUT)
        raise Reconnect(reason)

    async def _supervise_headsets(self, api: CortexApi) -> None:
        patterns = list(self.settings.cortex.headsets)
        last_scan = float("-inf")
        said_waiting = False
        retry_after: dict[str, float] = {}
        while True:
            headsets = await api.query_headsets()
            self._headset_status = {h["id"]: str(h.get("status", "")) for h in headsets}
            self._headset_objects = {h["id"]: h for h in headsets}
            chosen = [h["id"] for h in select_headsets(headsets, patterns)]
            now = time.monotonic()
            for hid, task in list(self._headset_tasks.items()):
                if not task.done():
                    continue
                del self._headset_tasks[hid]
                exc = task.exception() if not task.cancelled() else None
                if isinstance(exc, AuthError):
                    raise exc
                if exc is not None and not isinstance(exc, SessionEnded):
                    log.warning("headset %s: %s", hid, _describe(exc))
                    retry_after[hid] = now + HEADSET_RETRY_SECONDS
            for hid in chosen:
                if hid not in self._headset_tasks and retry_after.get(hid, 0.0) <= now:
                    self._headset_tasks[hid] = asyncio.create_task(
                        self._run_headset(api, hid), name=f"headset-{hid}"
                    )
            if not chosen and not any(not t.done() for t in self._headset_tasks.values()):
                if not said_waiting:
                    wanted = ", ".join(patterns) if patterns else "any headset"
                    log.warning("no headset found yet (%s); waiting", wanted)
                    said_waiting = True
                if time.monotonic() - last_scan > SCAN_INTERVAL_SECONDS:
                    last_scan = time.monotonic()
                    await api.control_device("refresh")
            else:
                said_waiting = False
            await self._refresh_token_if_due(api)
            await asyncio.sleep(HEADSET_POLL_SECONDS)

    async def _cancel_headsets(self) -> None:
        tasks = list(self._headset_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._headset_tasks.clear()

    async def _run_headset(self, api: CortexApi, hid: str) -> None:
        status = self.board.headset(hid)
        status.state = "connecting"
        await self._ensure_connected(api, hid)
        headset = HeadsetInfo.from_headset_object(self._headset_objects.get(hid, {"id": hid}))
        sid, activated = await self._open_session(api, hid)
        routes = SessionRoutes(hid)
        self._routes[sid] = routes
        try:
            clock = HeadsetClock(await self._clock_mapping(api, hid))
            status.clock_source = clock.mapping.source.value
            status.clock_offset = clock.mapping.offset
            status.state = "streaming" if activated else "streaming (not activated)"
            # Markers: a record, then this headset's queued markers (ends with this task).
            self.markers.start_session(
                api, sid, hid, clock, self._with_token,
                ready=lambda: "eeg" in routes.pipelines or "eeg" not in self.settings.cortex.streams,
            )
            wanted = list(self.settings.cortex.streams)
            next_resync = time.monotonic() + CLOCK_RESYNC_SECONDS
            retry_at = float("inf")
            while True:
                if wanted:
                    wanted = await self._subscribe(api, sid, headset, clock, routes, wanted)
                    retry_at = time.monotonic() + SUBSCRIBE_RETRY_SECONDS
                stall = StallWatch()
                stall.reset(time.monotonic())
                step = ClockStepWatch(CLOCK_STEP_SECONDS)
                fastest: StreamPipeline | None = None
                fastest_samples = -1
                while True:
                    if routes.ended.is_set():
                        raise SessionEnded(routes.end_reason)
                    if self._headset_status.get(hid) != CONNECTED:
                        raise SessionEnded("the headset is no longer connected")
                    now = time.monotonic()
                    rates = [p.plan.nominal_rate for p in routes.pipelines.values()]
                    top = max(rates, default=0.0)
                    if top > 0:
                        silent = stall.update(
                            sum(p.stats.samples + p.stats.malformed
                                for p in routes.pipelines.values()),
                            now,
                        )
                        limit = max(self.settings.cortex.stall_timeout, STALL_RATE_PERIODS / top)
                        if silent > limit:
                            await self._stalled(api, sid, silent)
                        if fastest is None or fastest.plan.nominal_rate < top:
                            fastest = next(p for p in routes.pipelines.values()
                                           if p.plan.nominal_rate == top)
                        if fastest_samples < 0:  # stats outlive sessions: start from now
                            fastest_samples = fastest.stats.samples
                        elif fastest.stats.samples != fastest_samples:
                            fastest_samples = fastest.stats.samples
                            lag = pylsl.local_clock() - fastest.stats.last_lsl_time
                            jumped = step.observe(lag, jitter=1.0 / top)
                            if jumped is not None:
                                next_resync = now  # re-sync at once
                                log.warning(
                                    "headset %s: sample times jumped by %+.3f s against "
                                    "their arrival; re-syncing the clock", hid, jumped)
                    if now >= next_resync:
                        clock.mapping = await self._clock_mapping(api, hid)
                        status.clock_offset = clock.mapping.offset
                        next_resync = time.monotonic() + CLOCK_RESYNC_SECONDS
                        step.reset()
                        fastest_samples = -1
                    if wanted and now >= retry_at:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(routes.ended.wait(), CLOCK_CHECK_SECONDS)
        except SessionEnded as ended:
            if not self.stopping:
                log.warning("headset %s: session ended (%s); will start again", hid, ended)
            raise
        finally:
            self._routes.pop(sid, None)
            status.state = "waiting"
            for stats in self.board.streams.values():
                if stats.headset == hid:
                    stats.state = "waiting"
            if not any(r.pipelines for r in self._routes.values()):
                self.streaming.clear()

    async def _stalled(self, api: CortexApi, sid: str, silent: float) -> None:
        """No frame for ``silent`` seconds: if Cortex still answers, close the session and
        start again; if it does not, the whole connection is dead: reconnect."""
        try:
            await asyncio.wait_for(api.get_cortex_info(), PROBE_TIMEOUT)
        except CortexError:
            pass  # an error is an answer too
        except TimeoutError:
            reason = f"Cortex sent nothing for {silent:.1f} s and does not answer"
            self._request_reconnect(reason)
            raise SessionEnded(reason) from None
        with contextlib.suppress(CortexError, TimeoutError):
            await self._with_token(api, lambda: api.update_session(sid, "close"))
        raise SessionEnded(f"no data for {silent:.1f} s although Cortex answers")

    async def _ensure_connected(self, api: CortexApi, hid: str) -> None:
        """Wait until the headset is connected, asking Cortex to connect it whenever it is
        only discovered (again after being switched off and on)."""
        asked = float("-inf")
        deadline = time.monotonic() + CONNECT_WAIT_SECONDS
        while True:
            state = self._headset_status.get(hid)
            if state == CONNECTED:
                if asked > float("-inf"):
                    log.info("headset %s connected", hid)
                return
            now = time.monotonic()
            if state == DISCOVERED and now - asked > HEADSET_RETRY_SECONDS:
                log.info("connecting headset %s", hid)
                await api.control_device("connect", hid)
                asked = now
                deadline = max(deadline, now + CONNECT_WAIT_SECONDS)
            if now >= deadline:
                raise SessionEnded(
                    f"headset {hid} did not connect within {CONNECT_WAIT_SECONDS:.0f} s")
            await asyncio.sleep(HEADSET_POLL_SECONDS / 4)

    async def _open_session(self, api: CortexApi, hid: str) -> tuple[str, bool]:
        """Create the session (active if asked and licensed); returns (id, activated)."""
        status = "active" if self.settings.cortex.activate else "open"
        try:
            session = await self._with_token(api, lambda: api.create_session(hid, status))
        except CortexError as exc:
            if status == "active" and exc.code in ACTIVATION_ERRORS:
                log.warning(
                    "headset %s: the session could not be activated (%s); opening it without "
                    "activation: EEG and full-rate performance metrics need an activated "
                    "session, the other streams run",
                    hid,
                    exc.cortex_message,
                )
                session = await self._with_token(api, lambda: api.create_session(hid, "open"))
            elif exc.code == ErrorCode.SESSION_CONFLICT:
                session = await self._existing_session(api, hid)
            else:
                raise
        sid = session.get("id")
        if not isinstance(sid, str):
            # The docs' "active" example answers {}: find the session by headset.
            session = await self._existing_session(api, hid)
            sid = session["id"]
        activated = session.get("status") == "activated"
        log.info("headset %s: session %s %s", hid, sid, session.get("status", "?"))
        return sid, activated

    async def _existing_session(self, api: CortexApi, hid: str) -> dict[str, Any]:
        for session in await self._with_token(api, api.query_sessions):
            headset = session.get("headset")
            if (
                isinstance(headset, dict)
                and headset.get("id") == hid
                and session.get("status") != "closed"
                and isinstance(session.get("id"), str)
            ):
                return session
        raise SessionEnded(f"no open session found for headset {hid}")

    async def _clock_mapping(self, api: CortexApi, hid: str) -> ClockMapping:
        if self._clock_mode == "sync":
            try:
                readings = [
                    await api.sync_with_headset_clock(hid) for _ in range(SYNC_READINGS)
                ]
                return mapping_from_adjustment(best_sync(readings).adjustment, monotonic_to_lsl())
            except CortexError as exc:
                if exc.code != ErrorCode.METHOD_NOT_FOUND:
                    raise
                log.info("this Cortex has no syncWithHeadsetClock; using the wall clock")
                self._clock_mode = "epoch"
        return mapping_from_epoch(epoch_minus_lsl())

    async def _subscribe(
        self,
        api: CortexApi,
        sid: str,
        headset: HeadsetInfo,
        clock: HeadsetClock,
        routes: SessionRoutes,
        streams: list[str],
    ) -> list[str]:
        """Subscribe; build pipelines for what worked; return the streams to retry."""
        await self._load_vocab(api, streams)
        success, failure = await self._with_token(api, lambda: api.subscribe(sid, streams))
        for sub in success:
            self._attach(sub, headset, clock, routes)
        self._replay_pending(routes)
        retry = []
        for fail in failure:
            self.board.stream(headset.id, fail.stream).state = "unavailable"
            if fail.permanent:
                log.warning("headset %s: stream %s not bridged: %s (remove it from "
                            "cortex.streams)", headset.id, fail.stream, fail.message)
                continue
            retry.append(fail.stream)
            log.warning(
                "headset %s: stream %s unavailable (%s: %s)%s; retrying every %.0f s",
                headset.id, fail.stream, fail.code, fail.message,
                _licence_hint(fail.stream, fail.code), SUBSCRIBE_RETRY_SECONDS,
            )
        if success:
            self.streaming.set()
        return retry

    def _attach(
        self, sub: Subscription, headset: HeadsetInfo, clock: HeadsetClock, routes: SessionRoutes
    ) -> None:
        try:
            plan = build_plan(sub.stream, sub.cols, headset, self._vocab)
        except ValueError as exc:
            log.warning("headset %s: stream %s not bridged: %s", headset.id, sub.stream, exc)
            return
        if plan.unknown_columns:
            log.info(
                "headset %s/%s: columns not in our catalog, bridged as MISC: %s",
                headset.id, sub.stream, ", ".join(plan.unknown_columns),
            )
        outlet = self.registry.get_or_create(plan, headset)
        stats = self.board.stream(headset.id, sub.stream)
        stats.outlet = outlet.name
        stats.state = "streaming"
        routes.pipelines[sub.stream] = StreamPipeline(
            plan,
            outlet,
            clock,
            stats,
            sinks=self._sinks_for(plan, headset),
            on_markers=self._marker_handler_for(headset, clock),
        )

    def _sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> Sequence[Sink]:
        """Outputs besides LSL for one stream (OSC)."""
        return self.osc.sinks_for(plan, headset) if self.osc is not None else ()

    def _start_osc(self) -> asyncio.Task[None] | None:
        """Open the OSC output and start its per-headset status messages."""
        if self.osc is None:
            return None
        self.osc.open()
        return asyncio.create_task(self._osc_status(self.osc), name="osc-status")

    async def _osc_status(self, osc: OscOutput) -> None:
        """``<prefix>/status``: per headset, whether samples arrived in the last second."""
        while True:
            await asyncio.sleep(OSC_STATUS_SECONDS)
            osc.tick_status()

    async def _stop_osc(self, task: asyncio.Task[None] | None) -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.osc is not None:
            self.osc.close()

    def _marker_handler_for(
        self, headset: HeadsetInfo, clock: HeadsetClock
    ) -> MarkerHandler | None:
        """What to do with the markers Cortex reports in the EEG MARKERS column (echo)."""
        return self.markers.echo_handler(headset, clock, lambda: getattr(self, "osc", None))

    def _replay_pending(self, routes: SessionRoutes) -> None:
        pending, routes.pending = routes.pending, []
        for frame in pending:
            self._on_data(frame)

    async def _load_vocab(self, api: CortexApi, streams: list[str]) -> None:
        for stream, detection in DETECTIONS.items():
            if stream in streams and stream not in self._vocab:
                try:
                    info = await api.get_detection_info(detection)
                except CortexError:
                    continue
                actions = info.get("actions")
                if isinstance(actions, list) and all(isinstance(a, str) for a in actions):
                    self._vocab[stream] = list(actions)

    # ------------------------------------------------------------ callbacks

    def _on_data(self, frame: dict[str, Any]) -> None:
        sid = frame["sid"]
        routes = self._routes.get(sid) if type(sid) is str else None  # a list is unhashable
        if routes is None:
            self.board.unrouted_frames += 1
            return
        pipelines = routes.pipelines
        for key in frame:
            pipeline = pipelines.get(key)
            if pipeline is not None:
                pipeline.handle(frame[key], frame.get("time"))
                return
        if len(routes.pending) < PENDING_FRAMES_LIMIT:
            routes.pending.append(frame)
        else:
            self.board.unrouted_frames += 1

    def _on_warning(self, warning: CortexWarning) -> None:
        code = warning.code
        if code in (WarningCode.STREAMS_STOPPED, WarningCode.SESSION_CLOSED):
            sid = warning.session_id
            routes = self._routes.get(sid) if sid else None
            if routes is not None:
                routes.end_reason = f"warning {code}: {warning.text()}"
                routes.ended.set()
            log.info("Cortex warning %d: %s", code, warning.text())
        elif code == WarningCode.ACCESS_GRANTED:
            self._access_event.set()
        elif code == WarningCode.ACCESS_REJECTED:
            self._access_rejected = True
            self._access_event.set()
        elif code == WarningCode.HEADSET_DATA_TIMEOUT:
            # The headset is gone: end its sessions now rather than at the next poll.
            hid = warning.headset_id
            log.warning("Cortex warning 103: %s", warning.text())
            if hid is not None:
                self._headset_status[hid] = "disconnected"
                for routes in self._routes.values():
                    if routes.headset == hid and not routes.ended.is_set():
                        routes.end_reason = "warning 103: the headset is disconnected"
                        routes.ended.set()
        elif code in (WarningCode.HEADSET_CONNECTED, WarningCode.HEADSET_SCAN_FINISHED):
            # Late 104/142 while streaming: ignored (re-authorizing on them breaks sessions).
            # A 104 for a headset we are waiting for only spares the next status poll.
            hid = warning.headset_id
            if code == WarningCode.HEADSET_CONNECTED and hid in self._headset_tasks:
                self._headset_status[hid] = CONNECTED
            log.debug("Cortex warning %d: %s", code, warning.text())
        else:
            log.info("Cortex warning %d: %s", code, warning.text())

    def _on_malformed(self, reason: str) -> None:
        self.board.malformed_frames += 1
        if self.board.malformed_frames in (1, 10, 100, 1000) or self.board.malformed_frames % 10000 == 0:
            log.warning("malformed message from Cortex (%s); %d so far", reason,
                        self.board.malformed_frames)

    # --------------------------------------------------------------- helpers

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _report_status(self) -> None:
        """A live table on a terminal (every second), else a log line per interval."""
        view = self._terminal
        if view is None:
            while True:
                await asyncio.sleep(self.settings.log.status_interval)
                log.info("%s", self.board.render_line())
        view.attach()
        try:
            while True:
                await asyncio.sleep(1.0)
                view.draw(self.board.render_table())
        finally:
            view.clear()
            view.detach()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _licence_hint(stream: str, code: int) -> str:
    if code == ErrorCode.STREAM_UNAVAILABLE and stream == "eeg":
        return " - EEG needs an EEG licence and an activated session"
    return ""


async def run(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    """``cortex-bridge run``: the daemon until SIGTERM/SIGINT.

    ``reload`` reads the configuration again (the CLI passes its loader); SIGHUP calls it
    and hands valid settings to :meth:`Daemon.reload`. Invalid ones are logged, one line
    per problem, and the running configuration stays. Without ``reload`` SIGHUP is
    logged and ignored (it does not kill the daemon, as the default action would).
    """
    import signal

    secret = resolve_client_secret(settings)
    terminal = TerminalView(sys.stderr) if sys.stderr.isatty() else None
    daemon = Daemon(settings, secret, terminal=terminal, notifier=Notifier())
    loop = asyncio.get_running_loop()

    def on_hangup() -> None:
        if reload is None:
            log.warning("SIGHUP: no configuration file to reload; ignored")
            return
        daemon.notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = reload()
            new_secret = resolve_client_secret(new)
        except BridgeError as exc:
            for line in str(exc).splitlines():
                log.error("reload refused, keeping the running configuration: %s", line)
        else:
            log.info("SIGHUP: configuration reloaded")
            daemon.reload(new, new_secret)
        daemon.notifier.notify("READY=1", f"STATUS={daemon.board.summary()}")

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, daemon.stop)
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    return await daemon.run()


async def check(settings: Settings) -> int:
    """``cortex-bridge check``: connect, list headsets, streams and the outlets we would make."""
    from bridge.outputs.lsl import source_id_for

    secret = resolve_client_secret(settings)
    cortex = settings.cortex
    problems: list[str] = []
    out = sys.stdout
    conn = CortexConnection(
        cortex.url,
        ssl_context=make_ssl_context(cortex.url, cortex.tls_verify, cortex.ca_file or None),
        on_data=lambda frame: None,
        on_warning=lambda w: None,
        on_malformed=lambda reason: None,
        request_timeout=cortex.request_timeout,
    )
    try:
        await conn.open()
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        print(f"Cortex at {cortex.url}: unreachable ({_describe(exc)})", file=out)
        return int(ExitCode.FAILURE)
    try:
        api = await open_api(conn, cortex.dialect, v1_latency=cortex.v1_latency)
        info = await api.get_cortex_info()
        print(f"Cortex {info.get('version', '?')} at {cortex.url}", file=out)
        try:
            access = await api.has_access_right(cortex.client_id, secret)
        except CortexError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            raise
        if not access.granted:
            print(f"access: not granted ({access.message})", file=out)
            return int(ExitCode.FAILURE)
        try:
            await api.authorize(cortex.client_id, secret, cortex.license, cortex.debit)
        except CortexError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            raise
        print("authorize: ok", file=out)
        headsets = await api.query_headsets()
        for listed in headsets:
            print(f"headset {listed['id']}: {listed.get('status', '?')}", file=out)
        chosen = select_headsets(headsets, list(cortex.headsets))
        if not chosen:
            problems.append("no headset matches cortex.headsets" if cortex.headsets
                            else "no headset found")
        naming = OutletNaming(settings.lsl.name_template)
        for h in chosen:
            hid = h["id"]
            if h.get("status") != CONNECTED:
                problems.append(f"headset {hid} is {h.get('status')}, not connected")
                continue
            headset = HeadsetInfo.from_headset_object(h)
            status = "active" if cortex.activate else "open"
            try:
                session = await api.create_session(hid, status)
            except CortexError as exc:
                if status != "active" or exc.code not in ACTIVATION_ERRORS:
                    raise
                print(f"headset {hid}: cannot activate ({exc.cortex_message}); open session",
                      file=out)
                session = await api.create_session(hid, "open")
            sid = str(session.get("id", ""))
            success, failure = await api.subscribe(sid, list(cortex.streams))
            for sub in success:
                plan = build_plan(sub.stream, sub.cols, headset)
                name = naming.name_for(plan, headset)
                print(
                    f"  outlet {name!r} type={plan.lsl_type} channels={len(plan.channels)} "
                    f"rate={plan.nominal_rate:g} format={plan.channel_format} "
                    f"source_id={source_id_for(hid, sub.stream)}",
                    file=out,
                )
            for fail in failure:
                problems.append(f"headset {hid}: stream {fail.stream} unavailable "
                                f"({fail.code}: {fail.message})")
            with contextlib.suppress(CortexError):
                await api.update_session(sid, "close")
    except AuthError:
        raise
    except (CortexError, ShapeError, ConnectionLost, TimeoutError) as exc:
        problems.append(_describe(exc))
    finally:
        await conn.close()
    for problem in problems:
        print(f"problem: {problem}", file=out)
    return int(ExitCode.FAILURE if problems else ExitCode.OK)


__all__ = ["BridgeError", "Daemon", "check", "run"]
