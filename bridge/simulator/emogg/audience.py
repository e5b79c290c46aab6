"""A virtual audience in front of the camera: what the simulated Emogg worker "sees".

Emogg publishes only aggregates [D], so the model is aggregate too. Every second of a
session has a snapshot: how many faces are in view and, per emotion, how many of them
show it and how strongly (a seeded random walk [U]). A window of the documented
``ChannelUpdateFrequency`` aggregates the seconds it covers:

- ``counts[e]`` = detections in the window: people showing ``e`` in each second, summed
  (one detection per person per second [U]);
- ``people[e]`` = the most people showing ``e`` in any second of the window [U];
- ``intensity[e]`` = their mean intensity in [0, 1] [A10]; ``quantity = people x
  intensity`` [I], rounded to 3 decimals as in the docs' example, so
  ``intensity == round(quantity / people, 3)``.

Snapshots are generated in order from the session's first second, so any window is
reproducible for a given seed, whichever client asks first.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

KEEP_SECONDS: Final = 700  # the longest window (10m) plus a margin


@dataclass(frozen=True, slots=True)
class Snapshot:
    faces: int
    people: dict[str, int]
    intensity: dict[str, float]


@dataclass
class Audience:
    emotions: Sequence[str]
    faces: int
    seed: str
    start_second: int
    _rng: random.Random = field(init=False)
    _level: dict[str, float] = field(init=False)
    _share: dict[str, float] = field(init=False)
    _in_view: int = field(init=False)
    _seconds: dict[int, Snapshot] = field(init=False, default_factory=dict)
    _next: int = field(init=False)
    totals: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._level = {e: self._rng.uniform(0.2, 0.8) for e in self.emotions}
        self._share = {e: self._rng.uniform(0.05, 0.5) for e in self.emotions}
        self._in_view = self.faces
        self._next = self.start_second

    def _step(self) -> Snapshot:
        rng = self._rng
        if self.faces > 0 and rng.random() < 0.1:
            self._in_view = max(1, min(self.faces, self._in_view + rng.choice((-1, 1))))
        people: dict[str, int] = {}
        intensity: dict[str, float] = {}
        for e in self.emotions:
            self._level[e] = min(1.0, max(0.02, self._level[e] + rng.gauss(0.0, 0.05)))
            self._share[e] = min(0.9, max(0.0, self._share[e] + rng.gauss(0.0, 0.05)))
            n = round(self._share[e] * self._in_view) if self.faces > 0 else 0
            people[e] = n
            intensity[e] = self._level[e] if n else 0.0
            self.totals[e] = self.totals.get(e, 0) + n
        return Snapshot(self._in_view if self.faces > 0 else 0, people, intensity)

    def advance_to(self, second: int) -> None:
        """Generate every snapshot up to and including ``second``."""
        while self._next <= second:
            self._seconds[self._next] = self._step()
            self._next += 1
        for old in [s for s in self._seconds if s < second - KEEP_SECONDS]:
            del self._seconds[old]

    def replay(self, first: int, last: int) -> Iterator[tuple[int, Snapshot]]:
        """The snapshots of seconds ``first..last`` from a fresh audience with the same
        seed: the whole history for the REST timeline without keeping it in memory."""
        twin = Audience(self.emotions, self.faces, self.seed, self.start_second)
        for second in range(self.start_second, last + 1):
            snap = twin._step()
            if second >= first:
                yield second, snap

    def window(self, end: int, length: int) -> list[Snapshot]:
        """The snapshots of the seconds ``(end - length, end]`` that the session lived."""
        self.advance_to(end - 1)
        return [self._seconds[s] for s in range(end - length, end) if s in self._seconds]

    def counts(self, end: int, length: int) -> dict[str, int] | None:
        """The ``sec`` payload (emotions never detected are omitted [A9]); None when no
        face was in view during the whole window."""
        snaps = self.window(end, length)
        if not any(s.faces for s in snaps):
            return None
        totals = {e: sum(s.people[e] for s in snaps) for e in self.emotions}
        return {e: n for e, n in totals.items() if n > 0}

    def intensities(
        self, end: int, length: int, zeros: bool
    ) -> dict[str, dict[str, float | int]] | None:
        """The ``sei`` payload; emotions nobody showed are omitted unless ``zeros``."""
        snaps = self.window(end, length)
        if not any(s.faces for s in snaps):
            return None
        payload: dict[str, dict[str, float | int]] = {}
        for e in self.emotions:
            shown = [s for s in snaps if s.people[e] > 0]
            people = max((s.people[e] for s in shown), default=0)
            if not people:
                if zeros:
                    payload[e] = {"people": 0, "quantity": 0.0, "intensity": 0.0}
                continue
            mean = sum(s.intensity[e] for s in shown) / len(shown)
            quantity = round(people * mean, 3)
            payload[e] = {
                "people": people,
                "quantity": quantity,
                "intensity": round(quantity / people, 3),
            }
        return payload
