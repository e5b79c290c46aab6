"""The application: the shared outputs (outlets, OSC, markers, status) and the sources
that feed them, run until a signal or a fatal error.

Outputs live as long as the process: a Cortex restart or a headset reconnect never
recreates an outlet. Sources (Cortex, Emogg) own their connections and lifecycles and
only get the outputs handed to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pylsl

from bridge import __version__
from bridge.config import Settings, may_match_several, resolve_client_secret
from bridge.cortex.source import CortexSource
from bridge.errors import BridgeError, ExitCode
from bridge.instance import claim_config
from bridge.markers import MarkerService
from bridge.outputs.lsl import OutletNaming, OutletRegistry, timing_provenance
from bridge.outputs.osc import STATUS_INTERVAL_SECONDS as OSC_STATUS_SECONDS
from bridge.outputs.osc import OscOutput
from bridge.pipeline import Sink
from bridge.sdnotify import Notifier
from bridge.sources import Source, run_sources
from bridge.status import EventHub, EventName, StatusBoard, TerminalView
from bridge.status.control import Controller
from bridge.status.lsl import bridge_name
from bridge.status.service import StatusService, settings_digest
from bridge.status.tap import CombinedSinks, StatusTap
from bridge.streams import HeadsetInfo, StreamPlan
from bridge.supervise import cancel_and_wait

log = logging.getLogger(__name__)

STATUS_NOTIFY_SECONDS = 5.0  # sd_notify STATUS= cadence


def freeze_startup_objects() -> None:
    """Put every object alive after start-up out of the cyclic garbage collector's reach.

    A full collection walks every tracked object, about 50 000 after start-up (modules,
    the configuration models' schemas, the outputs), and blocks the event loop while it
    does: 26-79 ms in the benchmark's latency scenario, and every headset's samples wait
    that long (rare in a steady run, as few new objects survive, but each one stalls
    every headset). Those objects live as long as the process; frozen
    (``gc.freeze``), a full collection took 0.4-2 ms. Objects made later (sessions,
    pipelines) are collected as before. Once per process (a test process runs many Apps),
    and not where something else has frozen objects already.
    """
    if gc.get_freeze_count():
        return
    gc.collect()  # garbage of the start-up is freed, not frozen
    gc.freeze()


class App:
    """Builds the outputs and the sources from the settings; :meth:`run` until
    :meth:`stop` (or a source's fatal error, which it raises)."""

    def __init__(
        self,
        settings: Settings,
        client_secret: str,
        *,
        terminal: TerminalView | None = None,
        notifier: Notifier | None = None,
        osc: OscOutput | None = None,
        sources: Sequence[Source] | None = None,
    ) -> None:
        self.settings = settings
        self._secret = client_secret
        self._terminal = terminal
        self.notifier = notifier or Notifier({})
        self.board = StatusBoard(EventHub(pylsl.local_clock))  # events on the LSL clock
        self.tap = StatusTap()  # battery, contact quality and EEG traces for the page
        naming = OutletNaming(settings.lsl.name_template, bridge_name(settings.status.name))
        self.registry = OutletRegistry(naming,
                                       provenance=self._provenance)
        self.osc: OscOutput | None = osc
        if osc is None and settings.osc.enabled:
            several = may_match_several(settings.cortex.headsets)
            self.osc = OscOutput(settings.osc, multi_headset=several, board=self.board)
        self.markers = MarkerService(settings.markers, self.registry)
        self.markers.queue.events = self.board.events
        self.cortex = CortexSource(
            settings, client_secret, board=self.board, registry=self.registry,
            markers=self.markers, sinks=CombinedSinks(self.osc, self.tap),
        )
        self.controller = Controller(settings.status, self.markers)  # record/marker commands
        self.markers.on_osc_control = self.controller.osc
        self.status = StatusService(settings, self.board, self.tap, self.marker_counts,
                                    bridge_name(settings.status.name), self.controller.ws)
        self.sources: list[Source] = [self.cortex]
        if sources is not None:
            self.sources.extend(sources)
        elif settings.emogg.enabled:
            from bridge.sources.emogg import EmoggSource

            self.sources.append(EmoggSource(settings.emogg, self.registry, self.board, self.osc))
        self._stop = asyncio.Event()

    def _provenance(self, headset: HeadsetInfo) -> dict[str, str]:
        """How a new outlet's timestamps are made, for its ``desc``."""
        return timing_provenance(*self.board.timing(headset.id, pylsl.local_clock()))

    @property
    def streaming(self) -> asyncio.Event:
        """Set while at least one Cortex stream is bridged."""
        return self.cortex.streaming

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def stop_on_signals(self) -> Callable[[int], int]:
        """SIGTERM and SIGINT stop the application (``run`` and ``demo`` alike); returns
        what turns :meth:`run`'s result into the exit code: 130 after Ctrl-C, as shells
        expect, else the result itself."""
        loop = asyncio.get_running_loop()
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            interrupted = True
            self.stop()

        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        return lambda code: int(ExitCode.INTERRUPTED) if interrupted and code == ExitCode.OK else code

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> Sequence[Sink]:
        """Outputs besides LSL for one stream (OSC)."""
        return self.cortex.sinks_for(plan, headset)

    def reload(self, settings: Settings, client_secret: str) -> None:
        """SIGHUP: ``[cortex]`` changes apply by reconnecting (outlets stay); the other
        sections need a restart, which is said."""
        old = self.settings
        if settings == old and client_secret == self._secret:
            log.info("configuration reloaded: nothing changed")
            return
        for section in ("lsl", "osc", "markers", "emogg", "status"):
            if getattr(settings, section) != getattr(old, section):
                log.warning("configuration reloaded: [%s] changes take effect after a restart",
                            section)
        self.settings = settings
        self._secret = client_secret
        self.cortex.reload(settings, client_secret)

    def marker_counts(self) -> dict[str, Any]:
        """The markers' figures for the status page, per headset as well."""
        counts: dict[str, Any] = dict(self.markers.counts())
        counts["per_headset"] = {hid: {"injected": s.injected, "refused": s.rejected}
                                 for hid, s in self.markers.injector_stats.items()}
        return counts

    async def run(self) -> int:
        config_lock = claim_config(self.settings)  # a second bridge of this config: refused
        try:
            return await self._run()
        finally:
            config_lock.release()

    async def _run(self) -> int:
        await self.status.start()  # diagnostics outlet, status stream, status page
        digest = settings_digest(self.settings)
        self.board.events.emit(EventName.BRIDGE_STARTED, version=__version__, config_digest=digest)
        reporter = asyncio.create_task(self._report_status(), name="status")
        notifier = asyncio.create_task(self._notify_systemd(), name="sd_notify")
        osc_status = self._start_osc()
        try:
            await self.markers.start()  # LSL/OSC marker inputs (no-op unless markers.enabled)
            freeze_startup_objects()
            await run_sources(self.sources, self._stop)
        finally:
            self._stop.set()
            self.board.events.emit(EventName.BRIDGE_STOPPING, version=__version__,
                                   config_digest=digest)
            await cancel_and_wait(reporter, notifier)
            await self.markers.stop()
            await self._stop_osc(osc_status)
            await self.status.stop()
            self.registry.close_all()
            self.notifier.close()
        return int(ExitCode.OK)

    # ------------------------------------------------------------ status and systemd

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
                async with asyncio.timeout(tick):
                    await self._stop.wait()
        notifier.notify("STOPPING=1", "STATUS=stopping")

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
        await cancel_and_wait(task)
        if self.osc is not None:
            self.osc.close()


async def run(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    """``cortex-bridge run``: the application until SIGTERM/SIGINT.

    ``reload`` reads the configuration again (the CLI passes its loader); SIGHUP calls it
    and hands valid settings to :meth:`App.reload`. Invalid ones are logged, one line per
    problem, and the running configuration stays. Without ``reload`` SIGHUP is logged and
    ignored (it does not kill the process, as the default action would).
    """
    secret = resolve_client_secret(settings)
    terminal = TerminalView(sys.stderr) if sys.stderr.isatty() else None
    app = App(settings, secret, terminal=terminal, notifier=Notifier())
    loop = asyncio.get_running_loop()

    def on_hangup() -> None:
        if reload is None:
            log.warning("SIGHUP: no configuration file to reload; ignored")
            return
        app.notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = reload()
            new_secret = resolve_client_secret(new)
        except BridgeError as exc:
            for line in str(exc).splitlines():
                log.error("reload refused, keeping the running configuration: %s", line)
        else:
            log.info("SIGHUP: configuration reloaded")
            app.reload(new, new_secret)
        app.notifier.notify("READY=1", f"STATUS={app.board.summary()}")

    exit_code = app.stop_on_signals()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    return exit_code(await app.run())
