"""The Emogg REST routes: which path and method run which handler (``emogg.md`` §3).

:data:`ROUTES` is read by :meth:`~bridge.simulator.emogg.service.EmoggService.http`;
the handlers get the service and the path's match, and answer through its methods or
``analytics.py``. The service is imported only for type checking: it imports this
table, so importing it back would be a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from bridge.simulator.emogg import analytics
from bridge.simulator.emogg.model import HttpResponse, SimSession, error_response

if TYPE_CHECKING:
    from bridge.simulator.emogg.service import EmoggService

Route = Callable[["EmoggService", re.Match[str], Mapping[str, list[str]], Any], HttpResponse]


def _route_create(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                  data: Any) -> HttpResponse:
    return svc.create_session(data)


def _route_list(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                data: Any) -> HttpResponse:
    return svc.list_sessions(q)


def _route_get(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
               data: Any) -> HttpResponse:
    session = svc.sessions.get(m["sid"])
    if session is None:
        return error_response(404, "Session not found")
    return HttpResponse(200, session.to_json(svc.clock.time()))


def _route_patch(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                 data: Any) -> HttpResponse:
    session = svc.sessions.get(m["sid"])
    if session is None:
        return error_response(404, "Session not found")
    if not isinstance(data, dict) or set(data) != {"name"} or not isinstance(data["name"], str) \
            or not data["name"].strip() or len(data["name"]) > 256:
        return error_response(400, "Only name (1-256 characters) can be updated")
    session.name = data["name"]
    return HttpResponse(200, session.to_json(svc.clock.time()))


def _route_stop(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                data: Any) -> HttpResponse:
    return svc.stop_session(m["sid"])


def _route_delete(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                  data: Any) -> HttpResponse:
    return svc.delete_session(m["sid"])


def _route_emotions(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
                    data: Any) -> HttpResponse:
    session = svc.sessions.get(m["sid"])
    if session is None:
        return error_response(404, "Session not found")
    end = session.stopped_at if session.stopped_at is not None else svc.clock.time()
    if session.working_since is not None:
        session.audience.advance_to(int(end) - 1)
    totals = {e: n for e, n in session.audience.totals.items() if n > 0}
    return HttpResponse(200, {"session": session.id, "emotions": totals})


def _with_session(fn: Callable[[EmoggService, SimSession, Mapping[str, list[str]], Any],
                                HttpResponse]) -> Route:  # fmt: skip
    def route(svc: EmoggService, m: re.Match[str], q: Mapping[str, list[str]],
              data: Any) -> HttpResponse:  # fmt: skip
        session = svc.sessions.get(m["sid"])
        if session is None:
            return error_response(404, "Session not found")
        return fn(svc, session, q, data)

    return route


_route_timeline = _with_session(lambda svc, s, q, d: analytics.emotions_timeline(svc, s, q))
_route_sentiment = _with_session(lambda svc, s, q, d: analytics.transcription_sentiment(svc, s, q))
_route_events = _with_session(
    lambda svc, s, q, d: analytics.post_events(
        svc, s, svc.extras.setdefault(s.id, analytics.SessionExtras()), d, q
    )
)

_SID = r"(?P<sid>[0-9a-f]{24})"
ROUTES: Final[tuple[tuple[str, re.Pattern[str], Route], ...]] = (
    ("POST", re.compile(r"/v1/sessions"), _route_create),
    ("GET", re.compile(r"/v1/sessions"), _route_list),
    ("GET", re.compile(rf"/v1/sessions/{_SID}"), _route_get),
    ("PATCH", re.compile(rf"/v1/sessions/{_SID}"), _route_patch),
    ("POST", re.compile(rf"/v1/sessions/{_SID}/stop"), _route_stop),
    ("DELETE", re.compile(rf"/v1/sessions/{_SID}"), _route_delete),
    ("GET", re.compile(rf"/v1/sessions/{_SID}/emotions"), _route_emotions),
    ("GET", re.compile(rf"/v1/sessions/{_SID}/emotions/timeline"), _route_timeline),
    ("GET", re.compile(rf"/v1/sessions/{_SID}/audio/transcription-sentiment"), _route_sentiment),
    ("POST", re.compile(rf"/v1/sessions/{_SID}/events"), _route_events),
)
