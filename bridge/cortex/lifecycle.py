"""The Cortex lifecycle as data: connection and headset states, their transition tables,
and the streaming watch's ``decide``.

Nothing here does I/O or knows about asyncio, sockets or LSL, the way ``h11._state``
keeps HTTP's rules apart from the bytes: the driver (:mod:`bridge.cortex.source` and
:mod:`bridge.cortex.session`) reports what happened as an event, the table says where
that leads, and an event the table does not declare for the current state raises
:class:`LifecycleError` instead of being absorbed. ``docs/architecture.md`` draws the two
machines from these tables (:func:`mermaid`), and a test keeps the drawing current.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from bridge.cortex.errors import LICENCE_PATIENCE


class LifecycleError(RuntimeError):
    """An event arrived that the table does not declare for the current state: a bug in
    the driver, never a condition of Cortex's."""


class ConnectionState(StrEnum):
    """One connection to Cortex. The values are what the status view shows."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    AWAITING_APPROVAL = "waiting for access approval"
    AUTHORIZING = "authorizing"
    READY = "connected"
    BACKING_OFF = "unreachable"
    WAITING_FOR_USER = "waiting for the user"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FATAL = "fatal"


class ConnectionEvent(StrEnum):
    CONNECT = "connect"  # open the WebSocket
    ACCESS_PENDING = "access pending"  # hasAccessRight: not yet; requestAccess sent
    ACCESS_GRANTED = "access granted"  # hasAccessRight true, or warning 9
    AUTHORIZED = "authorized"  # a valid token (new or kept from the last connection)
    FAILED = "failed"  # a failure classified as retryable (supervise.classify)
    USER_NEEDED = "user needed"  # only the user can go on: log in, accept, approve
    RECONNECT = "reconnect"  # drop this connection and open a new one at once (reload)
    REFUSED = "refused"  # a failure classified as fatal (wrong credentials, rejected)
    BACKOFF_ELAPSED = "backoff elapsed"
    STOP = "stop"
    CLOSED = "closed"  # everything is cleaned up after a stop or a fatal error


C = ConnectionState
CE = ConnectionEvent
_LIVE = (C.CONNECTING, C.AWAITING_APPROVAL, C.AUTHORIZING, C.READY)

CONNECTION_TRANSITIONS: Mapping[tuple[ConnectionState, ConnectionEvent], ConnectionState] = {
    (C.DISCONNECTED, CE.CONNECT): C.CONNECTING,
    (C.CONNECTING, CE.ACCESS_PENDING): C.AWAITING_APPROVAL,
    (C.CONNECTING, CE.ACCESS_GRANTED): C.AUTHORIZING,
    (C.AWAITING_APPROVAL, CE.ACCESS_GRANTED): C.AUTHORIZING,
    (C.AUTHORIZING, CE.AUTHORIZED): C.READY,
    (C.BACKING_OFF, CE.BACKOFF_ELAPSED): C.CONNECTING,
    (C.WAITING_FOR_USER, CE.BACKOFF_ELAPSED): C.CONNECTING,
    **{(state, CE.FAILED): C.BACKING_OFF for state in _LIVE},
    **{(state, CE.USER_NEEDED): C.WAITING_FOR_USER for state in _LIVE},
    **{(state, CE.RECONNECT): C.CONNECTING for state in _LIVE},
    **{(state, CE.REFUSED): C.FATAL for state in _LIVE},
    **{(state, CE.STOP): C.STOPPING
       for state in (*_LIVE, C.DISCONNECTED, C.BACKING_OFF, C.WAITING_FOR_USER)},
    (C.STOPPING, CE.CLOSED): C.STOPPED,
    (C.FATAL, CE.CLOSED): C.STOPPED,
}


class HeadsetState(StrEnum):
    """One headset's way to a streaming session. The values are what the status view
    shows (``streaming`` gains "(not activated)" for an open, unactivated session)."""

    WAITING = "waiting"
    CONNECTING = "connecting"
    OPENING_SESSION = "opening session"
    SYNCING_CLOCK = "syncing clock"
    SUBSCRIBING = "subscribing"
    STREAMING = "streaming"
    ENDED = "ended"


class HeadsetEvent(StrEnum):
    START = "start"  # chosen by the selection, no task running for it
    CONNECTED = "connected"  # Cortex lists it as connected
    SESSION_OPENED = "session opened"
    CLOCK_SYNCED = "clock synced"
    SUBSCRIBED = "subscribed"  # at least the subscribe call answered
    RETRY_STREAMS = "retry streams"  # streams Cortex refused, asked for again
    END = "end"  # session closed or stopped by Cortex, headset lost, stall, failed call, stop
    RESTART = "restart"  # after the headset's retry delay


H = HeadsetState
HE = HeadsetEvent
_ACTIVE = (H.CONNECTING, H.OPENING_SESSION, H.SYNCING_CLOCK, H.SUBSCRIBING, H.STREAMING)

HEADSET_TRANSITIONS: Mapping[tuple[HeadsetState, HeadsetEvent], HeadsetState] = {
    (H.WAITING, HE.START): H.CONNECTING,
    (H.CONNECTING, HE.CONNECTED): H.OPENING_SESSION,
    (H.OPENING_SESSION, HE.SESSION_OPENED): H.SYNCING_CLOCK,
    (H.SYNCING_CLOCK, HE.CLOCK_SYNCED): H.SUBSCRIBING,
    (H.SUBSCRIBING, HE.SUBSCRIBED): H.STREAMING,
    (H.STREAMING, HE.RETRY_STREAMS): H.SUBSCRIBING,
    **{(state, HE.END): H.ENDED for state in (H.WAITING, *_ACTIVE)},
    (H.ENDED, HE.RESTART): H.WAITING,
}

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


@dataclass
class Machine(Generic[S, E]):
    """A state and the table it moves by; ``on_change(old, new, event)`` lets the driver
    mirror the state (the status board) without a second copy to keep in step."""

    table: Mapping[tuple[S, E], S]
    state: S
    on_change: Callable[[S, S, E], None] | None = field(default=None, repr=False)

    def handle(self, event: E) -> S:
        new = self.table.get((self.state, event))
        if new is None:
            raise LifecycleError(f"{event.value!r} is not declared in state {self.state.value!r}")
        old, self.state = self.state, new
        if self.on_change is not None:
            self.on_change(old, new, event)
        return new

    def allows(self, event: E) -> bool:
        return (self.state, event) in self.table


def connection_machine(
    on_change: Callable[[ConnectionState, ConnectionState, ConnectionEvent], None] | None = None,
) -> Machine[ConnectionState, ConnectionEvent]:
    return Machine(CONNECTION_TRANSITIONS, ConnectionState.DISCONNECTED, on_change)


def headset_machine(
    on_change: Callable[[HeadsetState, HeadsetState, HeadsetEvent], None] | None = None,
) -> Machine[HeadsetState, HeadsetEvent]:
    return Machine(HEADSET_TRANSITIONS, HeadsetState.WAITING, on_change)


def mermaid(table: Mapping[tuple[S, E], S], initial: S) -> str:
    """A Mermaid state diagram of ``table``; the docs embed it, a test regenerates it."""
    lines = ["stateDiagram-v2", f"    [*] --> {_node(initial)}"]
    for (source, event), target in table.items():
        lines.append(f"    {_node(source)} --> {_node(target)}: {event.value}")
    sources = {source for source, _ in table}
    for end in dict.fromkeys(target for target in table.values() if target not in sources):
        lines.append(f"    {_node(end)} --> [*]")
    return "\n".join(lines)


def diagrams() -> dict[str, str]:
    """The diagrams ``docs/architecture.md`` embeds, by the name of their marker."""
    return {
        "connection": mermaid(CONNECTION_TRANSITIONS, ConnectionState.DISCONNECTED),
        "headset": mermaid(HEADSET_TRANSITIONS, HeadsetState.WAITING),
    }


def _node(state: StrEnum) -> str:
    return state.name.lower()


# ---- the streaming watch: stalls, clock steps, re-syncs, refused streams -------------

BASELINE_WEIGHT = 0.1  # how fast the delivery-lag baseline follows slow drift
STALL_RATE_PERIODS = 3.0  # a stall lasts at least this many periods of the fastest stream
# Refused streams are asked for again at least this often: the licence patience (an
# hour), as for every licence refusal (the table's subscribe rows say so).
RETRY_CAP = LICENCE_PATIENCE


class Verdict(StrEnum):
    """What the streaming loop must do after one look at its counters."""

    CONTINUE = "continue"
    STALLED = "stalled"  # nothing arrived for longer than the stall limit
    CLOCK_STEP = "clock step"  # sample times jumped against their arrival: re-sync now
    RESYNC = "resync"  # the periodic re-sync is due
    RETRY_STREAMS = "retry streams"  # streams Cortex refused are due again


@dataclass(frozen=True, slots=True)
class Counters:
    """What the streaming loop reads from its pipelines on one tick.

    ``received`` grows with every frame of the session (samples plus malformed frames);
    ``fastest_rate`` is the highest nominal rate among its streams (0: none regular);
    ``fastest_samples`` that stream's sample count and ``lag`` its newest sample's arrival
    minus sample time, both on the LSL clock (None before its first sample)."""

    received: int
    fastest_rate: float
    fastest_samples: int
    lag: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    amount: float = 0.0  # STALLED: seconds without data; CLOCK_STEP: the step in seconds


@dataclass(slots=True)
class WatchPolicy:
    stall_timeout: float  # cortex.stall_timeout
    resync_interval: float = 60.0
    step_threshold: float = 0.5
    retry_interval: float = 30.0


@dataclass(slots=True)
class Watch:
    """The memory ``decide`` needs between ticks; reset it when the session (re)starts
    with :meth:`start`."""

    policy: WatchPolicy
    last_received: int = -1
    last_change: float = 0.0
    seen_samples: int = -1
    baseline: float | None = None
    pending: float | None = None
    next_resync: float = 0.0
    retry_at: float = float("inf")
    retry_gap: float = 0.0

    def start(self, now: float) -> None:
        self.last_received = -1
        self.last_change = now
        self.next_resync = now + self.policy.resync_interval
        self.forget_lag()

    def forget_lag(self) -> None:
        """After a re-sync the lag is learned afresh; the sample count is taken anew
        because stream counters outlive sessions."""
        self.baseline = None
        self.pending = None
        self.seen_samples = -1

    def resynced(self, now: float) -> None:
        self.next_resync = now + self.policy.resync_interval
        self.forget_lag()

    def subscribed(self, now: float, retry_later: bool) -> None:
        """Restart the stall clock after a subscribe; schedule the retry of refused
        streams when there are any, each retry twice as late as the one before, up to
        an hour (a licence bought meanwhile is found within that)."""
        self.last_received = -1
        self.last_change = now
        if not retry_later:
            self.retry_at = float("inf")
            self.retry_gap = self.policy.retry_interval
            return
        if self.retry_gap <= 0:
            self.retry_gap = self.policy.retry_interval
        self.retry_at = now + self.retry_gap
        self.retry_gap = min(self.retry_gap * 2.0, RETRY_CAP)


def decide(watch: Watch, now: float, counters: Counters) -> Decision:
    """One look at a streaming session: the first thing that needs doing, or CONTINUE.

    A stall is time without any new frame, at least ``STALL_RATE_PERIODS`` periods of the
    fastest stream. A clock step is a jump in the delivery lag of fresh samples beyond the
    threshold plus one sample period; a lag that grows may be a backlog not read yet, so a
    step backwards counts only when the next fresh sample confirms it, while a lag that
    shrinks cannot come from any delay and counts at once.
    """
    if counters.received != watch.last_received:
        watch.last_received = counters.received
        watch.last_change = now
    rate = counters.fastest_rate
    if rate > 0:
        silent = now - watch.last_change
        if silent > max(watch.policy.stall_timeout, STALL_RATE_PERIODS / rate):
            return Decision(Verdict.STALLED, silent)
        step = _observe_lag(watch, counters, jitter=1.0 / rate)
        if step is not None:
            return Decision(Verdict.CLOCK_STEP, step)
    if now >= watch.next_resync:
        return Decision(Verdict.RESYNC)
    if now >= watch.retry_at:
        return Decision(Verdict.RETRY_STREAMS)
    return Decision(Verdict.CONTINUE)


def _observe_lag(watch: Watch, counters: Counters, jitter: float) -> float | None:
    if watch.seen_samples < 0 or counters.lag is None:
        watch.seen_samples = counters.fastest_samples
        return None
    if counters.fastest_samples == watch.seen_samples:
        return None  # nothing fresh: an old lag says nothing
    watch.seen_samples = counters.fastest_samples
    lag = counters.lag
    if watch.baseline is None:
        watch.baseline = lag
        return None
    limit = watch.policy.step_threshold + jitter
    change = lag - watch.baseline
    if abs(change) > limit:
        confirmed = watch.pending is not None and abs(lag - watch.pending) <= limit
        if change < 0 or confirmed:
            watch.forget_lag()
            return -change
        watch.pending = lag
        return None
    watch.pending = None
    watch.baseline += BASELINE_WEIGHT * change
    return None
