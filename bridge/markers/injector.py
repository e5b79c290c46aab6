"""When and how a headset session's markers go to Cortex ``injectMarker``.

One :class:`SessionInjector` runs per bridged headset session. It owns no socket: it is
given two coroutines (inject one marker, open a record) and decides the rest:

- markers can be injected once the session has an open record (Cortex 2.x refuses
  ``injectMarker`` without one); until then they wait in the queue;
- each marker is sent with its ORIGINAL time (its LSL time mapped through the headset's
  current clock mapping to Cortex epoch milliseconds), in queue order, one at a time;
- what a Cortex error means for the marker is a table (:data:`ERROR_ACTIONS`): refused
  for good (logged, counted, the next marker goes), "no record" (wait for a new one, the
  marker stays), session gone (stop; the marker stays for the next session);
- a lost connection ends the injector without taking the marker: the next session's
  injector, reading from the same queue position, sends it again.

Delivery is at least once: a request that timed out may have reached Cortex, and the
marker is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bridge.clock import ClockMapping
from bridge.cortex.protocol import ConnectionLost, CortexError, ErrorCode
from bridge.markers.marker import Marker, MarkerValue
from bridge.markers.queue import QueueReader
from bridge.pipeline import HeadsetClock
from bridge.status import EventName

log = logging.getLogger(__name__)

# Not in the docs' error list; the simulator's codes ([U], docs/simulator.md).
RECORD_NOT_FOUND = -32110
RECORD_IN_PROGRESS = -32111
NO_RECORD = -32112

RECORD_RETRY_SECONDS = 30.0
RETRY_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 5.0  # longest wait for the EEG subscription before injecting
READY_POLL_SECONDS = 0.02
MAX_ATTEMPTS = 3  # an unknown error or a timeout: this many tries, then the marker is refused


class Action(StrEnum):
    REJECT = "reject"  # Cortex refuses this marker for good: log, count, next
    WAIT_RECORD = "wait-record"  # no record: open one, keep the marker
    END = "end"  # the session is gone: stop, keep the marker for the next session
    RETRY = "retry"  # unknown: try again a few times, then reject


ERROR_ACTIONS: Mapping[int, Action] = {
    ErrorCode.MARKER_TOO_OLD: Action.REJECT,
    ErrorCode.INVALID_PARAMS: Action.REJECT,
    ErrorCode.MISSING_PARAMS: Action.REJECT,
    NO_RECORD: Action.WAIT_RECORD,
    RECORD_NOT_FOUND: Action.WAIT_RECORD,
    ErrorCode.SESSION_NOT_FOUND: Action.END,
    ErrorCode.HEADSET_NOT_FOUND: Action.END,
}


def action_for(code: int, attempts: int) -> Action:
    """What to do after Cortex answered ``code`` to the ``attempts``-th try of a marker."""
    action = ERROR_ACTIONS.get(code, Action.RETRY)
    if action is Action.RETRY and attempts >= MAX_ATTEMPTS:
        return Action.REJECT
    return action


@dataclass(frozen=True, slots=True)
class InjectArgs:
    """The ``injectMarker`` parameters of one marker (besides token and session)."""

    time_ms: float
    value: MarkerValue
    label: str
    port: str


def inject_args(marker: Marker, mapping: ClockMapping) -> InjectArgs:
    """The marker's LSL time as Cortex epoch milliseconds (to the microsecond)."""
    return InjectArgs(
        round(mapping.to_cortex_ms(marker.lsl_time), 3), marker.value, marker.label, marker.port
    )


@dataclass
class InjectorStats:
    """Per-headset counts, kept across sessions."""

    injected: int = 0
    rejected: int = 0


InjectFn = Callable[[InjectArgs], Awaitable[object]]
OpenRecordFn = Callable[[], Awaitable[str]]


class SessionInjector:
    """Sends one headset's queued markers into one Cortex session."""

    def __init__(
        self,
        headset_id: str,
        reader: QueueReader,
        clock: HeadsetClock,
        inject: InjectFn,
        open_record: OpenRecordFn,
        stats: InjectorStats | None = None,
        *,
        retry_seconds: float = RETRY_SECONDS,
        record_retry_seconds: float = RECORD_RETRY_SECONDS,
        ready: Callable[[], bool] | None = None,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
    ) -> None:
        self.headset_id = headset_id
        self.reader = reader
        self.clock = clock
        self._inject = inject
        self._open_record = open_record
        self.stats = stats if stats is not None else InjectorStats()
        self.record_ready = False
        self._retry = retry_seconds
        self._record_retry = record_retry_seconds
        self._warned_record = False
        self._ready = ready
        self._ready_timeout = ready_timeout

    async def run(self) -> None:
        """Until cancelled or the session/connection ends (markers stay queued)."""
        try:
            await self._loop()
        except ConnectionLost:
            log.info("headset %s: connection lost; %d marker(s) wait for the next session",
                     self.headset_id, self.reader.pending)

    async def _loop(self) -> None:
        await self._wait_ready()
        attempts = 0
        while True:
            if not self.record_ready:
                await self._ensure_record()
            marker = await self.reader.next()
            attempts += 1
            try:
                await self._inject(inject_args(marker, self.clock.mapping))
            except CortexError as exc:
                action = action_for(exc.code, attempts)
                if action is Action.END:
                    log.info("headset %s: session gone (%s); markers wait", self.headset_id, exc)
                    return
                if action is Action.WAIT_RECORD:
                    log.warning("headset %s: %s; opening a new record", self.headset_id, exc)
                    self.record_ready = False
                    attempts = 0
                    continue
                if action is Action.RETRY:
                    await asyncio.sleep(self._retry)
                    continue
                self._reject(marker, str(exc))
                attempts = 0
            except TimeoutError:
                if attempts >= MAX_ATTEMPTS:
                    self._reject(marker, "no answer from Cortex")
                    attempts = 0
                # else the next turn of the loop asks again
            else:
                self.reader.advance()
                self.stats.injected += 1
                attempts = 0

    async def _wait_ready(self) -> None:
        """Give the session a moment to subscribe to EEG first: a marker injected before
        that is recorded but never appears in the MARKERS column, so it is not echoed."""
        if self._ready is None:
            return
        deadline = asyncio.get_running_loop().time() + self._ready_timeout
        while not self._ready() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(READY_POLL_SECONDS)

    def _reject(self, marker: Marker, reason: str) -> None:
        self.reader.advance()
        self.stats.rejected += 1
        self.reader.events.emit(EventName.MARKER_REFUSED, self.headset_id, value=marker.value,
                                origin=marker.origin, marker_time=marker.lsl_time, reason=reason)
        log.error(
            "headset %s: Cortex refused marker %r (label %r, from %s, LSL time %.6f): %s; "
            "%d refused so far",
            self.headset_id, marker.value, marker.label, marker.origin, marker.lsl_time,
            reason, self.stats.rejected,
        )

    async def _ensure_record(self) -> None:
        while not self.record_ready:
            try:
                record_id = await self._open_record()
            except CortexError as exc:
                if exc.code == RECORD_IN_PROGRESS:
                    log.info("headset %s: a record is already in progress; markers go there",
                             self.headset_id)
                    self.record_ready = True
                    return
                if not self._warned_record:
                    self._warned_record = True
                    hint = (
                        " (createRecord needs an activated session: check cortex.activate "
                        "and the licence)"
                        if exc.code == ErrorCode.SESSION_NOT_ACTIVATED else ""
                    )
                    log.warning(
                        "headset %s: cannot open a record, markers wait in the queue: %s%s; "
                        "retrying every %.0f s",
                        self.headset_id, exc, hint, self._record_retry,
                    )
                await asyncio.sleep(self._record_retry)
            else:
                self.record_ready = True
                self._warned_record = False
                log.info("headset %s: record %s open; injecting markers (%d waiting)",
                         self.headset_id, record_id or "(none: Cortex 1.x)", self.reader.pending)
