"""A bounded, ordered marker queue that every bridged headset reads on its own.

One log in arrival order; each headset (its session's injector) holds a read position
in it, so every headset gets every marker, in order, and a headset that is offline (no
Cortex, no session, no record) simply stops advancing while the others go on. An entry
leaves the log once every reader is past it; with no reader yet (the bridge has not
reached Cortex) markers wait for the first one.

Drop policy: the log holds at most ``limit`` markers. When a new marker would exceed
it, the OLDEST marker is dropped, with an error in the log and a count: the oldest is
the one closest to Cortex's "too far in the past" limit (-32115), so it is the least
likely to be injectable anyway, and the experiment's newest events are kept. Readers
that had not reached a dropped marker skip it. Nothing here raises on overflow.

Everything runs on the daemon's event loop; other threads hand markers in with
``loop.call_soon_threadsafe(queue.put, marker)``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import deque

from bridge.markers.marker import Marker
from bridge.status import EventHub, EventName, NoEvents

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10_000


def _worth_logging(count: int) -> bool:
    """1, 10, 100, 1000, then every 1000: a flood of drops gives a handful of lines."""
    return count in (1, 10, 100) or count % 1000 == 0


class MarkerQueue:
    """Markers in arrival order with one read position (:class:`QueueReader`) per key."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("the marker queue limit must be at least 1")
        self.limit = limit
        self._log: deque[Marker] = deque()
        self._base = 0  # sequence number of self._log[0]
        self._readers: dict[str, QueueReader] = {}
        self.accepted = 0
        self.dropped = 0
        self.run_id = uuid.uuid4().hex[:12]  # markers of this run: unique across restarts
        self.events: EventHub = NoEvents()  # the application hands in its hub

    def __len__(self) -> int:
        return len(self._log)

    @property
    def end(self) -> int:
        """The sequence number the next marker will get."""
        return self._base + len(self._log)

    def put(self, marker: Marker) -> None:
        """Append a marker, giving it its identity; on overflow drop the oldest (logged,
        counted)."""
        if not marker.uid:
            marker = dataclasses.replace(marker, uid=f"{self.run_id}-{self.end}")
        self._log.append(marker)
        self.accepted += 1
        while len(self._log) > self.limit:
            lost = self._log.popleft()
            self._base += 1
            self.dropped += 1
            self.events.emit(EventName.MARKER_DROPPED, value=lost.value, origin=lost.origin,
                             marker_time=lost.lsl_time, dropped=self.dropped)
            if _worth_logging(self.dropped):
                log.error(
                    "marker queue full (%d markers waiting for Cortex): dropped the oldest "
                    "(value %r from %s); %d dropped so far",
                    self.limit, lost.value, lost.origin, self.dropped,
                )
        for reader in self._readers.values():
            reader._wake.set()

    def reader(self, key: str) -> QueueReader:
        """The read position of ``key`` (a headset id); new readers start at the oldest
        marker still queued. The same key always gets the same reader."""
        reader = self._readers.get(key)
        if reader is None:
            reader = QueueReader(self, key, self._base)
            self._readers[key] = reader
        return reader

    @property
    def readers(self) -> tuple[QueueReader, ...]:
        return tuple(self._readers.values())

    def _get(self, seq: int) -> Marker | None:
        index = seq - self._base
        return self._log[index] if 0 <= index < len(self._log) else None

    def _trim(self) -> None:
        """Forget markers every reader has passed."""
        if not self._readers:
            return
        low = min(r.position for r in self._readers.values())
        while self._log and self._base < low:
            self._log.popleft()
            self._base += 1


class QueueReader:
    """One headset's position in a :class:`MarkerQueue`: peek, then advance once done.

    Peek-then-advance (not pop) is what keeps a marker queued when its injection fails
    because the connection dropped: the next session's injector finds it again.
    """

    def __init__(self, queue: MarkerQueue, key: str, position: int) -> None:
        self._queue = queue
        self.key = key
        self._position = position
        self._wake = asyncio.Event()

    @property
    def events(self) -> EventHub:
        return self._queue.events

    @property
    def position(self) -> int:
        return max(self._position, self._queue._base)

    @property
    def pending(self) -> int:
        """Markers this reader has not taken yet."""
        return self._queue.end - self.position

    def peek(self) -> Marker | None:
        return self._queue._get(self.position)

    def advance(self) -> None:
        """The marker from :meth:`peek` is done with (injected, or rejected and counted)."""
        if self.position < self._queue.end:
            self._position = self.position + 1
            self._queue._trim()

    async def next(self) -> Marker:
        """The next marker, waiting for one if there is none (does not advance)."""
        while True:
            marker = self.peek()
            if marker is not None:
                return marker
            self._wake.clear()
            await self._wake.wait()
