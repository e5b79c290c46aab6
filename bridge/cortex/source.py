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
from bridge.cortex.api import CortexApi
from bridge.cortex.api_v1 import open_api
from bridge.cortex.auth import Authorizer
from bridge.cortex.connection import CortexConnection, make_ssl_context
from bridge.cortex.lifecycle import (
    ConnectionEvent,
    ConnectionState,
    Machine,
    connection_machine,
)
from bridge.cortex.protocol import ConnectionLost
from bridge.cortex.router import Router, WarningHooks
from bridge.cortex.session import (
    HEADSET_POLL_SECONDS,
    HEADSET_RETRY_SECONDS,
    HeadsetSession,
    Markers,
    NoMarkers,
    SessionEnded,
)
from bridge.errors import AuthError
from bridge.outputs.lsl import OutletRegistry
from bridge.pipeline import Sink
from bridge.selection import CONNECTED, select_headsets
from bridge.sources import SinkFactory
from bridge.status import EventName, StatusBoard
from bridge.streams import HeadsetInfo, StreamPlan
from bridge.supervise import Fatal, Reconnect, Retry, Supervisor, classify, describe

log = logging.getLogger(__name__)

SCAN_INTERVAL_SECONDS = 20.0
LOCAL_RECONNECT_CAP = 1.0  # retry a Cortex on this machine at least every second
CONNECTED_AFTER_SECONDS = 10.0  # a connection that lasted this long resets the backoff
CLOSE_TIMEOUT = 2.0  # closing our sessions before a reconnect


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
        ))
        self.streaming = asyncio.Event()
        self.clock_mode = clock_mode_for(settings)
        self.vocab: dict[str, list[str]] = {}
        self.version = "?"
        self.listed: dict[str, str] = {}
        self.listed_objects: dict[str, Mapping[str, Any]] = {}
        self.machine: Machine[ConnectionState, ConnectionEvent] = connection_machine(self._show)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._reconnect = asyncio.Event()
        self._reconnect_reason = ""
        self._supervisor: Supervisor | None = None

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

    def _headset_lost(self, hid: str) -> None:
        self.listed[hid] = "disconnected"

    def _headset_connected(self, hid: str) -> None:
        if hid in self._tasks:
            self.listed[hid] = CONNECTED

    # ------------------------------------------------------------ the connection

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        cortex = self.settings.cortex
        if cortex.url.startswith("wss://") and not cortex.tls_verify:
            log.warning("TLS verification is OFF for %s (cortex.tls_verify = false)", cortex.url)
        supervisor = self._supervisor = Supervisor(
            Backoff(cap=cortex.reconnect_max_delay), stop,
            stable_after=CONNECTED_AFTER_SECONDS, on_retry=self._retrying, wake=self._reconnect,
        )
        try:
            await supervisor.run(self._attempt, before=self._set_backoff_cap)
        except BaseException as exc:
            outcome = classify(exc) if isinstance(exc, Exception) else None
            if isinstance(outcome, Fatal) and self.machine.allows(ConnectionEvent.REFUSED):
                self.machine.handle(ConnectionEvent.REFUSED)
            raise
        finally:
            if self.machine.allows(ConnectionEvent.STOP):
                self.machine.handle(ConnectionEvent.STOP)
            self.machine.handle(ConnectionEvent.CLOSED)

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
        if self.machine.state is ConnectionState.READY:  # diagnostics: a working one is lost
            self.board.events.emit(EventName.CORTEX_LOST, reason=outcome.reason)
        if outcome.at_once:
            log.warning("reconnecting to Cortex: %s", outcome.reason)
            self.machine.handle(ConnectionEvent.RECONNECT)
            return
        self.machine.handle(ConnectionEvent.FAILED)
        log.warning("Cortex at %s: %s; retrying in %.1f s", self.settings.cortex.url,
                    outcome.reason, delay)

    async def _attempt(self) -> None:
        conn = self.connection()
        await conn.open()
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
                await self._close_sessions(api)
        finally:
            if headsets is not None:
                headsets.cancel()
            await self._cancel_headsets()
            if headsets is not None:
                with contextlib.suppress(BaseException):
                    await headsets
            self.router.routes.clear()
            self.streaming.clear()
            await conn.close()

    def connection(self) -> CortexConnection:
        """A connection to the configured Cortex whose unasked frames go to the router;
        the lifecycle enters CONNECTING."""
        if self.machine.state is ConnectionState.BACKING_OFF:
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
        info = await api.get_cortex_info()
        self.version = str(info.get("version", "?"))
        log.info("connected to Cortex %s at %s", self.version, cortex.url)
        await self.auth.ensure_access(api, self._awaiting_approval, wait=wait_for_access)
        self.machine.handle(ConnectionEvent.ACCESS_GRANTED)
        await self.auth.authorize(api)
        self.machine.handle(ConnectionEvent.AUTHORIZED)
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
        self._reconnect.clear()
        loop = asyncio.create_task(self._poll_headsets(api), name="headset-poll")
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
                await asyncio.wait_for(self._close_sessions(api), CLOSE_TIMEOUT)
        raise Reconnect(reason)

    async def _poll_headsets(self, api: CortexApi) -> None:
        patterns = list(self.settings.cortex.headsets)
        last_scan = float("-inf")
        said_waiting = False
        retry_after: dict[str, float] = {}
        while True:
            headsets = await api.query_headsets()
            self.listed = {h["id"]: str(h.get("status", "")) for h in headsets}
            self.listed_objects = {h["id"]: h for h in headsets}
            chosen = [h["id"] for h in select_headsets(headsets, patterns)]
            now = time.monotonic()
            for hid, task in list(self._tasks.items()):
                if task.done():
                    del self._tasks[hid]
                    if self._ended_badly(hid, task):
                        retry_after[hid] = now + HEADSET_RETRY_SECONDS
            for hid in chosen:
                if hid not in self._tasks and retry_after.get(hid, 0.0) <= now:
                    session = HeadsetSession(self, api, hid)
                    self._tasks[hid] = asyncio.create_task(session.run(), name=f"headset-{hid}")
            if not chosen and not any(not t.done() for t in self._tasks.values()):
                if not said_waiting:
                    wanted = ", ".join(patterns) if patterns else "any headset"
                    log.warning("no headset found yet (%s); waiting", wanted)
                    said_waiting = True
                if time.monotonic() - last_scan > SCAN_INTERVAL_SECONDS:
                    last_scan = time.monotonic()
                    await api.control_device("refresh")
            else:
                said_waiting = False
            await self.auth.refresh_if_due(api)
            await asyncio.sleep(HEADSET_POLL_SECONDS)

    def _ended_badly(self, hid: str, task: asyncio.Task[None]) -> bool:
        """A finished headset task: a fatal error ends the connection, any other failure
        delays the headset's restart; a session that simply ended restarts at once."""
        exc = task.exception() if not task.cancelled() else None
        if exc is None or isinstance(exc, SessionEnded):
            return False
        if isinstance(exc, AuthError):
            raise exc
        log.warning("headset %s: %s", hid, describe(exc))
        return True

    async def _cancel_headsets(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()


__all__ = ["CortexSource", "clock_mode_for", "is_loopback_url"]
