"""The Emogg simulator's data: sessions, connections, responses and what was sent.

They live apart from :class:`~bridge.simulator.emogg.service.EmoggService` so that the
modules answering requests for it (``routes.py``, ``analytics.py``) can build and read
them without importing the service, which imports them (no import cycle).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from bridge.simulator.emogg.audience import Audience

USER_ID: Final = "65d7a8fb532f66218ecd4cab"  # the docs' example user [U]
PRODUCT_ID: Final = "65946a77408bd7b32c5189a3"  # the docs' example product [U]


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


def iso_z(epoch: float) -> str:
    """``YYYY-MM-DDTHH:mm:ss.sssZ``, Emogg's response date format [D]."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class HttpResponse:
    status: int
    body: Any = None  # JSON-able, or None for an empty body
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encode(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


@dataclass
class SimSession:
    id: str
    name: str
    stream_uri: str
    created: float
    audience: Audience
    state: str = "active"
    worker_state: str = "starting"
    stopped_at: float | None = None
    working_since: float | None = None
    health_check: float = 0.0
    worker_timer: float | None = None  # when "starting" becomes "working"
    stopped_by: str = ""  # truth for tests: "client" or "worker"

    def to_json(self, now: float) -> dict[str, Any]:
        """The session object of the docs (``sessions/object``) [D]."""
        end = self.stopped_at if self.stopped_at is not None else now
        return {
            "_id": self.id,
            "name": self.name,
            "type": "live_analysis",
            "state": self.state,
            "timestamp": iso_z(self.created),
            "duration": max(0, int(end - self.created)),
            "config": {"removeMedia": True},
            "sources": [
                {"id": str(uuid.UUID(int=int(self.id, 16) << 32)), "name": "Live stream",
                 "type": "video", "device": "stream"}  # [U]
            ],
            "meta": {
                "expires": iso_z(self.created + 86400.0),  # [U]
                "healthCheck": iso_z(self.health_check or self.created),
                "workerState": self.worker_state,
            },
            "product": PRODUCT_ID,
            "user": USER_ID,
            "version": 3,
        }


@dataclass
class Sub:
    id: str
    channel: str
    key: str
    session_id: str
    period: int  # seconds; 0 for the worker-state channel
    next_end: int = 0


@dataclass
class WsConn:
    id: int
    peer: str
    opened: float
    last_message: float
    outbox: deque[str] = field(default_factory=deque)
    authed: bool = False
    subs: dict[str, Sub] = field(default_factory=dict)
    close: tuple[int, str] | None = None  # close once the outbox is sent
    messages: int = 0


@dataclass(frozen=True, slots=True)
class Emitted:
    """Truth for tests: one window's payload as sent (to every subscriber alike)."""

    session_id: str
    channel: str
    period: int
    end: int  # epoch second of the window's end
    wire_ts: str | int
    payload: Any


def error_response(status: int, message: str) -> HttpResponse:
    """The documented REST error body [D]."""
    return HttpResponse(status, {"error": True, "status": status, "message": message})
