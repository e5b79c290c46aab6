"""The daemon's one handle on markers: inputs, the queue, per-session injectors,
records and the echo outlets.

:class:`~bridge.cortex.source.CortexSource` and :class:`~bridge.app.App` call, in order: :meth:`MarkerService.start` (inputs),
:meth:`~MarkerService.start_session` right after a headset session is open (a record,
then an injector task tied to the headset task), :meth:`~MarkerService.echo_handler`
when the EEG pipeline is built, :meth:`~MarkerService.stop_records` before sessions are
closed at shutdown, and :meth:`~MarkerService.stop` last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from bridge.config import MarkerSettings
from bridge.cortex.api import CortexApi
from bridge.cortex.errors import Action, error_rule
from bridge.cortex.protocol import CortexError
from bridge.markers.control import LiveSession, RecordControl
from bridge.markers.echo import (
    MARKER_INT32_PLAN,
    MARKER_PLAN,
    EchoStats,
    MarkerEcho,
    OscGetter,
)
from bridge.markers.injector import EXTRAS_KEY, InjectArgs, InjectorStats, SessionInjector
from bridge.markers.lsl_input import LslMarkerInput
from bridge.markers.marker import Marker
from bridge.markers.osc_input import OscControl, OscMarkerInput
from bridge.markers.queue import MarkerQueue
from bridge.outputs.lsl import OutletRegistry
from bridge.pipeline import HeadsetClock, MarkerHandler
from bridge.streams import HeadsetInfo
from bridge.supervise import cancel_and_wait

log = logging.getLogger("bridge.markers")

T = TypeVar("T")
RECORD_TITLE_MAX = 200  # Cortex: "title (<= 200 chars)"


class TokenRunner(Protocol):
    """``Daemon._with_token``: run a call, authorizing again once on a token error."""

    def __call__(self, api: CortexApi, call: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


def record_title(template: str, headset_id: str, now: float | None = None) -> str:
    """The record title for a headset (local date and time), at most 200 characters."""
    stamp = time.localtime(time.time() if now is None else now)
    title = template.format(
        headset=headset_id,
        date=time.strftime("%Y-%m-%d", stamp),
        time=time.strftime("%H:%M:%S", stamp),
    )
    return title[:RECORD_TITLE_MAX]


class MarkerService:
    """Everything marker-related that outlives a Cortex connection."""

    def __init__(self, settings: MarkerSettings, registry: OutletRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.queue = MarkerQueue(settings.queue_limit)
        self.injector_stats: dict[str, InjectorStats] = {}
        self.echo_stats = EchoStats()
        self.records: dict[str, str] = {}  # session id -> record id we opened
        self._tasks: dict[str, asyncio.Task[None]] = {}  # session id -> injector task
        self.lsl_input: LslMarkerInput | None = None
        self.osc_input: OscMarkerInput | None = None
        self.control = RecordControl()  # records started/stopped by the experimenter
        self.on_osc_control: OscControl | None = None  # the application's, if enabled

    # ---- inputs --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the configured inputs. A port that cannot be bound is an error in the
        log, not the end of the daemon (streaming goes on without OSC markers)."""
        settings = self.settings
        if not settings.enabled:
            return
        loop = asyncio.get_running_loop()

        def from_thread(marker: Marker) -> None:
            loop.call_soon_threadsafe(self.queue.put, marker)

        if settings.lsl_input:
            self.lsl_input = LslMarkerInput(from_thread, settings.lsl_predicate)
            self.lsl_input.start()
        if settings.osc_input:
            osc = OscMarkerInput(self.queue.put, settings.osc_host, settings.osc_port,
                                 on_control=self.on_osc_control)
            try:
                await osc.start()
            except OSError as exc:
                log.error(
                    "markers.osc_port: cannot listen on udp://%s:%d (%s); OSC markers are off",
                    settings.osc_host, settings.osc_port, exc.strerror or exc,
                )
            else:
                self.osc_input = osc

    async def stop(self) -> None:
        if self.osc_input is not None:
            self.osc_input.close()
            self.osc_input = None
        if self.lsl_input is not None:
            lsl_input, self.lsl_input = self.lsl_input, None
            await asyncio.to_thread(lsl_input.stop)
        if self.settings.enabled:
            log.info("markers: %s", self.summary())

    # ---- sessions ------------------------------------------------------------------

    def start_session(
        self,
        api: CortexApi,
        session_id: str,
        headset_id: str,
        clock: HeadsetClock,
        with_token: TokenRunner,
        ready: Callable[[], bool] | None = None,
        on_silent: Callable[[str], None] | None = None,
    ) -> asyncio.Task[None] | None:
        """Open a record and inject this headset's queued markers into the session.

        The injector task ends with the calling (headset) task: when the session ends,
        its markers stay queued for the next one. ``ready`` says when the EEG stream is
        subscribed (injection waits for it a few seconds, so injected markers are echoed).
        """
        if not self.settings.enabled:
            return None
        stats = self.injector_stats.setdefault(headset_id, InjectorStats())

        async def inject(args: InjectArgs) -> object:
            return await with_token(
                api,
                lambda: api.inject_marker(session_id, args.time_ms, args.value, args.label,
                                          args.port, extras=args.extras or None),
            )

        async def recorded(record_id: str, uid: str) -> bool | None:
            """Is the marker ``uid`` in record ``record_id``? None: Cortex cannot say."""
            if not record_id or record_id == "?":
                return None
            try:
                infos = await with_token(api, lambda: api.get_record_infos([record_id]))
            except CortexError as exc:
                log.info("headset %s: cannot look the record up (%s)", headset_id, exc)
                return None
            return any(
                isinstance(m, dict) and isinstance(m.get("extras"), dict)
                and m["extras"].get(EXTRAS_KEY) == uid
                for info in infos for m in (info.get("markers") or ())
            )

        async def open_record() -> str:
            await self.control.wait_allowed()  # held after a remote stop, until a start
            title = self.control.title or record_title(self.settings.record_title, headset_id)
            result = await with_token(api, lambda: api.create_record(session_id, title))
            record = result.get("record")
            record_id = record.get("uuid") if isinstance(record, dict) else None
            self.records[session_id] = record_id if isinstance(record_id, str) else "?"
            return self.records[session_id]

        injector = SessionInjector(
            headset_id, self.queue.reader(headset_id), clock, inject, open_record, stats,
            ready=ready, recorded=recorded, on_silent=on_silent,
        )
        task = asyncio.create_task(injector.run(), name=f"markers-{headset_id}")
        self._tasks[session_id] = task
        self.control.sessions[session_id] = LiveSession(api, headset_id, with_token)

        def finished(done: asyncio.Task[None]) -> None:
            if self._tasks.get(session_id) is done:
                del self._tasks[session_id]
                self.control.sessions.pop(session_id, None)
            self.records.pop(session_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.warning("headset %s: marker injection stopped: %s", headset_id,
                            done.exception())

        task.add_done_callback(finished)
        parent = asyncio.current_task()
        if parent is not None:
            parent.add_done_callback(lambda _: task.cancel())
        return task

    async def stop_records(self, api: CortexApi, session_ids: list[str]) -> None:
        """At shutdown, before the sessions close: stop injecting, then stop our records
        (so Cortex finalises them; closing the session would too, less explicitly)."""
        for sid in session_ids:
            record_id = self.records.pop(sid, None)
            task = self._tasks.pop(sid, None)
            await cancel_and_wait(task)
            if not record_id:  # none opened ("" : Cortex 1.x needs no record)
                continue
            try:
                await api.stop_record(sid)
                log.info("record %s stopped", record_id)
            except (CortexError, TimeoutError) as exc:
                # The table's stopRecord rows: a record already stopped is no failure.
                # Nothing is retried at shutdown (closing the session finalises it too).
                code = exc.code if isinstance(exc, CortexError) else None
                if code is not None and error_rule(code, "stopRecord").action is Action.IGNORE:
                    log.info("record %s: %s (Cortex error %d)", record_id,
                             error_rule(code, "stopRecord").hint, code)
                else:
                    log.warning("record %s: stopRecord failed: %s", record_id, exc)

    # ---- echo ----------------------------------------------------------------------

    def echo_handler(
        self, headset: HeadsetInfo, clock: HeadsetClock, osc: OscGetter
    ) -> MarkerHandler | None:
        """The EEG pipeline's ``on_markers``: echo outlets for this headset (created now,
        so consumers find them before the first marker, and kept across reconnects)."""
        if not (self.settings.enabled and self.settings.echo):
            return None
        outlet = self.registry.get_or_create(MARKER_PLAN, headset)
        int32 = (
            self.registry.get_or_create(MARKER_INT32_PLAN, headset)
            if self.settings.echo_int32 else None
        )
        return MarkerEcho(headset.id, clock, outlet, int32, osc, self.echo_stats)

    # ---- status --------------------------------------------------------------------

    def summary(self) -> str:
        c = self.counts()
        text = (
            f"{c['received']} received, {c['injected']} injected, {c['duplicates_avoided']} "
            f"duplicates avoided, {c['rejected']} refused by Cortex, {c['dropped']} dropped "
            f"(queue full), {c['waiting']} waiting, {c['echoed']} echoed"
        )
        refusals: dict[str, int] = {}
        for stats in self.injector_stats.values():
            for reason, count in stats.refusals.items():
                refusals[reason] = refusals.get(reason, 0) + count
        if refusals:
            text += "; refused: " + ", ".join(f"{n} x {r}" for r, n in refusals.items())
        return text

    def counts(self) -> dict[str, Any]:
        """The figures behind :meth:`summary` (tests, status). Per headset they add up:
        received = injected + duplicates avoided + refused + dropped + waiting."""
        stats = self.injector_stats.values()
        return {
            "received": self.queue.accepted,
            "injected": sum(s.injected for s in stats),
            "duplicates_avoided": sum(s.duplicates_avoided for s in stats),
            "resent_unverified": sum(s.resent_unverified for s in stats),
            "rejected": sum(s.rejected for s in stats),
            "dropped": self.queue.dropped,
            "waiting": max((r.pending for r in self.queue.readers), default=len(self.queue)),
            "echoed": self.echo_stats.echoed,
        }
