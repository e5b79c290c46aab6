"""Retry or fatal: the one table every source's reconnect loop uses, and its loop."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus, InvalidURI
from websockets.http11 import Response

from bridge.backoff import Backoff
from bridge.cortex.api import ShapeError
from bridge.cortex.auth import AccessPending
from bridge.cortex.protocol import ConnectionLost, CortexError
from bridge.errors import AuthError, ConfigError, ExitCode
from bridge.supervise import Fatal, Reconnect, Retry, Supervisor, classify


def status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers()))


@pytest.mark.parametrize("exc", [
    OSError("refused"), ConnectionRefusedError(), TimeoutError(), ssl.SSLError("handshake"),
    ConnectionLost("closed"), CortexError("subscribe", -32016, "unavailable"),
    ShapeError("no id"), ConnectionClosedError(None, None), InvalidURI("x", "bad"),
    status(500),
])
def test_what_a_new_attempt_may_cure_is_retried(exc: Exception) -> None:
    outcome = classify(exc)
    assert isinstance(outcome, Retry) and not outcome.at_once and not outcome.unexpected


@pytest.mark.parametrize("exc", [
    AuthError("refused"), ConfigError(["cortex.url: bad"]), AccessPending("not yet"),
])
def test_our_own_errors_end_the_bridge_with_their_exit_code(exc: Exception) -> None:
    outcome = classify(exc)
    assert isinstance(outcome, Fatal) and outcome.error is exc


def test_exit_codes_travel_with_the_error() -> None:
    outcome = classify(AuthError("refused"))
    assert isinstance(outcome, Fatal) and outcome.error.exit_code is ExitCode.AUTH


def test_a_reconnect_is_at_once_and_a_429_waits() -> None:
    again = classify(Reconnect("reloaded"))
    assert isinstance(again, Retry) and again.at_once and again.reason == "reloaded"
    busy = classify(status(429))
    assert isinstance(busy, Retry) and busy.min_delay >= 5.0


def test_a_bug_is_retried_but_marked_unexpected() -> None:
    outcome = classify(KeyError("id"))
    assert isinstance(outcome, Retry) and outcome.unexpected


async def test_the_loop_backs_off_resets_after_a_healthy_run_and_raises_fatal() -> None:
    stop = asyncio.Event()
    retries: list[tuple[str, float]] = []
    backoff = Backoff(initial=0.01, cap=0.02, rand=lambda: 1.0)
    supervisor = Supervisor(backoff, stop, stable_after=60.0,
                            on_retry=lambda outcome, delay: retries.append((outcome.reason,
                                                                            delay)))
    attempts = iter([OSError("one"), OSError("two"), "healthy", OSError("three"),
                     AuthError("refused")])

    async def attempt() -> None:
        step = next(attempts)
        if step == "healthy":
            supervisor.mark_healthy()
            raise ConnectionLost("dropped after a good run")
        assert isinstance(step, Exception)
        raise step

    with pytest.raises(AuthError):
        await supervisor.run(attempt)
    assert [reason for reason, _ in retries] == [
        "OSError: one", "OSError: two", "ConnectionLost: dropped after a good run",
        "OSError: three"]
    # 0.01, then doubled to the 0.02 cap; a healthy run starts again from 0.01.
    assert [delay for _, delay in retries] == [0.01, 0.02, 0.01, 0.02]


async def test_a_stop_ends_the_loop_quietly_even_while_failing() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(Backoff(initial=10.0, cap=10.0), stop, stable_after=60.0,
                            on_retry=lambda outcome, delay: stop.set())

    async def attempt() -> None:
        raise OSError("down")

    await asyncio.wait_for(supervisor.run(attempt), 2.0)  # the 10 s backoff is cut short


async def test_until_done_returns_after_the_first_success_and_honours_retry_after() -> None:
    from bridge.errors import Transient

    stop = asyncio.Event()
    delays: list[float] = []
    busy = Transient("503 no free worker")
    busy.retry_after = 0.05
    outcomes: list[BaseException | None] = [busy, None]

    async def attempt() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    supervisor = Supervisor(Backoff(initial=0.01, cap=0.01), stop, stable_after=60.0,
                            on_retry=lambda outcome, delay: delays.append(delay))
    await asyncio.wait_for(supervisor.run(attempt, until_done=True), 2.0)
    assert outcomes == [] and delays == [pytest.approx(0.05)]


@pytest.mark.parametrize(("code", "cap"), [(-32033, 300.0), (-32041, 300.0), (-32024, 3600.0)])
def test_a_login_is_waited_for_minutes_a_licence_up_to_an_hour(code: int, cap: float) -> None:
    """While the bridge waits for the user it has no connection, so nothing wakes it:
    a login or an agreement is looked for at least every 5 minutes, a licence hourly."""
    from bridge.cortex.errors import escalate

    outcome = classify(escalate(CortexError("authorize", code, "refused")))
    assert isinstance(outcome, Retry) and outcome.patient and outcome.patience == cap
    stop = asyncio.Event()
    delays: list[float] = []
    supervisor = Supervisor(Backoff(initial=0.01, cap=0.01), stop, stable_after=60.0,
                            on_retry=lambda o, delay: delays.append(delay))
    supervisor.patient._rand = lambda: 1.0

    async def attempt() -> None:
        if len(delays) >= 12:
            stop.set()
        raise escalate(CortexError("authorize", code, "refused"))

    async def run() -> None:
        import bridge.supervise as supervise

        async def no_wait(seconds: float, *events: asyncio.Event) -> None:
            return None

        original, supervise.pause = supervise.pause, no_wait  # type: ignore[assignment]
        try:
            await supervisor.run(attempt)
        finally:
            supervise.pause = original  # type: ignore[assignment]

    asyncio.run(run())
    assert max(delays) == cap and delays[0] == 5.0
