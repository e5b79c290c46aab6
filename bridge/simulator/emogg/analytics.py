"""The Emogg REST endpoints beyond the session object: the emotion timeline, the audio
transcription sentiment, custom sources and events, and the list's date filters
(``emogg.md`` §2-3).

Pure functions of the service's sessions and clock; ``routes.py`` routes to them. The
service is imported only for type checking (it imports this module through its routes).
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bridge.simulator.emogg.audience import Snapshot
from bridge.simulator.emogg.model import USER_ID, HttpResponse, SimSession, error_response

if TYPE_CHECKING:
    from bridge.simulator.emogg.service import EmoggService

GRANULARITY_DEFAULT = 60  # seconds [D]
GRANULARITY_RANGE = (5, 3600)  # [D]
SOURCE_FORMATS = ("scalar", "text")  # SourceFormat [D]
SENTIMENTS = ("positive", "neutral", "negative")
_MS = re.compile(r"^-?\d+$")


@dataclass
class Source:
    """A registered custom source (``device``/``type`` ``generic_sensor``) [D]."""

    id: str
    name: str
    format: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "device": "generic_sensor",
                "type": "generic_sensor", "format": self.format}  # fmt: skip


@dataclass
class SessionExtras:
    sources: dict[str, Source] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def parse_date(text: str) -> float:
    """A request date: ISO 8601 (UTC ``Z`` or an offset; no zone = UTC) or Unix
    milliseconds (emogg.md §2). ``ValueError`` otherwise."""
    text = text.strip()
    if _MS.match(text):
        return int(text) / 1000.0
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def date_bounds(query: Mapping[str, list[str]]) -> tuple[float | None, float | None]:
    """``from``/``to``: bounds on the session start (§3 list sessions)."""
    bounds: list[float | None] = []
    for key in ("from", "to"):
        raw = query.get(key, [None])[0]
        bounds.append(None if raw is None else parse_date(raw))
    return bounds[0], bounds[1]


def interval_query(query: Mapping[str, list[str]], duration: int) -> tuple[int, int, int]:
    """``granularity`` (5-3600, default 60), ``start``/``end`` in seconds from the
    session start (§3 timeline); ``ValueError`` with the message for a 400."""
    try:
        granularity = int(query.get("granularity", [str(GRANULARITY_DEFAULT)])[0])
        start = int(float(query.get("start", ["0"])[0]))
        end = int(float(query.get("end", [str(duration)])[0]))
    except ValueError:
        raise ValueError("granularity, start and end must be numbers") from None
    lo, hi = GRANULARITY_RANGE
    if not lo <= granularity <= hi:
        raise ValueError(f"granularity must be between {lo} and {hi}")
    if start < 0 or end < start:
        raise ValueError("start must be at least 0 and end at least start")
    return granularity, start, min(end, duration)


def _lived(svc: EmoggService, session: SimSession) -> tuple[int, int]:
    """Session seconds with analysis: from the worker's start to now or the stop."""
    end = session.stopped_at if session.stopped_at is not None else svc.clock.time()
    begin = session.working_since
    return (int(begin) if begin is not None else int(end)), int(end)


def emotions_timeline(svc: EmoggService, session: SimSession,
                      query: Mapping[str, list[str]]) -> HttpResponse:  # fmt: skip
    """``timeline[] = {start, end, detectedFaces, emotions:{e:{people, quantity,
    intensity}}}``, intervals without data omitted (§3 [D]); aggregates as the WS
    ``sei`` windows (audience.py), ``detectedFaces`` = most faces in view [U]."""
    base = int(session.created)
    first, last = _lived(svc, session)
    try:
        granularity, start, end = interval_query(query, max(0, last - base))
    except ValueError as exc:
        return error_response(400, str(exc))
    snaps: dict[int, Snapshot] = {}
    if last > first:
        snaps = dict(session.audience.replay(max(first, base + start), min(last, base + end) - 1))
    timeline = []
    for a in range(start, end, granularity):
        b = min(a + granularity, end)
        window = [snaps[s] for s in range(base + a, base + b) if s in snaps]
        if not any(s.faces for s in window):
            continue
        emotions: dict[str, Any] = {}
        for e in session.audience.emotions:
            shown = [s for s in window if s.people[e] > 0]
            people = max((s.people[e] for s in shown), default=0)
            if people:
                quantity = round(people * sum(s.intensity[e] for s in shown) / len(shown), 3)
                emotions[e] = {"people": people, "quantity": quantity,
                               "intensity": round(quantity / people, 3)}  # fmt: skip
        timeline.append({"start": a, "end": b, "detectedFaces": max(s.faces for s in window),
                         "emotions": emotions})  # fmt: skip
    return HttpResponse(200, {"session": session.id, "timeline": timeline})


def transcription_sentiment(svc: EmoggService, session: SimSession,
                            query: Mapping[str, list[str]]) -> HttpResponse:  # fmt: skip
    """``timeline[] = {start, end, segments, sentiments:{positive, neutral, negative}}``
    (§3 [D]); sentiments are sums over the interval's segments (the docs' example sums
    to about its segment count [I]); intervals without speech are omitted. The virtual
    audience speaks about one segment per 10 s [U]."""
    base = int(session.created)
    first, last = _lived(svc, session)
    try:
        granularity, start, end = interval_query(query, max(0, last - base))
    except ValueError as exc:
        return error_response(400, str(exc))
    timeline = []
    for a in range(start, end, granularity):
        b = min(a + granularity, end)
        lived = max(0, min(base + b, last) - max(base + a, first))
        rng = random.Random(f"{session.audience.seed}:speech:{a}:{b}")
        segments = sum(1 for _ in range(lived) if rng.random() < 0.1)
        if not segments:
            continue
        sums = dict.fromkeys(SENTIMENTS, 0.0)
        for _ in range(segments):
            weights = [rng.random() for _ in SENTIMENTS]
            total = sum(weights)
            for name, w in zip(SENTIMENTS, weights, strict=True):
                sums[name] += w / total
        timeline.append({"start": a, "end": b, "segments": segments,
                         "sentiments": {k: round(v, 2) for k, v in sums.items()}})  # fmt: skip
    return HttpResponse(200, {"session": session.id, "timeline": timeline})


def post_events(svc: EmoggService, session: SimSession, extras: SessionExtras, data: Any,
                query: Mapping[str, list[str]]) -> HttpResponse:  # fmt: skip
    """One documented path, two documented bodies (§3, the docs' own ambiguity [D?]):
    ``{name, format}`` registers a source (201 source object); ``{time, data}`` pushes
    an event from a source (201 array of ``{time, data, source, session, user,
    type: "sensor_report"}``). The source is ``source`` in the body or ``sourceId`` in
    the query, or the only one registered [U]."""
    if not isinstance(data, dict):
        return error_response(400, "Invalid request body")
    if session.state != "active":
        return error_response(400, "Session is not active")
    if "format" in data or "name" in data:
        name, fmt = data.get("name"), data.get("format")
        if not isinstance(name, str) or not name.strip() or fmt not in SOURCE_FORMATS:
            return error_response(400, "name and format (scalar or text) are required")
        source = Source(str(uuid.UUID(int=svc.rng.getrandbits(128), version=4)), name, fmt)
        extras.sources[source.id] = source
        return HttpResponse(201, source.to_json())
    sid = data.get("source") or query.get("sourceId", [None])[0]
    if sid is None and len(extras.sources) == 1:
        sid = next(iter(extras.sources))
    sender = extras.sources.get(str(sid)) if sid is not None else None
    if sender is None:
        return error_response(404, "Source not found")
    t, value = data.get("time"), data.get("data")
    if not isinstance(t, int | float) or isinstance(t, bool) or t < 0:
        return error_response(400, "time must be seconds since the session start")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if (sender.format == "scalar") != is_number or (
        sender.format == "text" and not isinstance(value, str)
    ):
        return error_response(400, f"data must be a {'number' if sender.format == 'scalar' else 'string'}")
    event = {"time": t, "data": value, "source": sender.id, "session": session.id,
             "user": USER_ID, "type": "sensor_report"}  # fmt: skip
    extras.events.append(event)
    return HttpResponse(201, [event])
