"""Diagnostics events: what happened to the data, when, on the LSL clock.

Gaps, stalls, reconnects, session restarts and clock re-syncs used to live only in the
log, which nobody archives with a recording. An :class:`Event` is the same fact as data:
a name, the headset it concerns (``""`` for the bridge as a whole), a few JSON-able
fields, and the LSL time at which it *happened* (not when it was noticed: a gap is
stamped at its first missing sample, a stall at the last frame before the silence).

The :class:`EventHub` lives on the status board, one per application, and fans events
out to its sinks (the diagnostics LSL outlet, the status page) and keeps the last few
for the page. It is pure: the clock is handed in (``pylsl.local_clock`` in the daemon),
so the module imports no I/O and is tested with plain data.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

Clock = Callable[[], float]
RECENT_EVENTS: Final = 50  # kept for the status page's "last warnings"


class EventName(StrEnum):
    """Every event the bridge emits; the names are part of the recording's format."""

    BRIDGE_STARTED = "bridge_started"  # version, config_digest
    BRIDGE_STOPPING = "bridge_stopping"  # version, config_digest, exit
    CORTEX_CONNECTED = "cortex_connected"  # version, reconnect (true after a loss)
    CORTEX_LOST = "cortex_lost"  # reason
    SESSION_STARTED = "session_started"  # session, activated
    SESSION_RESTARTED = "session_restarted"  # session, activated, sessions (count so far)
    SESSION_ENDED = "session_ended"  # reason
    LICENCE_DEGRADED = "licence_degraded"  # reason, code (session opened unactivated)
    STREAM_REFUSED = "stream_refused"  # stream, code, reason (a failed subscribe)
    CLOCK_RESYNC = "clock_resync"  # method, offset, change (null on the first sync)
    CLOCK_STEP = "clock_step"  # step (s, sample times against arrival)
    GAP = "gap"  # stream, missing (by COUNTER), counter_from, counter_to
    STREAM_STALLED = "stream_stalled"  # silent_s, cortex_answers
    STREAM_RESUMED = "stream_resumed"  # after_s (since the stall began)
    MARKER_REFUSED = "marker_refused"  # value, label, origin, marker_time, reason
    MARKER_DROPPED = "marker_dropped"  # value, origin, marker_time, dropped (so far)


# How bad each event is, for the page's colours and the "last warnings" list.
SEVERITY: Final[Mapping[EventName, str]] = {
    EventName.BRIDGE_STARTED: "info",
    EventName.BRIDGE_STOPPING: "info",
    EventName.CORTEX_CONNECTED: "info",
    EventName.CORTEX_LOST: "warning",
    EventName.SESSION_STARTED: "info",
    EventName.SESSION_RESTARTED: "warning",
    EventName.SESSION_ENDED: "warning",
    EventName.LICENCE_DEGRADED: "warning",
    EventName.STREAM_REFUSED: "warning",
    EventName.CLOCK_RESYNC: "info",
    EventName.CLOCK_STEP: "warning",
    EventName.GAP: "warning",
    EventName.STREAM_STALLED: "warning",
    EventName.STREAM_RESUMED: "info",
    EventName.MARKER_REFUSED: "error",
    EventName.MARKER_DROPPED: "error",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One diagnostics event. ``lsl_time`` is when it happened, on the LSL clock."""

    name: EventName
    headset: str
    lsl_time: float
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.name, "info")

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of the diagnostics outlet and the status page: ``event``,
        ``headset``, ``time`` (LSL seconds, also the sample's timestamp), the fields."""
        out: dict[str, Any] = {"event": self.name.value, "headset": self.headset,
                               "time": round(self.lsl_time, 6)}
        for key, value in self.fields.items():
            out.setdefault(key, _plain(value))
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    """JSON-able and finite: NaN/inf become null, floats keep microseconds, other objects
    their text (an enum's value, an exception's message)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


EventSink = Callable[[Event], None]


class EventHub:
    """Where the bridge's modules report events; sinks subscribe to it.

    ``emit`` is a one-liner at the place the fact happens. A sink that raises is
    removed from nothing and breaks nothing: the error goes to ``on_sink_error`` (the
    daemon logs it), because a diagnostics failure must never take the data path down.
    """

    def __init__(self, clock: Clock = time.monotonic, *, keep: int = RECENT_EVENTS) -> None:
        self.clock = clock
        self._sinks: list[EventSink] = []
        self.recent: deque[Event] = deque(maxlen=keep)
        self.counts: dict[str, int] = {}
        self.on_sink_error: Callable[[EventSink, Exception], None] = lambda sink, exc: None

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        """Add a sink; returns the function that removes it again."""
        self._sinks.append(sink)

        def unsubscribe() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)

        return unsubscribe

    def emit(
        self, name: EventName, headset: str = "", *, at: float | None = None, **fields: Any
    ) -> Event:
        """Record that ``name`` happened (to ``headset``) at LSL time ``at`` (default:
        now) and hand it to every sink."""
        event = Event(name, headset, self.clock() if at is None else at, fields)
        self.recent.append(event)
        self.counts[name.value] = self.counts.get(name.value, 0) + 1
        for sink in tuple(self._sinks):
            try:
                sink(event)
            except Exception as exc:  # a sink's bug must not reach the caller
                self.on_sink_error(sink, exc)
        return event

    def last(self, n: int = 10, headset: str | None = None) -> Iterator[Event]:
        """The newest ``n`` events (of ``headset`` if given), newest first."""
        count = 0
        for event in reversed(self.recent):
            if headset is None or event.headset == headset:
                yield event
                count += 1
                if count >= n:
                    return


class NoEvents(EventHub):
    """A hub that keeps nothing and has no sinks (objects built outside an application)."""

    def emit(
        self, name: EventName, headset: str = "", *, at: float | None = None, **fields: Any
    ) -> Event:
        return Event(name, headset, 0.0 if at is None else at, fields)


def config_digest(settings_json: str) -> str:
    """A short, stable digest of the configuration (secrets are masked before hashing by
    the caller), so a recording says which configuration made it."""
    return hashlib.sha256(settings_json.encode()).hexdigest()[:16]


__all__ = [
    "SEVERITY",
    "Event",
    "EventHub",
    "EventName",
    "EventSink",
    "NoEvents",
    "config_digest",
]
