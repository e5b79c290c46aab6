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

Delivery is exactly once where Cortex can be asked: every marker carries its queue
identity in ``extras`` (:data:`EXTRAS_KEY`); a marker whose answer was lost (a timeout, a
lost connection, a stall) is "in doubt", and before it is sent again the record it may
have landed in is looked up (``getRecordInfos``). Found: counted as a duplicate avoided
and not sent. Where Cortex cannot say (Cortex 1.x has no records), it is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.clock import ClockMapping
from bridge.cortex.protocol import ConnectionLost, CortexError, ErrorCode
from bridge.markers.marker import Marker, MarkerValue
from bridge.markers.queue import QueueReader
from bridge.pipeline import HeadsetClock
from bridge.status import EventName

log = logging.getLogger(__name__)

# The record codes of the Cortex 1.x error table (seed 001; cortex/errors.py): the v2
# docs describe these errors without their numbers.
RECORDING_STOPPED = -32011  # the session has no record (any more): open one
RECORDING_STARTED = -32017  # a record is already in progress
SESSION_CLOSED = -32008
SESSION_HEADSET_DISCONNECTED = -32010
EXTRAS_KEY = "cortexBridgeId"  # the marker's identity in injectMarker's extras

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
    RECORDING_STOPPED: Action.WAIT_RECORD,
    ErrorCode.SESSION_NOT_FOUND: Action.END,
    SESSION_CLOSED: Action.END,
    SESSION_HEADSET_DISCONNECTED: Action.END,
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
    uid: str = ""

    @property
    def extras(self) -> dict[str, str]:
        return {EXTRAS_KEY: self.uid} if self.uid else {}


def inject_args(marker: Marker, mapping: ClockMapping) -> InjectArgs:
    """The marker's LSL time as Cortex epoch milliseconds (to the microsecond)."""
    return InjectArgs(
        round(mapping.to_cortex_ms(marker.lsl_time), 3), marker.value, marker.label,
        marker.port, marker.uid,
    )


@dataclass
class InjectorStats:
    """Per-headset counts and the marker in doubt, kept across sessions."""

    injected: int = 0
    rejected: int = 0  # refused by Cortex (reasons in ``refusals``)
    duplicates_avoided: int = 0  # in doubt, found recorded: not sent again
    resent_unverified: int = 0  # in doubt, Cortex could not tell: sent again
    refusals: dict[str, int] = field(default_factory=dict)  # Cortex's reason -> count
    in_doubt: tuple[str, str] | None = None  # (marker uid, record id) whose answer was lost


InjectFn = Callable[[InjectArgs], Awaitable[object]]
OpenRecordFn = Callable[[], Awaitable[str]]
RecordedFn = Callable[[str, str], Awaitable[bool | None]]  # (record id, uid): found?


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
        recorded: RecordedFn | None = None,
        on_silent: Callable[[str], None] | None = None,
    ) -> None:
        self.headset_id = headset_id
        self._recorded = recorded
        self._on_silent = on_silent
        self.record_id = ""
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
                if await self._already_recorded(marker):
                    self.reader.advance()
                    attempts = 0
                    continue
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
                self._reject(marker, exc.cortex_message or str(exc))
                attempts = 0
            except asyncio.CancelledError:
                # Ended mid-request (the session went): Cortex may have recorded it. (Ended
                # while looking up an earlier doubt: that doubt, and its record, stand.)
                doubt = self.stats.in_doubt
                if doubt is None or doubt[0] != marker.uid:
                    self.stats.in_doubt = (marker.uid, self.record_id)
                raise
            except (TimeoutError, ConnectionLost) as exc:
                # The answer was lost: Cortex may have recorded it. Ask before sending again.
                self.stats.in_doubt = (marker.uid, self.record_id)
                if isinstance(exc, ConnectionLost):
                    raise  # run() says so; the next session's injector asks
                if attempts >= MAX_ATTEMPTS:
                    # A connection that answers nothing is half-open: reconnect (the
                    # marker stays queued, in doubt) rather than refuse a good marker.
                    if self._on_silent is not None:
                        self._on_silent(f"Cortex did not answer injectMarker {attempts} times")
                    return
            else:
                self.reader.advance()
                self.stats.injected += 1
                self.stats.in_doubt = None
                attempts = 0

    async def _already_recorded(self, marker: Marker) -> bool:
        """For the marker in doubt: was it recorded? Found: a duplicate avoided."""
        doubt = self.stats.in_doubt
        if doubt is None or doubt[0] != marker.uid:
            return False
        uid, record_id = doubt
        found = await self._recorded(record_id, uid) if self._recorded is not None else None
        self.stats.in_doubt = None
        if found:
            self.stats.duplicates_avoided += 1
            log.info("headset %s: marker %r (label %r) was recorded although its answer was "
                     "lost; not sent again", self.headset_id, marker.value, marker.label)
            return True
        if found is None:
            self.stats.resent_unverified += 1
            log.info("headset %s: marker %r's answer was lost and Cortex cannot say whether "
                     "it was recorded; sending it again", self.headset_id, marker.value)
        return False

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
        self.stats.refusals[reason] = self.stats.refusals.get(reason, 0) + 1
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
                self.record_id = record_id
            except CortexError as exc:
                if exc.code == RECORDING_STARTED:
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
