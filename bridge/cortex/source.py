"""Cortex as a source: connect, get access, authorize, keep one session per chosen
headset, reconnect when anything fails.

The connection's states are the :mod:`~bridge.cortex.lifecycle` table's; whether a
failure is retried or ends the bridge is :func:`bridge.supervise.classify`'s call. The
headset loop polls ``queryHeadsets`` (Cortex sends no warning when a headset appears or is
switched off) and keeps one :class:`~bridge.cortex.session.HeadsetSession` task per
chosen headset.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bridge.backoff import Backoff
from bridge.config import Settings
from bridge.config.uris import shown_url
from bridge.cortex.api import CortexApi
from bridge.cortex.api_v1 import open_api
from bridge.cortex.auth import Authorizer
from bridge.cortex.connection import CortexConnection, make_ssl_context
from bridge.cortex.errors import escalate
from bridge.cortex.hints import hint_for
from bridge.cortex.lifecycle import (
    ConnectionEvent,
    ConnectionState,
    Machine,
    connection_machine,
)
from bridge.cortex.protocol import ConnectionLost, CortexError
from bridge.cortex.router import Router, WarningHooks
from bridge.cortex.session import (
    HEADSET_POLL_SECONDS,
    HEADSET_RETRY_SECONDS,
    HeadsetSession,
    Markers,
    NoMarkers,
    SessionEnded,
)
from bridge.errors import Reconnect
from bridge.instance import Lock
from bridge.outputs.lsl import OutletRegistry, published_elsewhere
from bridge.pipeline import Sink
from bridge.repeats import Repeats, duration
from bridge.selection import CONNECTED, Selection, choose_headsets, explain
from bridge.sources import SinkFactory
from bridge.status import EventName, StatusBoard
from bridge.streams import HeadsetInfo, StreamPlan
from bridge.supervise import Fatal, Retry, Supervisor, cancel_and_wait, classify, describe

log = logging.getLogger(__name__)

SCAN_INTERVAL_SECONDS = 20.0
LOCAL_RECONNECT_CAP = 1.0  # retry a Cortex on this machine at least every second
CONNECTED_AFTER_SECONDS = 10.0  # a connection that lasted this long resets the backoff
CLOSE_TIMEOUT = 2.0  # closing our sessions before a reconnect
STOP_CLOSE_SECONDS = 0.5  # closing records and sessions on a stop, all of them together
HEADSET_RETRY_CAP = 300.0  # a headset whose session keeps failing: tried at least this often


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def clock_mode_for(settings: Settings) -> str:
    """``auto``: ``syncWithHeadsetClock`` only for a Cortex on this machine (its
    adjustment is relative to Cortex's own monotonic clock); a remote one by epoch."""
    cortex = settings.cortex
    if cortex.clock != "auto":
        return cortex.clock
    return "sync" if is_loopback_url(cortex.url) else "epoch"


class CortexSource:
    """The Cortex source: a :class:`~bridge.sources.Source` whose ``run`` streams every
    chosen headset until ``stop``; a refused credential or access ends it with
    :class:`~bridge.errors.AuthError`."""

    name = "cortex"

    def __init__(
        self,
        settings: Settings,
        client_secret: str,
        *,
        board: StatusBoard,
        registry: OutletRegistry,
        markers: Markers | None = None,
        sinks: SinkFactory | None = None,
    ) -> None:
        cortex = settings.cortex
        self.settings = settings
        self.board = board
        self.registry = registry
        self.markers: Markers = markers if markers is not None else NoMarkers()
        self.sinks = sinks
        self.auth = Authorizer(cortex.client_id, client_secret, cortex.license, cortex.debit)
        self.router = Router(board, WarningHooks(
            access_answered=self.auth.access_answered,
            headset_lost=self._headset_lost,
            headset_connected=self._headset_connected,
            headset_failed=self._headset_failed,
            user_acted=self._user_acted,
            reopen=self.request_reconnect,
        ))
        self.streaming = asyncio.Event()
        self.clock_mode = clock_mode_for(settings)
        self.vocab: dict[str, list[str]] = {}
        self.version = "?"
        self.listed: dict[str, str] = {}
        self.listed_objects: dict[str, Mapping[str, Any]] = {}
        self.machine: Machine[ConnectionState, ConnectionEvent] = connection_machine(self._show)
        self.repeats = Repeats()
        self.connect_failures: dict[str, str] = {}  # headset id -> why Cortex gave up
        self.selection_said: set[tuple[str, ...]] = set()  # selection notices said
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restart_backoff: dict[str, Backoff] = {}
        self._headset_locks: dict[str, Lock] = {}
        self._stop = asyncio.Event()
        self._reconnect = asyncio.Event()
        self._reconnect_reason = ""
        self._supervisor: Supervisor | None = None
        self._last_error: BaseException | None = None

    # ------------------------------------------------------------ the host's side

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> Sequence[Sink]:
        return self.sinks.sinks_for(plan, headset) if self.sinks is not None else ()

    def osc_output(self) -> Any:
        return getattr(self.sinks, "osc", self.sinks)  # the status tap rides beside OSC

    def request_reconnect(self, reason: str) -> None:
        """Make the headset loop close this connection (see :meth:`_serve_headsets`)."""
        if not self._reconnect.is_set():
            self._reconnect_reason = reason
            self._reconnect.set()

    def reload(self, settings: Settings, client_secret: str) -> None:
        """SIGHUP: ``[cortex]`` changes apply by reconnecting (outlets stay)."""
        cortex = settings.cortex
        self.auth.change_credentials(cortex.client_id, client_secret, cortex.license,
                                     cortex.debit)
        self.settings = settings
        self.clock_mode = clock_mode_for(settings)
        self.request_reconnect("the configuration was reloaded")

    def _show(self, old: ConnectionState, new: ConnectionState, event: ConnectionEvent) -> None:
        self.board.cortex_state = new.value

    async def claim_headset(self, hid: str) -> str | None:
        """Hold the headset's host-wide lock while this source runs; None when ours,
        else who bridges it already: another bridge on this host (the lock), or one
        elsewhere whose outlets of this headset are on the network (asked once, before
        this source publishes any)."""
        lock = self._headset_locks.get(hid)
        if lock is not None and lock.held:
            return None
        lock = Lock(f"headset-{hid}")
        holder = lock.acquire()
        if holder is not None:
            return f"another cortex-bridge on this host ({holder})"
        other = await asyncio.to_thread(published_elsewhere, hid, self.registry.uids())
        if other is not None:
            lock.release()
            return (f"another cortex-bridge on {other.hostname() or 'the network'} "
                    f"(its LSL outlet {other.source_id()})")
        self._headset_locks[hid] = lock
        return None

    def release_headsets(self) -> None:
        for lock in self._headset_locks.values():
            lock.release()
        self._headset_locks.clear()

    def _user_acted(self) -> None:
        """Warning 2 or 17 (logged in, agreement accepted): a patient wait ends now."""
        if self.machine.state is ConnectionState.WAITING_FOR_USER:
            self.request_reconnect("the user acted in EMOTIV Launcher")

    def _headset_failed(self, hid: str, why: str) -> None:
        """100-102, 113, 31: kept until the headset's connect wait reads it, or until the
        headset is seen connected after all (then it is stale: the next session must
        not end on it, nor say the headset failed)."""
        self.connect_failures[hid] = why

    def streaming_started(self, hid: str) -> None:
        """A headset streams: its failures are over (one line if they were said)."""
        self._restart_backoff.pop(hid, None)
        now = time.monotonic()
        for key in list(self.repeats.runs):
            if isinstance(key, tuple) and key[:2] == ("headset", hid):
                said = self.repeats.end(key, now)
                if said is not None:
                    log.info("headset %s streams again after %s (%s)", hid, said.summary(),
                             key[2])

    def _headset_lost(self, hid: str) -> None:
        self.listed[hid] = "disconnected"

    def _headset_connected(self, hid: str) -> None:
        self.connect_failures.pop(hid, None)  # 104: an earlier failure is over
        if hid in self._tasks:
            self.listed[hid] = CONNECTED

    def note_listing(self, headsets: Sequence[Mapping[str, Any]]) -> None:
        """What ``queryHeadsets`` answered; a headset listed connected has no pending
        connect failure any more."""
        self.listed = {h["id"]: str(h.get("status", "")) for h in headsets}
        self.listed_objects = {h["id"]: h for h in headsets}
        for hid, status in self.listed.items():
            if status == CONNECTED:
                self.connect_failures.pop(hid, None)

    # ------------------------------------------------------------ the connection

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        cortex = self.settings.cortex
        if cortex.url.startswith("wss://") and not cortex.tls_verify:
            log.warning("TLS verification is OFF for %s (cortex.tls_verify = false)",
                        shown_url(cortex.url))
        supervisor = self._supervisor = Supervisor(
            Backoff(cap=cortex.reconnect_max_delay), stop,
            stable_after=CONNECTED_AFTER_SECONDS, on_retry=self._retrying, wake=self._reconnect,
        )
        try:
            await supervisor.run(self._attempt, before=self._set_backoff_cap)
        except Exception:
            # The supervisor lets out only what classify() called fatal.
            if self.machine.allows(ConnectionEvent.REFUSED):
                self.machine.handle(ConnectionEvent.REFUSED)
            raise
        finally:
            if self.machine.allows(ConnectionEvent.STOP):
                self.machine.handle(ConnectionEvent.STOP)
            self.machine.handle(ConnectionEvent.CLOSED)
            self.release_headsets()

    def _set_backoff_cap(self) -> float:
        """Read the cap afresh before each attempt (a reload may change the URL)."""
        assert self._supervisor is not None
        cortex = self.settings.cortex
        cap = cortex.reconnect_max_delay
        if is_loopback_url(cortex.url):
            cap = min(cap, LOCAL_RECONNECT_CAP)  # a refused local connect costs nothing
        backoff = self._supervisor.backoff
        backoff.cap = max(cap, backoff.initial)
        return 0.0

    def _retrying(self, outcome: Retry, delay: float) -> None:
        """Say why the connection is tried again, once per condition and then in falling
        summaries (:class:`~bridge.repeats.Repeats`); the status names what the user must
        do when only the user can cure it."""
        if self.machine.state is ConnectionState.READY:  # diagnostics: a working one is lost
            self.board.events.emit(EventName.CORTEX_LOST, reason=outcome.reason)
        if outcome.at_once:
            log.warning("reconnecting to Cortex: %s", outcome.reason)
            self.machine.handle(ConnectionEvent.RECONNECT)
            return
        now = time.monotonic()
        if outcome.patient:
            self.machine.handle(ConnectionEvent.USER_NEEDED)
            self.board.cortex_state = f"waiting for the user: {outcome.reason}"
            say = self.repeats.note(("cortex", outcome.reason), now)
            if say is not None:
                log.warning("Cortex waits for the user: %s; asking again in %s%s",
                            outcome.reason, duration(delay),
                            "" if say.first else f" (still waiting, {say.summary()})")
            return
        self.machine.handle(ConnectionEvent.FAILED)
        say = self.repeats.note(("cortex", outcome.reason), now)
        hint = hint_for(self._last_error, self.settings.cortex.url)
        url = shown_url(self.settings.cortex.url)
        line = (url, outcome.reason, delay, f" ({hint})" if hint else "")
        if say is not None:
            log.warning("Cortex at %s: %s; retrying in %.1f s%s%s", *line,
                        "" if say.first else f" (still failing, {say.summary()})")
        else:
            log.debug("Cortex at %s: %s; retrying in %.1f s%s", *line)

    def _ready(self) -> None:
        """Connected and authorized: every connection-level condition is over."""
        now = time.monotonic()
        for key in list(self.repeats.runs):
            if isinstance(key, tuple) and key[0] == "cortex":
                said = self.repeats.end(key, now)
                if said is not None:
                    log.info("Cortex is ready again after %s (%s)", said.summary(), key[1])

    async def _attempt(self) -> None:
        try:
            await self._serve_connection()
        except CortexError as exc:
            raise escalate(exc) from None

    async def _serve_connection(self) -> None:
        self._reconnect.clear()  # from here on, a request to reconnect is for this one
        conn = self.connection()
        self._last_error = None
        try:
            await conn.open()
        except Exception as exc:  # kept for the retry line's hint (bridge.cortex.hints)
            self._last_error = exc
            raise
        headsets: asyncio.Task[None] | None = None
        try:
            api = await self.open_api(conn)
            headsets = asyncio.create_task(self._serve_headsets(api), name="headsets")
            closed = asyncio.create_task(conn.wait_closed())
            stopped = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait(
                {headsets, closed, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (closed, stopped):
                task.cancel()
            if headsets in done:
                headsets.result()
            if closed in done and not self.stopping:
                raise ConnectionLost("the connection closed")
            if self.stopping:
                # Closing is a courtesy with a deadline: a frozen Cortex must not hold a
                # stop past the unit's stop timeout (records and sessions close with the
                # socket anyway).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(STOP_CLOSE_SECONDS):
                        await self._close_sessions(api)
        finally:
            await cancel_and_wait(headsets, *self._tasks.values())
            self._tasks.clear()
            self.router.routes.clear()
            self.streaming.clear()
            await conn.close()

    def connection(self) -> CortexConnection:
        """A connection to the configured Cortex whose unasked frames go to the router;
        the lifecycle enters CONNECTING."""
        if self.machine.state in (ConnectionState.BACKING_OFF, ConnectionState.WAITING_FOR_USER):
            self.machine.handle(ConnectionEvent.BACKOFF_ELAPSED)
        elif self.machine.state is not ConnectionState.CONNECTING:
            self.machine.handle(ConnectionEvent.CONNECT)
        cortex = self.settings.cortex
        return CortexConnection(
            cortex.url,
            ssl_context=make_ssl_context(cortex.url, cortex.tls_verify, cortex.ca_file or None),
            on_data=self.router.on_data,
            on_warning=self.router.on_warning,
            on_malformed=self.router.on_malformed,
            request_timeout=cortex.request_timeout,
        )

    async def open_api(self, conn: CortexConnection, wait_for_access: bool = True) -> CortexApi:
        """Speak the dialect Cortex speaks, get the user's approval, authorize: the way to
        READY, for ``run`` and ``check`` alike."""
        cortex = self.settings.cortex
        api = await open_api(conn, cortex.dialect, v1_latency=cortex.v1_latency)
        try:  # a Cortex in trouble may fail it; that is no reason not to go on
            info = await api.get_cortex_info()
        except CortexError:
            info = {}
        self.version = str(info.get("version", "?"))
        log.info("connected to Cortex %s at %s", self.version, shown_url(cortex.url))
        await self.auth.ensure_access(api, self._awaiting_approval, wait=wait_for_access)
        self.machine.handle(ConnectionEvent.ACCESS_GRANTED)
        await self.auth.authorize(api, on_warning=self.router.on_warning)
        self.machine.handle(ConnectionEvent.AUTHORIZED)
        self._ready()
        self.board.events.emit(EventName.CORTEX_CONNECTED, version=self.version)
        return api

    def _awaiting_approval(self, message: str) -> None:
        self.machine.handle(ConnectionEvent.ACCESS_PENDING)
        log.warning("waiting for the user to approve this application in EMOTIV Launcher (%s)",
                    message)

    async def _close_sessions(self, api: CortexApi) -> None:
        """On shutdown: close our sessions so Cortex frees the headsets at once."""
        sids = list(self.router.routes)
        with contextlib.suppress(Exception):  # our records first (markers), then sessions
            await self.markers.stop_records(api, sids)
        for sid in sids:
            with contextlib.suppress(Exception):
                await api.update_session(sid, "close")

    # ------------------------------------------------------------ the headsets

    async def _serve_headsets(self, api: CortexApi) -> None:
        """The headset loop, until it fails or a reconnect is asked for (reload, a silent
        Cortex): then the sessions are closed if Cortex still answers, and
        :class:`~bridge.supervise.Reconnect` ends this connection."""
        assert self._supervisor is not None
        self._supervisor.mark_healthy()
        loop = asyncio.create_task(self._poll_headsets(api), name="headset-poll")
        wake = asyncio.create_task(self._reconnect.wait())
        try:
            await asyncio.wait({loop, wake}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(wake, None if loop.done() else loop)
        if not self._reconnect.is_set():
            loop.result()  # the loop ended by itself: raise what it raised
            return
        reason = self._reconnect_reason
        if not reason.startswith("Cortex"):  # a reload: leave Cortex tidy
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._close_sessions(api)
        raise Reconnect(reason)

    async def _poll_headsets(self, api: CortexApi) -> None:
        patterns = list(self.settings.cortex.headsets)
        last_scan = float("-inf")
        said_waiting = False
        retry_after: dict[str, float] = {}
        while True:
            headsets = await api.query_headsets()
            self.note_listing(headsets)
            running = [hid for hid, task in self._tasks.items() if not task.done()]
            selection = choose_headsets(headsets, patterns, running)
            self._say_selection(selection, patterns)
            chosen = [h["id"] for h in selection.chosen]
            now = time.monotonic()
            for hid, task in list(self._tasks.items()):
                if task.done():
                    del self._tasks[hid]
                    retry_after[hid] = now + self._restart_delay(hid, task)
            for hid in chosen:
                if hid not in self._tasks and retry_after.get(hid, 0.0) <= now:
                    session = HeadsetSession(self, api, hid)
                    self._tasks[hid] = asyncio.create_task(session.run(), name=f"headset-{hid}")
            if not chosen and not any(not t.done() for t in self._tasks.values()):
                if not said_waiting:
                    wanted = ", ".join(patterns) if patterns else "any headset"
                    if selection.skipped:
                        wanted += " that Cortex can open"
                    log.warning("no headset found yet (%s); waiting", wanted)
                    said_waiting = True
                if time.monotonic() - last_scan > SCAN_INTERVAL_SECONDS:
                    last_scan = time.monotonic()
                    await api.control_device("refresh")
            else:
                said_waiting = False
            await self.auth.refresh_if_due(api)
            await asyncio.sleep(HEADSET_POLL_SECONDS)

    def _say_selection(self, selection: Selection, patterns: Sequence[str]) -> None:
        """Say once why a headset is passed over (a USB cable); again only after the
        condition went away and came back."""
        notices = explain(selection, patterns)
        for notice in notices:
            if notice.key not in self.selection_said:
                log.log(logging.WARNING if notice.loud else logging.INFO, "%s", notice.text)
        self.selection_said = {n.key for n in notices}
        for hid in selection.skipped:
            self.board.headset(hid).state = "not opened (USB cable)"

    def _restart_delay(self, hid: str, task: asyncio.Task[None]) -> float:
        """A finished headset task: how long until its headset is tried again.

        What ends the connection (a refused credential, a wait for the user, a reopen)
        is raised from here; a session Cortex ended restarts at once; a failed step
        restarts after a backoff that grows to five minutes, said once and then in
        summaries."""
        exc = task.exception() if not task.cancelled() else None
        now = time.monotonic()
        if exc is None or (isinstance(exc, SessionEnded) and exc.at_once):
            if exc is not None and not self.stopping:
                log.warning("headset %s: session ended (%s); starting it again", hid, exc)
            self._restart_backoff.pop(hid, None)
            return 0.0
        outcome = classify(exc)
        if isinstance(outcome, Fatal):
            raise outcome.error
        if outcome.patient or outcome.at_once:
            raise exc  # the connection's business: wait for the user, or reopen
        backoff = self._restart_backoff.setdefault(
            hid, Backoff(initial=HEADSET_RETRY_SECONDS, cap=HEADSET_RETRY_CAP))
        delay = backoff.next_delay()
        reason = str(exc) if isinstance(exc, SessionEnded) else describe(exc)
        say = self.repeats.note(("headset", hid, reason), now)
        if outcome.unexpected:
            log.error("headset %s: unexpected failure", hid, exc_info=exc)
        elif say is not None:
            log.warning("headset %s: %s; trying again in %s%s", hid, reason, duration(delay),
                        "" if say.first else f" (still failing, {say.summary()})")
        return delay



__all__ = ["CortexSource", "clock_mode_for", "is_loopback_url"]
