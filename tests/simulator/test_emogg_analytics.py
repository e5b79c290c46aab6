"""The Emogg simulator's remaining documented endpoints (emogg.md §3): the emotions
timeline, the transcription sentiment, custom sources and events, and the session
list's ``from``/``to`` filters. The service runs on a fake clock; one test goes over HTTP.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from bridge.simulator.emogg import EmoggService, EmoggSimulatorConfig, EmoggSimulatorThread

TOKEN = "emogg-demo-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
START = 1_713_135_600.0  # 2024-04-14T23:00:00Z


class FakeClock:
    def __init__(self) -> None:
        self.mono, self.wall = 1000.0, START

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def make(**overrides: Any) -> tuple[EmoggService, FakeClock]:
    clock = FakeClock()
    cfg = EmoggSimulatorConfig(**{"seed": 5, "worker_start_s": 0.5, **overrides})
    return EmoggService(cfg, clock), clock


def rest(svc: EmoggService, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    reply = svc.http(method, path, AUTH, raw, "127.0.0.1")
    return reply.status, (json.loads(reply.encode()) if reply.body is not None else None)


def running(svc: EmoggService, clock: FakeClock, seconds: int) -> str:
    status, data = rest(svc, "POST", "/v1/sessions", {"name": "P", "streamUri": "rtmp://h/x"})
    assert status == 201
    clock.advance(0.6)
    svc.tick()  # the worker starts
    clock.advance(seconds)
    svc.tick()
    return str(data["_id"])


def test_emotions_timeline_shape_and_aggregates() -> None:
    """timeline[] = {start, end, detectedFaces, emotions:{e:{people, quantity,
    intensity}}}; granularity 5-3600 (default 60); start/end in s from session start."""
    svc, clock = make()
    sid = running(svc, clock, 125)
    status, data = rest(svc, "GET", f"/v1/sessions/{sid}/emotions/timeline")
    assert status == 200 and data["session"] == sid
    spans = [(i["start"], i["end"]) for i in data["timeline"]]
    assert spans[:2] == [(0, 60), (60, 120)]
    for item in data["timeline"]:
        assert set(item) == {"start", "end", "detectedFaces", "emotions"}
        assert 0 < item["detectedFaces"] <= 12
        for agg in item["emotions"].values():
            assert set(agg) == {"people", "quantity", "intensity"}
            assert agg["intensity"] == round(agg["quantity"] / agg["people"], 3)
    status, fine = rest(
        svc, "GET", f"/v1/sessions/{sid}/emotions/timeline?granularity=5&start=10&end=30"
    )
    assert [(i["start"], i["end"]) for i in fine["timeline"]] == [
        (10, 15),
        (15, 20),
        (20, 25),
        (25, 30),
    ]
    # the same aggregation as the WebSocket sei window over the same seconds
    session = svc.sessions[sid]
    base = int(session.created)
    expected = session.audience.intensities(base + 30, 5, False)
    assert fine["timeline"][-1]["emotions"] == expected
    for bad in (
        "granularity=4",
        "granularity=3601",
        "start=-1",
        "start=20&end=10",
        "granularity=x",
    ):
        assert rest(svc, "GET", f"/v1/sessions/{sid}/emotions/timeline?{bad}")[0] == 400
    assert rest(svc, "GET", "/v1/sessions/000000000000000000000000/emotions/timeline")[0] == 404


def test_intervals_without_data_are_omitted() -> None:
    svc, clock = make(faces=0)
    sid = running(svc, clock, 90)
    assert rest(svc, "GET", f"/v1/sessions/{sid}/emotions/timeline")[1]["timeline"] == []


def test_transcription_sentiment() -> None:
    """timeline[] = {start, end, segments, sentiments:{positive, neutral, negative}};
    the sentiments are sums over the segments (the docs' example)."""
    svc, clock = make()
    sid = running(svc, clock, 300)
    status, data = rest(
        svc, "GET", f"/v1/sessions/{sid}/audio/transcription-sentiment?granularity=60"
    )
    assert status == 200 and data["timeline"]
    for item in data["timeline"]:
        assert set(item) == {"start", "end", "segments", "sentiments"}
        assert set(item["sentiments"]) == {"positive", "neutral", "negative"}
        assert abs(sum(item["sentiments"].values()) - item["segments"]) < 0.05
    again = rest(svc, "GET", f"/v1/sessions/{sid}/audio/transcription-sentiment?granularity=60")[1]
    assert again == data  # reproducible
    assert (
        rest(svc, "GET", f"/v1/sessions/{sid}/audio/transcription-sentiment?granularity=1")[0]
        == 400
    )


def test_register_source_and_push_events() -> None:
    """Register {name, format} -> {id, name, device: generic_sensor, type:
    generic_sensor, format}; events {time, data} -> [{time, data, source, session,
    user, type: sensor_report}]; data must match the source's format."""
    svc, clock = make()
    sid = running(svc, clock, 5)
    status, source = rest(
        svc, "POST", f"/v1/sessions/{sid}/events", {"name": "eeg-focus", "format": "scalar"}
    )
    assert status == 201
    assert source["device"] == source["type"] == "generic_sensor" and source["format"] == "scalar"
    status, events = rest(svc, "POST", f"/v1/sessions/{sid}/events", {"time": 2.5, "data": 0.7})
    assert status == 201
    assert events == [{"time": 2.5, "data": 0.7, "source": source["id"], "session": sid,
                       "user": events[0]["user"], "type": "sensor_report"}]  # fmt: skip
    assert rest(svc, "POST", f"/v1/sessions/{sid}/events", {"time": 3, "data": "high"})[0] == 400
    assert (
        rest(svc, "POST", f"/v1/sessions/{sid}/events", {"name": "x", "format": "video"})[0] == 400
    )
    rest(svc, "POST", f"/v1/sessions/{sid}/events", {"name": "notes", "format": "text"})
    assert rest(svc, "POST", f"/v1/sessions/{sid}/events", {"time": 3, "data": "x"})[0] == 404
    rest(svc, "POST", f"/v1/sessions/{sid}/stop")
    assert rest(svc, "POST", f"/v1/sessions/{sid}/events", {"time": 3, "data": 1})[0] == 400


def test_list_from_to_filters() -> None:
    """from/to bound the session start; ISO 8601 (Z, offset, or no zone = UTC) or Unix ms."""
    svc, clock = make()
    first = running(svc, clock, 10)
    clock.advance(3600)
    second = running(svc, clock, 10)

    def ids(query: str) -> list[str]:
        status, page = rest(svc, "GET", f"/v1/sessions?{query}")
        assert status == 200, page
        return [s["_id"] for s in page["data"]]

    assert ids("") == [second, first]
    assert ids("from=2024-04-14T23:30:00Z") == [second]
    assert ids("to=2024-04-14T23:30:00.000Z") == [first]
    assert ids("to=2024-04-15T01:30:00%2B02:00") == [first]  # an offset
    assert ids("from=2024-04-14T23:30:00") == [second]  # no zone: UTC
    assert ids(f"from={int((START + 1800) * 1000)}") == [second]  # Unix ms
    assert ids("from=2024-04-15T01:00:00Z") == []
    assert rest(svc, "GET", "/v1/sessions?from=yesterday")[0] == 400


def test_timeline_over_http() -> None:
    sim = EmoggSimulatorThread(EmoggSimulatorConfig(http_port=0, ws_port=0, seed=3,
                                                    worker_start_s=0.1)).start()  # fmt: skip
    try:
        url = urlsplit(sim.api_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
        headers = {**AUTH, "content-type": "application/json"}
        conn.request(
            "POST", "/v1/sessions", json.dumps({"name": "n", "streamUri": "rtsp://h/s"}), headers
        )
        sid = json.loads(conn.getresponse().read())["_id"]
        conn.request("GET", f"/v1/sessions/{sid}/emotions/timeline?granularity=5", headers=headers)
        reply = conn.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["session"] == sid
        conn.close()
    finally:
        sim.stop()
