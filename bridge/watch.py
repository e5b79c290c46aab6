"""Watching a streaming session for the faults Cortex does not announce.

A stalled session (Cortex stops sending, no warning) and a clock step (the sample times
Cortex stamps jump against the clock the samples arrive by) are only visible in the data.
The streaming loop feeds these watchers a few times a second with plain numbers, so the
rules are tested without sockets or clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE_WEIGHT = 0.1  # how fast the delivery-lag baseline follows slow drift


@dataclass(slots=True)
class StallWatch:
    """How long a session has delivered nothing.

    ``update(total, now)`` takes a count that grows with every frame received (samples
    plus malformed frames of the session's streams) and returns the seconds since it
    last changed.
    """

    last_total: int = -1
    last_change: float = 0.0

    def update(self, total: int, now: float) -> float:
        if total != self.last_total:
            self.last_total = total
            self.last_change = now
        return now - self.last_change

    def reset(self, now: float) -> None:
        self.last_total = -1
        self.last_change = now


@dataclass(slots=True)
class ClockStepWatch:
    """Detects a step in the sender's clock from the delivery lag of fresh samples.

    The lag is ``arrival time - sample time`` (both on the LSL clock, the sample time
    through the current clock mapping) of the newest sample. It is Cortex's delivery delay
    plus jitter and drifts slowly; a jump by more than ``threshold`` means the sample
    times jumped: the mapping is stale and must be re-synced now. :meth:`observe` returns
    the size of the step (positive: sample times jumped forward) or None.

    A lag that grows can also be a pause (ours or Cortex's) with a backlog not yet read,
    so a step backwards counts only when the next observation confirms it; a lag that
    shrinks cannot come from any delay, so a step forwards counts at once.
    """

    threshold: float
    baseline: float | None = None
    pending: float | None = None

    def observe(self, lag: float, jitter: float = 0.0) -> float | None:
        if self.baseline is None:
            self.baseline = lag
            return None
        limit = self.threshold + jitter
        change = lag - self.baseline
        if abs(change) > limit:
            confirmed = self.pending is not None and abs(lag - self.pending) <= limit
            if change < 0 or confirmed:
                self.reset()  # learn the lag afresh after the re-sync
                return -change
            self.pending = lag
            return None
        self.pending = None
        self.baseline += BASELINE_WEIGHT * change
        return None

    def reset(self) -> None:
        self.baseline = None
        self.pending = None
