"""Jittered exponential backoff, capped: how long to wait before trying Cortex again."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays ``initial * 2**n`` capped at ``cap``, each scaled by a random factor in
    ``[0.5, 1.0]`` ("equal jitter") so that many bridges restarting together spread out.
    """

    def __init__(
        self,
        initial: float = 0.25,
        cap: float = 30.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self._rand = rand
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * (2.0 ** min(self.attempts, 32)))
        self.attempts += 1
        return ceiling * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self.attempts = 0
