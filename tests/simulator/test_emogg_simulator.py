"""The Emogg simulator speaks the documented API: the service with a fake clock, then the
real HTTP and WebSocket servers with plain clients (http.client, websockets)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from bridge.simulator.emogg import EmoggService, EmoggSimulatorConfig, EmoggSimulatorThread
from bridge.simulator.emogg.model import iso_z

TOKEN = "emogg-demo-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
START = 1_713_135_600.0  # 2024-04-14T23:00:00Z


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = START

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


def rest(svc: EmoggService, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    raw = b"" if body is None else json.dumps(body).encode()
    reply = svc.http(method, path, AUTH if headers is None else headers, raw, "127.0.0.1")
    data = json.loads(reply.encode()) if reply.body is not None else None
    return reply.status, data, dict(reply.headers)


def create(svc: EmoggService, uri: str = "rtmp://stream.example/live/k") -> str:
    status, data, _ = rest(svc, "POST", "/v1/sessions", {"name": "Pitch", "streamUri": uri})
    assert status == 201, data
    return str(data["_id"])


def outbox(svc: EmoggService, cid: int) -> list[Any]:
    box = svc.conns[cid].outbox
    out = [json.loads(text) for text in box]
    box.clear()
    return out


def ws(svc: EmoggService, *messages: dict[str, Any]) -> int:
    cid = svc.ws_open("127.0.0.1")
    for msg in messages:
        svc.ws_receive(cid, json.dumps(msg))
    return cid


def authed(svc: EmoggService) -> int:
    cid = ws(svc, {"id": 1, "path": "auth:token", "body": {"token": TOKEN}})
    assert outbox(svc, cid) == [{"id": 1, "path": "auth:token", "status": 200}]
    return cid


def subscribe(svc: EmoggService, cid: int, channel: str, key: str) -> str:
    svc.ws_receive(cid, json.dumps({"id": 2, "path": "channels:subscribe",
                                    "body": {"channel": channel, "key": key}}))
    reply = outbox(svc, cid)[0]
    assert reply["status"] == 200, reply
    assert reply["body"]["channel"] == channel and reply["body"]["key"] == key
    return str(reply["body"]["subscriptionId"])


# ---- REST ---------------------------------------------------------------------------------


def test_session_object_has_the_documented_fields() -> None:
    svc, _ = make()
    status, data, headers = rest(svc, "POST", "/v1/sessions",
                                 {"name": "Mobile Word Congress Pitch",
                                  "streamUri": "rtmp://stream.emogg.com/mwc"})
    assert status == 201
    assert set(data) == {"_id", "name", "type", "state", "timestamp", "duration", "config",
                         "sources", "meta", "product", "user", "version"}
    assert len(data["_id"]) == 24 and int(data["_id"], 16) >= 0
    assert (data["type"], data["state"], data["version"]) == ("live_analysis", "active", 3)
    assert data["timestamp"] == "2024-04-14T23:00:00.000Z"
    assert data["meta"]["workerState"] == "starting"
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
            "RateLimit-Policy"} <= set(headers)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"streamUri": "rtmp://h/x"}, "name is required"),
        ({"name": "x" * 257, "streamUri": "rtmp://h/x"}, "at most 256"),
        ({"name": "n"}, "streamUri is required"),
        ({"name": "n", "streamUri": "http://h/x"}, "rtmp, rtsp or rtmps"),
        ([1, 2], "Invalid request body"),
    ],
)
def test_create_400s_carry_the_error_body(body: Any, message: str) -> None:
    svc, _ = make()
    status, data, _ = rest(svc, "POST", "/v1/sessions", body)
    assert status == 400
    assert data["error"] is True and data["status"] == 400 and message in data["message"]


def test_401_for_missing_or_wrong_tokens() -> None:
    svc, _ = make()
    for headers, message in (({}, "Missing token"),
                             ({"authorization": "Bearer nope"}, "Invalid token")):
        status, data, _ = rest(svc, "GET", "/v1/sessions", headers=headers)
        assert (status, data["message"]) == (401, message)


def test_503_when_no_worker_is_free() -> None:
    svc, _ = make(unavailable_creates=1)
    status, data, _ = rest(svc, "POST", "/v1/sessions", {"name": "n", "streamUri": "rtsp://h/x"})
    assert (status, data["message"]) == (503, "Server is overloaded")
    create(svc)


def test_get_list_patch_stop_delete() -> None:
    svc, clock = make()
    sid = create(svc)
    assert rest(svc, "GET", f"/v1/sessions/{sid}")[0] == 200
    assert rest(svc, "GET", "/v1/sessions/000000000000000000000000")[0] == 404
    status, page, _ = rest(svc, "GET", "/v1/sessions?state=active&limit=1")
    assert status == 200 and page["hasMore"] is False and page["data"][0]["_id"] == sid
    assert rest(svc, "GET", "/v1/sessions?limit=101")[0] == 400
    assert rest(svc, "PATCH", f"/v1/sessions/{sid}", {"name": "Renamed"})[1]["name"] == "Renamed"
    assert rest(svc, "PATCH", f"/v1/sessions/{sid}", {"state": "x"})[0] == 400
    status, data, _ = rest(svc, "DELETE", f"/v1/sessions/{sid}")
    assert (status, data["message"]) == (400, "Session is active or processing")
    clock.advance(3.0)
    status, data, _ = rest(svc, "POST", f"/v1/sessions/{sid}/stop")
    assert status == 200 and data["state"] == "finished" and data["duration"] == 3
    assert rest(svc, "POST", f"/v1/sessions/{sid}/stop")[1]["message"] == "Session is not active"
    assert rest(svc, "DELETE", f"/v1/sessions/{sid}")[0] == 204
    assert rest(svc, "GET", f"/v1/sessions/{sid}")[0] == 404


def test_rest_token_bucket_answers_429_with_headers() -> None:
    svc, clock = make(rest_bucket=2, rest_refill_per_s=1.0)
    assert rest(svc, "GET", "/v1/sessions")[0] == 200
    status, _, headers = rest(svc, "GET", "/v1/sessions")
    assert status == 200 and headers["RateLimit-Remaining"] == "0"
    status, data, headers = rest(svc, "GET", "/v1/sessions")
    assert status == 429 and data["status"] == 429 and int(headers["RateLimit-Reset"]) >= 1
    clock.advance(1.0)
    assert rest(svc, "GET", "/v1/sessions")[0] == 200


def test_a_stream_above_1080p_stops_the_session() -> None:
    svc, _ = make()
    sid = create(svc, "rtmp://h/live?res=2160")
    session = rest(svc, "GET", f"/v1/sessions/{sid}")[1]
    assert (session["state"], session["meta"]["workerState"]) == ("finished", "stopped")


# ---- WebSocket ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    ["not json", json.dumps({"path": "ping"}), json.dumps({"id": "x", "path": "auth:token"}),
     json.dumps(["auth:token"])],
)
def test_anything_but_auth_first_closes_the_socket(first: str) -> None:
    svc, _ = make()
    cid = svc.ws_open("127.0.0.1")
    svc.ws_receive(cid, first)
    assert svc.conns[cid].close is not None and not svc.conns[cid].outbox


def test_bad_token_gets_the_documented_401_frame_then_close() -> None:
    svc, _ = make()
    cid = ws(svc, {"id": 1, "path": "auth:token", "body": {"token": "wrong"}})
    assert outbox(svc, cid) == [{"error": True, "id": 1, "path": "auth:token", "status": 401,
                                 "data": {"message": "Invalid token"}}]
    assert svc.conns[cid].close is not None


def test_subscribe_errors_and_limits() -> None:
    svc, _ = make(subscriptions_per_connection=2)
    sid = create(svc)
    cid = authed(svc)
    for body, status in (({"channel": "session_emotions_counts"}, 400),
                         ({"channel": "nope", "key": f"{sid}:1s"}, 404),
                         ({"channel": "session_emotions_counts", "key": f"{sid}:2s"}, 404),
                         ({"channel": "session_emotions_counts", "key": "0" * 24 + ":1s"}, 404)):
        svc.ws_receive(cid, json.dumps({"path": "channels:subscribe", "body": body}))
        assert outbox(svc, cid)[0]["status"] == status
    subscribe(svc, cid, "session_emotions_counts", f"{sid}:1s")
    subscribe(svc, cid, "session_emotions_intensities", f"{sid}:10s")
    svc.ws_receive(cid, json.dumps({"path": "channels:subscribe", "body": {
        "channel": "session_worker_state", "key": sid}}))
    assert outbox(svc, cid)[0]["status"] == 429


def test_worker_state_is_sent_on_subscribe_and_on_every_change() -> None:
    svc, clock = make()
    sid = create(svc)
    cid = authed(svc)
    svc.ws_receive(cid, json.dumps({"path": "channels:subscribe", "body": {
        "channel": "session_worker_state", "key": sid}}))
    reply, first = outbox(svc, cid)
    sub = reply["body"]["subscriptionId"]
    assert first == [sub, iso_z(START), "sws", ["starting"]]  # the last known state [D]
    clock.advance(0.6)
    svc.tick()
    [event] = outbox(svc, cid)
    assert event[0] == sub and event[2] == "sws" and event[3] == ["working"]
    rest(svc, "POST", f"/v1/sessions/{sid}/stop")
    assert outbox(svc, cid)[0][3] == ["stopped"]


def test_events_every_window_with_consistent_aggregates() -> None:
    svc, clock = make(ts_format="mixed")
    sid = create(svc)
    cid = authed(svc)
    sei = subscribe(svc, cid, "session_emotions_intensities", f"{sid}:1s")
    sec = subscribe(svc, cid, "session_emotions_counts", f"{sid}:1s")
    frames: list[Any] = []
    for _ in range(40):
        clock.advance(0.1)
        svc.tick()
        frames += outbox(svc, cid)
    kinds = [f[2] for f in frames]
    assert kinds.count("sei") >= 3 and kinds.count("sec") >= 3
    assert {f[0] for f in frames if f[2] == "sei"} == {sei}
    assert {f[0] for f in frames if f[2] == "sec"} == {sec}
    stamps = {type(f[1]) for f in frames}
    assert stamps == {str, int}  # ISO strings and epoch ms, as the docs show both
    for frame in frames:
        [payload] = frame[3]
        if frame[2] == "sei":
            for values in payload.values():
                assert 0.0 <= values["intensity"] <= 1.0
                assert values["intensity"] == pytest.approx(
                    values["quantity"] / values["people"], abs=0.0006)
        else:
            assert all(isinstance(n, int) and n > 0 for n in payload.values())
    # Truth is recorded per window, aligned to whole seconds, ends after the worker started.
    ends = [e.end for e in svc.emitted if e.channel == "session_emotions_intensities"]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert all(end > START + 0.5 for end in ends)


def test_ping_unsubscribe_unknown_path_and_id_echo() -> None:
    svc, clock = make(id_echo="null")
    sid = create(svc)
    cid = svc.ws_open("127.0.0.1")
    svc.ws_receive(cid, json.dumps({"id": 7, "path": "auth:token", "body": {"token": TOKEN}}))
    assert outbox(svc, cid)[0]["id"] is None
    svc.ws_receive(cid, json.dumps({"id": 8, "path": "ping"}))
    assert outbox(svc, cid)[0]["body"] == {"ts": iso_z(clock.time())}
    sub = subscribe(svc, cid, "session_emotions_counts", f"{sid}:5s")
    svc.ws_receive(cid, json.dumps({"path": "channels:unsubscribe", "body": {"subscriptionId": sub}}))
    assert outbox(svc, cid)[0]["status"] == 200
    svc.ws_receive(cid, json.dumps({"path": "channels:unsubscribe", "body": {"subscriptionId": sub}}))
    assert outbox(svc, cid)[0]["status"] == 404
    svc.ws_receive(cid, json.dumps({"path": "nowhere"}))
    assert outbox(svc, cid)[0]["status"] == 404


def test_idle_connections_are_closed_and_pings_keep_them() -> None:
    svc, clock = make(idle_timeout_s=65.0)
    quiet, chatty = authed(svc), authed(svc)
    for _ in range(7):
        clock.advance(10.0)
        svc.ws_receive(chatty, json.dumps({"path": "ping"}))
        svc.tick()
    assert svc.conns[quiet].close == (1000, "Inactivity timeout")
    assert svc.conns[chatty].close is None


def test_message_limit_per_user() -> None:
    svc, _ = make(messages_per_window=3)
    cid = authed(svc)  # the auth message counts
    for _ in range(2):
        svc.ws_receive(cid, json.dumps({"path": "ping"}))
    svc.ws_receive(cid, json.dumps({"path": "ping"}))
    replies = outbox(svc, cid)
    assert [r["status"] for r in replies] == [200, 200, 429]


# ---- the real servers ---------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[EmoggSimulatorThread]:
    cfg = EmoggSimulatorConfig(http_port=0, ws_port=0, seed=1, worker_start_s=0.1,
                               connections_per_window=3)
    with EmoggSimulatorThread(cfg) as thread:
        yield thread


def http_request(sim: EmoggSimulatorThread, method: str, path: str, body: Any = None,
                 token: str = TOKEN) -> tuple[int, Any]:
    parts = urlsplit(sim.api_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, parts.path + path, body=payload,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def test_rest_over_http(sim: EmoggSimulatorThread) -> None:
    status, session = http_request(sim, "POST", "/sessions",
                                   {"name": "Talk", "streamUri": "rtsp://cam.local/1"})
    assert status == 201 and session["name"] == "Talk"
    assert http_request(sim, "GET", "/sessions", token="bad")[0] == 401
    assert http_request(sim, "POST", f"/sessions/{session['_id']}/stop")[1]["state"] == "finished"
    assert http_request(sim, "DELETE", f"/sessions/{session['_id']}") == (204, None)


def test_websocket_over_the_wire(sim: EmoggSimulatorThread) -> None:
    sid = http_request(sim, "POST", "/sessions", {"name": "T", "streamUri": "rtmp://h/x"})[1]["_id"]
    with connect(sim.ws_url, open_timeout=5) as client:
        client.send(json.dumps({"id": 1, "path": "auth:token", "body": {"token": TOKEN}}))
        assert json.loads(client.recv(timeout=5))["status"] == 200
        client.send(json.dumps({"id": 2, "path": "channels:subscribe", "body": {
            "channel": "session_emotions_intensities", "key": f"{sid}:1s"}}))
        sub = json.loads(client.recv(timeout=5))["body"]["subscriptionId"]
        event = json.loads(client.recv(timeout=5))
        assert event[0] == sub and event[2] == "sei" and isinstance(event[3][0], dict)
    with connect(sim.ws_url, open_timeout=5) as client:
        client.send("{oops")
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=5)
        assert client.close_code == 1008


def test_handshakes_refused_for_wrong_path_and_over_the_connection_limit(
    sim: EmoggSimulatorThread,
) -> None:
    with pytest.raises(InvalidStatus) as info, connect(
        sim.ws_url.replace("/ws/v1", "/ws/v2"), open_timeout=5
    ):
        pass
    assert info.value.response.status_code == 404
    for _ in range(3):  # 3 per window in this simulator
        with connect(sim.ws_url, open_timeout=5):
            pass
    with pytest.raises(InvalidStatus) as info, connect(sim.ws_url, open_timeout=5):
        pass
    assert info.value.response.status_code == 429


def test_cli_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from bridge import cli

    assert cli.main(["simulate-emogg", "--help"]) == 0
    assert "--unavailable-creates" in capsys.readouterr().out
    assert cli.main(["simulate-emogg", "--ts-format", "rfc"]) == 2
