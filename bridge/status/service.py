"""The status service: the diagnostics and status LSL streams, the status page, and
the once-a-second snapshot they share. The application builds one and runs it beside
the sources; it owns no data, only reads the board, the tap, the hub and the markers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pylsl

from bridge import __version__
from bridge.config import Settings
from bridge.status.board import StatusBoard
from bridge.status.events import Event, config_digest
from bridge.status.lsl import BridgeIdentity, DiagnosticsOutlet, FleetWatcher, StatusOutlet
from bridge.status.snapshot import HEAD_MAP, RateMeter, build_snapshot, public_url
from bridge.status.tap import StatusTap

log = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 1.0
TRACES_SECONDS = 0.5
FLEET_SECONDS = 2.0

MarkerCounts = Callable[[], Mapping[str, Any]]
ControlFn = Callable[[dict[str, Any], bool], Awaitable[dict[str, Any]]]


def settings_digest(settings: Settings) -> str:
    """Secrets are ``SecretStr`` and dump masked, so the digest says nothing about them."""
    return config_digest(settings.model_dump_json())


class StatusService:
    """Publishes the bridge's state: LSL diagnostics and status, the page."""

    def __init__(
        self,
        settings: Settings,
        board: StatusBoard,
        tap: StatusTap,
        markers: MarkerCounts,
        name: str,
        control: ControlFn | None = None,
    ) -> None:
        self.settings = settings
        self.board = board
        self.tap = tap
        self.markers = markers
        self.identity = BridgeIdentity(name, settings_digest(settings), pylsl.local_clock())
        self.control = control
        self.meter = RateMeter()
        self.diagnostics: DiagnosticsOutlet | None = None
        self.status_outlet: StatusOutlet | None = None
        self.server: Any = None
        self.fleet: FleetWatcher | None = None
        self._latest: dict[str, Any] | None = None
        self._trace_cursor: dict[str, float] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Outlets first (so ``bridge_started`` is in them), then the page. A page port
        that cannot be bound is an error in the log, not the end of the bridge."""
        hub = self.board.events
        hub.on_sink_error = lambda sink, exc: log.warning("diagnostics sink failed: %s", exc)
        if self.settings.status.lsl:
            self.diagnostics = DiagnosticsOutlet(self.identity)
            self._unsubscribe.append(hub.subscribe(self.diagnostics))
            self.status_outlet = StatusOutlet(self.identity)
        await self._start_server()
        self._task = asyncio.create_task(self._run(), name="status-service")

    async def _start_server(self) -> None:
        from bridge.status.server import StatusServer, parse_listen

        listen = parse_listen(self.settings.status.listen)
        if listen is None:
            return
        server = StatusServer(listen[0], listen[1], self.snapshot, self._hello,
                              control=self.control)
        server.on_clients = self._clients_changed
        server.on_fleet = self._fleet_watchers_changed
        try:
            await server.start()
        except OSError as exc:
            log.error("status.listen: cannot listen on %s (%s); the status page is off",
                      self.settings.status.listen, exc.strerror or exc)
            return
        self.server = server
        self._unsubscribe.append(self.board.events.subscribe(server.push_event))

    async def stop(self) -> None:
        """After ``bridge_stopping`` was emitted: give recorders a moment to fetch it
        (LabRecorder pulls every 500 ms), then withdraw everything."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.diagnostics is not None and self.diagnostics.have_consumers():
            await asyncio.sleep(0.6)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self.server is not None:
            await self.server.close()
        if self.fleet is not None:
            await asyncio.to_thread(self.fleet.join)
        if self.diagnostics is not None:
            self.diagnostics.close()
        if self.status_outlet is not None:
            self.status_outlet.close()

    # ------------------------------------------------------------ the snapshot

    def bridge_info(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "name": ident.name,
            "version": __version__,
            "config_digest": ident.config_digest,
            "started": round(ident.started, 6),
            "uptime_s": round(pylsl.local_clock() - ident.started, 1),
            "cortex_url": public_url(self.settings.cortex.url),
            "control": self.settings.status.control,
        }

    def refresh(self) -> dict[str, Any]:
        """Build the snapshot (once a second; rates are measured between refreshes)."""
        self._latest = build_snapshot(
            bridge=self.bridge_info(), board=self.board, hub=self.board.events, tap=self.tap,
            markers=self.markers(), meter=self.meter, now=time.monotonic(),
            lsl_now=pylsl.local_clock(),
        )
        return self._latest

    def snapshot(self) -> dict[str, Any]:
        """The latest snapshot (``/status.json``); built now if there is none yet."""
        return self._latest if self._latest is not None else self.refresh()

    def _hello(self) -> list[dict[str, Any]]:
        """What a page gets when it connects: the head map, the status, the traces."""
        traces = {hid: tap.traces_since(0.0) for hid, tap in self.tap.headsets.items()}
        return [
            {"type": "headmap", "data": HEAD_MAP},
            {"type": "status", "data": self.snapshot()},
            {"type": "traces", "data": traces, "reset": True},
        ]

    def _clients_changed(self, count: int) -> None:
        self.tap.active = count > 0

    def _fleet_watchers_changed(self, count: int) -> None:
        if count:
            if self.fleet is None:
                self.fleet = FleetWatcher()
            self.fleet.start()
        elif self.fleet is not None:
            self.fleet.stop()

    async def _run(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(TRACES_SECONDS)
            tick += 1
            server = self.server
            if server is not None and server.clients:
                server.push({"type": "traces", "data": self._new_traces()})
            if tick % round(SNAPSHOT_SECONDS / TRACES_SECONDS):
                continue
            snap = self.refresh()
            if self.status_outlet is not None:
                self.status_outlet.publish(snap)
            if server is not None and server.clients:
                server.push({"type": "status", "data": snap})
                if server.fleet_watchers and self.fleet is not None and \
                        tick % round(FLEET_SECONDS / TRACES_SECONDS) == 0:
                    server.push({"type": "fleet", "data": self.fleet.latest()})

    def _new_traces(self) -> dict[str, Any]:
        out = {}
        for hid, tap in self.tap.headsets.items():
            part = tap.traces_since(self._trace_cursor.get(hid, 0.0))
            if part.get("t"):
                self._trace_cursor[hid] = part["t"][-1]
                out[hid] = part
        return out


def log_event(event: Event) -> None:
    """Diagnostics also go to the log at debug level (the log already has its own lines)."""
    log.debug("diagnostics: %s", event.to_json())
