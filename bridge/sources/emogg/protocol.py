"""Emogg's WebSocket and REST protocol as plain data: no sockets, no clocks of its own.

Facts are from ``shared/reference/emogg.md`` (the stored ``docs.emogg.com`` pages);
labels as there: [D] documented, [D?] documented but contradictory, [A] our assumption.

- Requests are ``{"id", "path", "body"}``; responses ``{"id", "path", "status", "body"}``;
  errors ``{"error": true, "id", "path", "status", "data": {"message"}}`` [D].
- The ``id`` is not reliably echoed [D?], so replies are matched by ``path`` and, per
  path, in the order requests were sent (:class:`ReplyQueue`) [A6].
- Events are arrays ``[subscriptionId, timestamp, type, [payload, ...]]`` [D]; the
  timestamp is an ISO string or epoch milliseconds [D?] (parsed in :mod:`bridge.clock`).
- Limits: 65 s idle, 90 new connections / 60 s / IP, 80 messages / 60 s / user,
  5 subscriptions per connection, 10 per user [D]; :class:`SlidingWindow` keeps us
  under the counting ones.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

__all__ = [
    "CHANNELS",
    "CHANNEL_COUNTS",
    "CHANNEL_INTENSITIES",
    "CHANNEL_WORKER_STATE",
    "EVENT_TYPES",
    "FREQUENCIES",
    "IDLE_LIMIT_S",
    "KNOWN_EMOTIONS",
    "ErrorReply",
    "Event",
    "MessageError",
    "ReplyQueue",
    "Response",
    "SlidingWindow",
    "channel_key",
    "encode_request",
    "parse_message",
    "rest_error_message",
]

T = TypeVar("T")

# ---- documented vocabulary ------------------------------------------------------------

CHANNEL_COUNTS: Final = "session_emotions_counts"
CHANNEL_INTENSITIES: Final = "session_emotions_intensities"
CHANNEL_WORKER_STATE: Final = "session_worker_state"
CHANNELS: Final = (CHANNEL_INTENSITIES, CHANNEL_COUNTS, CHANNEL_WORKER_STATE)
EVENT_TYPES: Final[Mapping[str, str]] = {
    CHANNEL_COUNTS: "sec",
    CHANNEL_INTENSITIES: "sei",
    CHANNEL_WORKER_STATE: "sws",
}
# ChannelUpdateFrequency [D], with each value's length in seconds.
FREQUENCIES: Final[Mapping[str, int]] = {
    "1s": 1, "3s": 3, "5s": 5, "10s": 10, "30s": 30, "1m": 60, "5m": 300, "10m": 600,
}  # fmt: skip
# Seen in the docs' examples; no page lists the full set [D?].
KNOWN_EMOTIONS: Final = (
    "exaltation", "focus", "shock", "seriousness", "fatigue", "disgust", "overwhelming",
)  # fmt: skip
MAX_SESSION_NAME: Final = 256

IDLE_LIMIT_S: Final = 65.0
CONNECTIONS_PER_WINDOW: Final = 90
MESSAGES_PER_WINDOW: Final = 80
LIMIT_WINDOW_S: Final = 60.0
SUBSCRIPTIONS_PER_CONNECTION: Final = 5

PATH_AUTH: Final = "auth:token"
PATH_SUBSCRIBE: Final = "channels:subscribe"
PATH_UNSUBSCRIBE: Final = "channels:unsubscribe"
PATH_PING: Final = "ping"


def channel_key(channel: str, session_id: str, frequency: str) -> str:
    """``<sessionId>:<freq>`` for the emotion channels, ``<sessionId>`` for worker state."""
    if channel == CHANNEL_WORKER_STATE:
        return session_id
    return f"{session_id}:{frequency}"


# ---- messages -------------------------------------------------------------------------


class MessageError(ValueError):
    """A server message that is neither a response, an error nor an event."""


@dataclass(frozen=True, slots=True)
class Response:
    id: Any
    path: str
    status: int
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class ErrorReply:
    id: Any
    path: str
    status: int
    message: str

    ok = False


@dataclass(frozen=True, slots=True)
class Event:
    subscription_id: str
    timestamp: str | int | float
    type: str
    payloads: tuple[Any, ...]


Message = Response | ErrorReply | Event


def encode_request(path: str, body: Mapping[str, Any] | None = None, rid: int | None = None) -> str:
    """One request as JSON text; ``ping`` may go without a body [D]."""
    msg: dict[str, Any] = {}
    if rid is not None:
        msg["id"] = rid
    msg["path"] = path
    if body is not None:
        msg["body"] = dict(body)
    return json.dumps(msg, separators=(",", ":"))


def parse_message(text: str | bytes) -> Message:
    """Decode one server message; :class:`MessageError` for anything unexpected."""
    try:
        msg = json.loads(text)
    except ValueError:
        raise MessageError("not JSON") from None
    if isinstance(msg, list):
        return _event(msg)
    if not isinstance(msg, dict):
        raise MessageError(f"a {type(msg).__name__} is neither a reply nor an event")
    path = msg.get("path")
    status = msg.get("status")
    if not isinstance(path, str):
        raise MessageError("reply without a path")
    if isinstance(status, bool) or not isinstance(status, int):
        raise MessageError(f"reply to {path} without a numeric status")
    if msg.get("error") is True or status >= 400:
        data = msg.get("data")
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, str):
            body = msg.get("body")
            message = body.get("message") if isinstance(body, dict) else None
        return ErrorReply(msg.get("id"), path, status, str(message or f"status {status}"))
    body = msg.get("body")
    return Response(msg.get("id"), path, status, body if isinstance(body, dict) else {})


def _event(msg: list[Any]) -> Event:
    if len(msg) != 4:
        raise MessageError(f"an event has 4 elements, got {len(msg)}")
    sub, stamp, kind, payloads = msg
    if not isinstance(sub, str) or not isinstance(kind, str):
        raise MessageError("event subscription id and type must be strings")
    if isinstance(stamp, bool) or not isinstance(stamp, str | int | float):
        raise MessageError("event timestamp must be an ISO string or epoch milliseconds")
    if not isinstance(payloads, list):
        raise MessageError("event payload must be a list")
    return Event(sub, stamp, kind, tuple(payloads))


class ReplyQueue(Generic[T]):
    """Outstanding requests, matched to replies by path, oldest first [A6].

    ``T`` is whatever the caller waits on (an asyncio future in the source). A reply
    whose path has nothing outstanding yields None (the caller logs and drops it).
    """

    def __init__(self) -> None:
        self._by_path: dict[str, deque[T]] = {}

    def add(self, path: str, waiter: T) -> None:
        self._by_path.setdefault(path, deque()).append(waiter)

    def pop(self, path: str) -> T | None:
        queue = self._by_path.get(path)
        return queue.popleft() if queue else None

    def drain(self) -> list[T]:
        """Everything outstanding (the connection is gone)."""
        waiters = [w for queue in self._by_path.values() for w in queue]
        self._by_path.clear()
        return waiters

    def __len__(self) -> int:
        return sum(len(q) for q in self._by_path.values())


class SlidingWindow:
    """At most ``limit`` actions in any ``window`` seconds (Emogg's counting limits).

    ``delay(now)`` says how long to wait before the next action may happen;
    ``record(now)`` notes one. Times are any monotonic seconds.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or not window > 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def delay(self, now: float) -> float:
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[0] + self.window - now)

    def record(self, now: float) -> None:
        self._expire(now)
        self._times.append(now)


# ---- REST -----------------------------------------------------------------------------


def rest_error_message(status: int, body: bytes) -> str:
    """The ``message`` of an error body ``{"error": true, "status", "message"}`` [D],
    else a short generic text (never the raw body, which could echo a request)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        return str(data["message"])[:200]
    return f"HTTP {status}"


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``RateLimit-Reset`` (until the bucket is full again) [D], or None."""
    for name, value in headers.items():
        if name.lower() == "ratelimit-reset":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None
