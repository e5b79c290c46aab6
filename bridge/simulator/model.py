"""The simulator's data: what the service keeps and what its method handlers work on.

Connections, sessions, subscriptions, records, loaded profiles, timers, the calls handed
to handlers and the actions asked of the server. They live apart from
:class:`~bridge.simulator.service.CortexService` so that the handler modules
(``methods.py``, ``records.py`` ...) can build and read them without importing the
service, which receives its method table from them (no import cycle).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bridge.simulator.device import VirtualHeadset
from bridge.simulator.tokens import TokenClaims


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    """The machine's clocks; CLOCK_MONOTONIC is shared with clients on the same host,
    which is what makes syncWithHeadsetClock's adjustment exact."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


def iso(epoch: float, timespec: str = "milliseconds") -> str:
    """Local time with offset, as Cortex formats ``started``/``startDatetime``."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec=timespec)


@dataclass
class Connection:
    id: int
    peer: str
    outbox: deque[str] = field(default_factory=deque)
    open: bool = True


@dataclass
class PendingMarker:
    k: int
    entry: dict[str, Any]  # the truth record in headset.markers (updated when sent)
    wire: dict[str, Any]  # the object placed in the MARKERS column


@dataclass
class Subscription:
    stream: str
    rate: float
    cursor: int  # next sample index to send
    flood_end: int = 0  # send up to here regardless of time (flood mode)
    markers: list[PendingMarker] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # BAD_FRAME_KINDS for the next frames


@dataclass
class Record:
    obj: dict[str, Any]
    app_id: str
    session_id: str
    markers: dict[str, dict[str, Any]] = field(default_factory=dict)
    start_mono: float = 0.0
    end_mono: float = 0.0
    headset: VirtualHeadset | None = None
    exportable: bool = False  # post-processing done (warning 30 sent)


@dataclass
class LoadedProfile:
    """A profile loaded on a headset: its working copy (training edits it; ``save``
    writes it back to the store) and who loaded it."""

    name: str
    app_id: str
    conn: int
    data: dict[str, Any]
    guest: bool = False
    training: dict[str, str] = field(default_factory=dict)  # "detection:action" -> result


@dataclass
class Session:
    id: str
    app_id: str
    client_id: str
    conn: int
    headset: VirtualHeadset
    status: str  # "opened" | "activated" | "closed"
    started: str
    owner: str
    license: str = ""
    stopped: str = ""
    subs: dict[str, Subscription] = field(default_factory=dict)
    record_ids: list[str] = field(default_factory=list)
    record: Record | None = None
    training_timers: dict[str, Timer] = field(default_factory=dict)
    closed_by: str = ""  # truth for tests: "client", "headset" or "connection"

    @property
    def live(self) -> bool:
        return self.status != "closed"

    def to_json(self) -> dict[str, Any]:
        """The session object (cortex_api.md §4.5), keys as in the docs' examples."""
        return {
            "appId": self.app_id,
            "headset": self.headset.to_json(),
            "id": self.id,
            "license": self.license,
            "owner": self.owner,
            "recordIds": list(self.record_ids),
            "recording": self.record is not None,
            "started": self.started,
            "status": self.status,
            "stopped": self.stopped,
            "streams": list(self.subs),
        }


@dataclass(order=True)
class Timer:
    due: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(frozen=True, slots=True)
class ServerAction:
    """Something only the I/O layer can do, requested by the service."""

    kind: str  # "drop"
    mode: str = "abort"  # "abort" (no close frame) or "close" (close frame 1001)
    after_conn: int | None = None  # wait until this connection's outbox is flushed
    only_conn: int | None = None  # drop just this connection (None: all of them)


@dataclass
class Call:
    """What a method handler gets: the caller, its params, its token's claims."""

    conn: Connection
    params: dict[str, Any]
    claims: TokenClaims | None
    mono: float
