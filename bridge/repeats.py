"""Say a repeated condition once, then summarise it at a falling rate.

A bridge that waits for the user, a licence or a headset retries for hours; a log line
per retry buries the one line that matters (2,900 lines a day for one refused stream).
:class:`Repeats` decides, from plain numbers, whether this occurrence is said: the first
one, then a summary after 1, 2, 4, 8, ... minutes (at most one an hour), and one line
when the condition ends.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

FIRST_SUMMARY_AFTER = 60.0  # seconds from the first occurrence to the first summary
LONGEST_SUMMARY_GAP = 3600.0


@dataclass(frozen=True, slots=True)
class Say:
    """What to log: ``count`` occurrences over ``seconds`` (the first: 1 over 0)."""

    first: bool
    count: int
    seconds: float

    def summary(self) -> str:
        """``12 attempts in 10 min``, for the end of a summary line."""
        return f"{self.count} attempts in {duration(self.seconds)}"


@dataclass(slots=True)
class _Run:
    since: float
    count: int = 0
    next_summary: float = 0.0
    gap: float = FIRST_SUMMARY_AFTER


@dataclass(slots=True)
class Repeats:
    """Per key (a condition: "Cortex unreachable", "headset X: -32004"), whether to say
    this occurrence."""

    runs: dict[Hashable, _Run] = field(default_factory=dict)

    def note(self, key: Hashable, now: float) -> Say | None:
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = _Run(since=now, count=1, next_summary=now + FIRST_SUMMARY_AFTER)
            return Say(True, 1, 0.0)
        run.count += 1
        if now < run.next_summary:
            return None
        run.gap = min(run.gap * 2.0, LONGEST_SUMMARY_GAP)
        run.next_summary = now + run.gap
        return Say(False, run.count, now - run.since)

    def end(self, key: Hashable, now: float) -> Say | None:
        """The condition is over: how long it lasted, if it was said more than once."""
        run = self.runs.pop(key, None)
        if run is None or run.count < 2:
            return None
        return Say(False, run.count, now - run.since)

    def active(self, key: Hashable) -> bool:
        return key in self.runs


def duration(seconds: float) -> str:
    """How long, for a log line: ``2.5 s``, ``37 s``, ``12 min``, ``1.5 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
