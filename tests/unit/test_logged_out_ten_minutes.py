"""Cortex logged out for 10 minutes: at most 10 WARNING lines (issue 15), proved on a fake
clock with the real parts that decide it: the supervisor's patient backoff (its delays,
recorded from :class:`~bridge.supervise.Supervisor` itself) and :class:`~bridge.repeats.
Repeats`, which says the first retry and then summaries at a falling rate.
``tests/e2e/test_logged_out.py`` checks the same with the bridge and the simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from bridge.backoff import Backoff
from bridge.cortex.errors import USER_PATIENCE, error_rule, escalate
from bridge.cortex.protocol import CortexError
from bridge.repeats import Repeats
from bridge.supervise import Retry, Supervisor

TEN_MINUTES = 600.0
MOST_LINES = 10


def supervisor_delays(retries: int, rand: Callable[[], float]) -> list[float]:
    """The delays the real Supervisor chooses while every attempt fails with Cortex's
    "not logged in" (-32033, escalated as the source escalates it). The waits themselves
    are skipped (``wake`` is set), so this takes milliseconds, not ten minutes."""
    delays: list[float] = []

    async def main() -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        wake.set()  # every backoff pause returns at once: the clock is ours

        def on_retry(outcome: Retry, delay: float) -> None:
            assert outcome.patient and "log in to EMOTIV Launcher" in outcome.reason
            delays.append(delay)
            if len(delays) >= retries:
                stop.set()

        async def attempt() -> None:
            raise escalate(CortexError("authorize", -32033, "not logged in"))

        supervisor = Supervisor(Backoff(cap=1.0), stop, stable_after=10.0,
                                on_retry=on_retry, wake=wake)  # fmt: skip
        supervisor.patient._rand = rand
        await supervisor.run(attempt)

    asyncio.run(main())
    return delays


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
def test_ten_minutes_logged_out_say_at_most_ten_warnings(seed: int | None) -> None:
    # None: the shortest jitter every time (the most attempts there can be).
    rand = (lambda: 0.0) if seed is None else random.Random(seed).random
    delays = supervisor_delays(40, rand)
    assert all(d <= USER_PATIENCE for d in delays) and delays[-1] == pytest.approx(
        USER_PATIENCE, rel=0.5)  # a login is looked for at least every 5 minutes
    repeats, now, attempts, lines = Repeats(), 0.0, 0, 0
    key = ("cortex", error_rule(-32033).hint)
    for delay in delays:  # as CortexSource._retrying: a line only when Repeats says so
        if now > TEN_MINUTES:
            break
        attempts += 1
        if repeats.note(key, now) is not None:
            lines += 1
        now += delay
    assert attempts >= 6  # it kept asking
    assert lines <= MOST_LINES, (lines, attempts)
