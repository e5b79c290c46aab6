"""Retry or give up: one place decides, for every source's reconnect loop.

``classify(exc)`` maps whatever ended a connection attempt to :class:`Retry` or
:class:`Fatal`, the way websockets' ``process_exception`` decides for its reconnecting
client, so the Cortex and the Emogg loops share one table instead of each keeping its own
``except`` tuple. :class:`Supervisor` is the loop around it: backoff, a stable connection
resets the backoff, a stop or a wake-up ends the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from bridge.backoff import Backoff
from bridge.config.uris import scrub_userinfo
from bridge.errors import BridgeError, Reconnect, Transient, UserActionNeeded

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS_DELAY = 5.0  # an HTTP 429 at the handshake: wait at least this long
PATIENT_INITIAL = 5.0  # waiting for the user: the first retry after this long ...
PATIENT_CAP = 3600.0  # ... doubling to an hour at most: while the bridge waits it has no
# connection, so warnings 2/17 (logged in, accepted) cannot wake it; a login is therefore
# waited for with a shorter patience (UserActionNeeded.patience)


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after the backoff (at once for ``at_once``, at least ``min_delay``)."""

    reason: str
    at_once: bool = False
    min_delay: float = 0.0
    unexpected: bool = False  # not a condition we know: log it with its traceback
    patient: bool = False  # only the user can cure it: the patient backoff ...
    patience: float = 0.0  # ... growing to this (0: PATIENT_CAP)


@dataclass(frozen=True, slots=True)
class Fatal:
    """End the bridge with ``error`` (its exit code and its one-line message)."""

    error: BridgeError


Outcome = Retry | Fatal


def describe(exc: BaseException) -> str:
    """One line for a log (our exceptions carry no secrets): what the server said for a
    refused handshake or a close, else ``Type: message``."""
    if isinstance(exc, InvalidStatus):
        return f"handshake refused with HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        if rcvd is None:
            return "connection lost (no close frame)"
        return f"closed by the server (code {rcvd.code}" + (
            f", {rcvd.reason})" if rcvd.reason else ")")
    text = scrub_userinfo(str(exc))  # an exception may quote a URL with its credentials
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _as_bridge_error(exc: BaseException) -> BridgeError:
    assert isinstance(exc, BridgeError)
    return exc


def _transient(exc: BaseException) -> Retry:
    assert isinstance(exc, Transient)
    if exc.user_action:
        patience = exc.patience if isinstance(exc, UserActionNeeded) else PATIENT_CAP
        return Retry(exc.user_action, min_delay=exc.retry_after, patient=True,
                     patience=patience)
    return Retry(describe(exc), min_delay=exc.retry_after)


def _handshake(exc: BaseException) -> Outcome:
    if isinstance(exc, InvalidStatus) and exc.response.status_code == 429:
        return Retry(describe(exc), min_delay=TOO_MANY_REQUESTS_DELAY)
    return Retry(describe(exc))


# First match wins: the order goes from the most to the least specific type.
RULES: tuple[tuple[type[BaseException], Callable[[BaseException], Outcome]], ...] = (
    (Reconnect, lambda exc: Retry(str(exc), at_once=True)),
    (Transient, lambda exc: _transient(exc)),
    (BridgeError, lambda exc: Fatal(_as_bridge_error(exc))),  # refused credentials, config
    (InvalidHandshake, _handshake),  # includes InvalidStatus
    (InvalidURI, lambda exc: Retry(describe(exc))),
    (ConnectionClosed, lambda exc: Retry(describe(exc))),
    (TimeoutError, lambda exc: Retry(describe(exc))),
    (OSError, lambda exc: Retry(describe(exc))),
)


def classify(exc: BaseException) -> Outcome:
    """Retry or fatal for what ended an attempt. An exception no rule names is a bug of
    ours or a library's: the source retries (a daemon that stops on a bug loses data),
    and the caller logs it with its traceback."""
    for kind, rule in RULES:
        if isinstance(exc, kind):
            return rule(exc)
    return Retry(describe(exc), unexpected=True)


async def cancel_and_wait(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel ``tasks`` and wait until they have finished, whatever they raise.

    Awaiting a cancelled task inside ``suppress(CancelledError)`` would also swallow a
    cancellation of the *caller* that arrives meanwhile (the caller then runs on after
    being told to stop); ``asyncio.wait`` never raises for the awaited tasks, so the
    caller's own cancellation still reaches it."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled():
            task.exception()  # retrieved: the caller decided it does not matter


async def pause(seconds: float, *events: asyncio.Event) -> None:
    """Sleep, ending early when any of ``events`` is set (a stop, a reload)."""
    if seconds <= 0 or any(event.is_set() for event in events):
        return
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(*waiters)


class Supervisor:
    """Runs ``attempt`` again and again until ``stop``: each failure is classified; a fatal
    one is raised, a retryable one waits its backoff.

    A connection that was healthy (``mark_healthy()`` from inside the attempt, or one that
    lasted ``stable_after`` seconds) resets the backoff, so the first retry after a long
    good run comes fast. ``wake`` ends a backoff early without stopping (a reload).
    """

    def __init__(
        self,
        backoff: Backoff,
        stop: asyncio.Event,
        *,
        stable_after: float,
        on_retry: Callable[[Retry, float], None],
        wake: asyncio.Event | None = None,
    ) -> None:
        self.backoff = backoff
        self.patient = Backoff(initial=PATIENT_INITIAL, cap=PATIENT_CAP)
        self._stop = stop
        self._stable_after = stable_after
        self._on_retry = on_retry
        self._events = (stop,) if wake is None else (stop, wake)
        self._healthy = False

    def mark_healthy(self) -> None:
        self._healthy = True

    async def run(
        self,
        attempt: Callable[[], Awaitable[None]],
        before: Callable[[], float] | None = None,
        *,
        until_done: bool = False,
    ) -> None:
        """``before()`` runs ahead of each attempt and may return a delay to wait first
        (a connection rate limit). With ``until_done`` an attempt that returns ends the
        loop (a call to repeat until it works); otherwise the attempt is started again."""
        while not self._stop.is_set():
            if before is not None:
                wait = before()
                if wait > 0:
                    await pause(wait, self._stop)
                    continue
            started = time.monotonic()
            self._healthy = False
            try:
                await attempt()
            except Exception as exc:
                if self._stop.is_set():
                    return
                outcome = classify(exc)
                if isinstance(outcome, Fatal):
                    raise outcome.error from None
                if outcome.unexpected:
                    log.error("unexpected failure, retrying", exc_info=exc)
                if outcome.at_once:
                    self.backoff.reset()
                    self._on_retry(outcome, 0.0)
                    continue
                if self._healthy or time.monotonic() - started > self._stable_after:
                    self.backoff.reset()
                if not outcome.patient:
                    self.patient.reset()
                if outcome.patient:
                    self.patient.cap = max(outcome.patience or PATIENT_CAP, PATIENT_INITIAL)
                backoff = self.patient if outcome.patient else self.backoff
                delay = max(backoff.next_delay(), outcome.min_delay)
                self._on_retry(outcome, delay)
                await pause(delay, *self._events)
            else:
                self.backoff.reset()
                self.patient.reset()
                if until_done:
                    return
                if not self._stop.is_set():
                    await pause(self.backoff.next_delay(), *self._events)
