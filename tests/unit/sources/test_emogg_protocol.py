"""Emogg protocol, stream plans and settings with plain data (no sockets, no service)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bridge.config import (
    EMOGG_EMOTIONS,
    Settings,
    emogg_problems,
    load_settings,
    resolve_emogg_token,
)
from bridge.config.uris import check_stream_uri
from bridge.errors import ConfigError
from bridge.sources.emogg.catalog import (
    EMOGG_STREAMS,
    build_emogg_plans,
    emogg_source_info,
    unknown_emotions,
)
from bridge.sources.emogg.protocol import (
    CHANNEL_COUNTS,
    CHANNEL_INTENSITIES,
    CHANNEL_WORKER_STATE,
    ErrorReply,
    Event,
    MessageError,
    ReplyQueue,
    Response,
    SlidingWindow,
    channel_key,
    encode_request,
    parse_message,
    rate_limit_reset,
    rest_error_message,
)
from bridge.streams import FrameError, StreamPlan

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")

TOKEN = "tok-Secret-7f3a-do-not-print"

# ---- messages (the docs' own examples) -------------------------------------------------


def test_response_error_and_events_from_the_docs() -> None:
    ok = parse_message('{"id":1,"path":"auth:token","status":200}')
    assert ok == Response(1, "auth:token", 200, {})
    assert ok.ok
    err = parse_message(
        '{"error":true,"id":null,"path":"auth:token","status":401,'
        '"data":{"message":"Invalid token"}}'
    )
    assert err == ErrorReply(None, "auth:token", 401, "Invalid token")
    sub = parse_message(
        '{"id":null,"path":"channels:subscribe","status":200,'
        '"body":{"subscriptionId":"luug96xrbbc594"}}'
    )
    assert isinstance(sub, Response) and sub.body["subscriptionId"] == "luug96xrbbc594"
    sec = parse_message(
        '["luug96xrbbc594","2024-04-14T23:00:30.000Z","sec",'
        '[{"exaltation":3,"focus":5,"shock":1}]]'
    )
    assert sec == Event("luug96xrbbc594", "2024-04-14T23:00:30.000Z", "sec",
                        ({"exaltation": 3, "focus": 5, "shock": 1},))
    sws = parse_message('["luug96xrbbc594",1712794471965,"sws",["working"]]')
    assert isinstance(sws, Event) and sws.timestamp == 1712794471965 and sws.payloads == ("working",)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "42",
        '{"status":200}',  # no path
        '{"path":"ping","status":"200"}',  # status not a number
        '["a","t","sec"]',  # 3 elements
        '["a","t","sec",{}]',  # payload not a list
        '[1,"t","sec",[]]',  # subscription id not a string
        '["a",true,"sec",[]]',  # timestamp a bool
    ],
)
def test_malformed_messages_are_rejected(text: str) -> None:
    with pytest.raises(MessageError):
        parse_message(text)


def test_error_status_without_error_flag_is_an_error() -> None:
    reply = parse_message('{"id":2,"path":"channels:subscribe","status":404,"body":{}}')
    assert reply == ErrorReply(2, "channels:subscribe", 404, "status 404")


def test_requests_are_the_documented_shape() -> None:
    assert encode_request("auth:token", {"token": "x"}, 1) == (
        '{"id":1,"path":"auth:token","body":{"token":"x"}}'
    )
    assert encode_request("ping") == '{"path":"ping"}'


def test_replies_match_by_path_in_order_whatever_the_id() -> None:
    queue: ReplyQueue[str] = ReplyQueue()
    queue.add("channels:subscribe", "first")
    queue.add("ping", "the ping")
    queue.add("channels:subscribe", "second")
    assert queue.pop("channels:subscribe") == "first"
    assert queue.pop("ping") == "the ping"
    assert queue.pop("ping") is None
    assert len(queue) == 1
    assert queue.drain() == ["second"]
    assert len(queue) == 0


def test_sliding_window_keeps_under_the_limit() -> None:
    window = SlidingWindow(3, 60.0)
    for t in (0.0, 1.0, 2.0):
        assert window.delay(t) == 0.0
        window.record(t)
    assert window.delay(10.0) == pytest.approx(50.0)  # the oldest leaves at t=60
    assert window.delay(60.0) == 0.0
    with pytest.raises(ValueError):
        SlidingWindow(0, 60.0)


def test_channel_keys() -> None:
    assert channel_key(CHANNEL_COUNTS, "66151895e00a857bd76f889d", "10s") == (
        "66151895e00a857bd76f889d:10s"
    )
    assert channel_key(CHANNEL_WORKER_STATE, "66151895e00a857bd76f889d", "10s") == (
        "66151895e00a857bd76f889d"
    )


def test_stream_uri_schemes_and_secrecy() -> None:
    for ok in ("rtmp://stream.emogg.com/live/key", "rtsp://10.0.0.2:554/cam", "RTMPS://h/x"):
        assert check_stream_uri(ok) == ok
    with pytest.raises(ValueError) as info:
        check_stream_uri("https://user:hunter2@example.org/live/streamkey")
    assert "hunter2" not in str(info.value) and "streamkey" not in str(info.value)
    assert "'https'" in str(info.value)
    with pytest.raises(ValueError, match="host"):
        check_stream_uri("rtmp:///nohost")


def test_rest_error_bodies_and_rate_limit_headers() -> None:
    assert rest_error_message(400, b'{"error":true,"status":400,"message":"bad name"}') == "bad name"
    assert rest_error_message(502, b"<html>gateway</html>") == "HTTP 502"
    assert rate_limit_reset({"RateLimit-Reset": "12"}) == 12.0
    assert rate_limit_reset({"ratelimit-reset": "soon"}) is None
    assert rate_limit_reset({}) is None


# ---- stream plans -----------------------------------------------------------------------


def _plans() -> dict[str, StreamPlan]:
    channels = (CHANNEL_INTENSITIES, CHANNEL_COUNTS, CHANNEL_WORKER_STATE)
    built = build_emogg_plans(channels, EMOGG_EMOTIONS, "1s")
    return {plan.stream: plan for plans in built.values() for plan in plans}


def test_every_table_row_becomes_a_plan_with_metadata() -> None:
    plans = _plans()
    assert set(plans) == {spec.stream for spec in EMOGG_STREAMS}
    intensity = plans["emogg-intensity"]
    assert intensity.labels == EMOGG_EMOTIONS
    assert intensity.nominal_rate == 0.0
    assert {c.unit for c in intensity.channels} == {"normalized"}
    assert dict(intensity.desc_extra)["emogg_channel"] == CHANNEL_INTENSITIES
    state = plans["emogg-state"]
    assert state.channel_format == "string" and state.lsl_type == "Markers"
    only_counts = build_emogg_plans((CHANNEL_COUNTS,), EMOGG_EMOTIONS, "10s")
    assert list(only_counts) == [CHANNEL_COUNTS]
    assert dict(only_counts[CHANNEL_COUNTS][0].desc_extra)["window"] == "10 s"


def test_extractors_fill_absent_emotions_with_zero_and_keep_the_order() -> None:
    built = build_emogg_plans((CHANNEL_INTENSITIES, CHANNEL_COUNTS), ("focus", "shock", "joy"), "1s")
    intensity, people = built[CHANNEL_INTENSITIES]
    counts = built[CHANNEL_COUNTS][0]
    sei = {"shock": {"people": 3, "quantity": 2.654, "intensity": 0.885},
           "focus": {"people": 1, "quantity": 0.5, "intensity": 0.5}, "newemotion": {}}
    assert intensity.extract(sei) == [0.5, 0.885, 0.0]
    assert people.extract(sei) == [1.0, 3.0, 0.0]
    assert counts.extract({"shock": 1, "exaltation": 3}) == [0.0, 1.0, 0.0]
    assert unknown_emotions(sei, ("focus", "shock", "joy")) == ["newemotion"]


@pytest.mark.parametrize(
    "payload",
    [[1, 2], {"focus": "high"}, {"focus": True}, {"focus": math.inf}, {"focus": {"intensity": "x"}},
     {"focus": 3}],
)
def test_bad_payloads_are_frame_errors(payload: object) -> None:
    intensity = build_emogg_plans((CHANNEL_INTENSITIES,), ("focus",), "1s")[CHANNEL_INTENSITIES][0]
    with pytest.raises(FrameError):
        intensity.extract(payload)


def test_worker_state_extractor() -> None:
    state = build_emogg_plans((CHANNEL_WORKER_STATE,), ("focus",), "1s")[CHANNEL_WORKER_STATE][0]
    assert state.extract("working") == ["working"]
    for bad in ("", 3, None, "\ud800"):
        with pytest.raises(FrameError):
            state.extract(bad)


def test_source_info_names_emogg_not_emotiv() -> None:
    info = emogg_source_info("lab-audience")
    assert (info.id, info.manufacturer, info.source) == ("lab-audience", "Emogg", "Emogg API")


# ---- settings ---------------------------------------------------------------------------


def _settings(**env: str) -> Settings:
    return load_settings(None, {f"CORTEX_BRIDGE_EMOGG__{k.upper()}": v for k, v in env.items()})


def test_defaults_are_the_documented_endpoints() -> None:
    emogg = load_settings(None, {}).emogg
    assert emogg.api_url == "https://api.emogg.com/v1"
    assert emogg.ws_url == "wss://api.emogg.com/ws/v1"
    assert emogg.frequency == "1s" and emogg.ping_interval < 65
    assert emogg.emotions == EMOGG_EMOTIONS


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("api_url", "wss://api.emogg.com/v1", "emogg.api_url: must be a http:// or https://"),
        ("ws_url", "https://api.emogg.com/ws/v1", "emogg.ws_url: must be a ws:// or wss://"),
        ("frequency", "2s", "emogg.frequency: expected '1s'"),
        ("channels", "session_emotions", "emogg.channels: unknown channel"),
        ("emotions", "focus,focus", "emogg.emotions: an emotion is listed twice"),
        ("emotions", "foc us", "emogg.emotions: 'foc us' is not an emotion name"),
        ("ping_interval", "65", "emogg.ping_interval: must be less than 65"),
        ("source_id", "a:b", "emogg.source_id: use letters"),
        ("name_template", "Emogg-{session}", "emogg.name_template: unknown placeholder"),
        ("name_template", "Emogg", "emogg.name_template: must contain {stream}"),
        ("session_name", "x" * 257, "emogg.session_name: at most 256 characters"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        _settings(**{key: value})
    assert any(line.startswith(expected) for line in info.value.problems), info.value.problems


def test_stream_uri_errors_never_show_the_uri() -> None:
    with pytest.raises(ConfigError) as info:
        _settings(stream_uri=f"http://example.org/live/{TOKEN}")
    text = "\n".join(info.value.problems)
    assert "emogg.stream_uri" in text and TOKEN not in text


def test_token_resolution_order_and_secrecy(tmp_path: Path) -> None:
    folder = tmp_path
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    assert resolve_emogg_token(_settings(token=TOKEN).emogg, {}) == TOKEN
    assert resolve_emogg_token(_settings(token_file=str(token_file)).emogg, {}) == TOKEN
    creds = folder / "creds"
    creds.mkdir()
    (creds / "emogg_token").write_text(TOKEN)
    assert resolve_emogg_token(_settings().emogg, {"CREDENTIALS_DIRECTORY": str(creds)}) == TOKEN
    with pytest.raises(ConfigError) as info:
        resolve_emogg_token(_settings().emogg, {})
    assert info.value.problems[0].startswith("emogg.token: not set")
    settings = _settings(token=TOKEN, stream_uri="rtmp://h/live/key")
    assert TOKEN not in repr(settings) and "key" not in repr(settings.emogg.stream_uri)


def test_enabled_source_needs_a_stream_or_a_session() -> None:
    assert emogg_problems(_settings(), {}) == []
    problems = emogg_problems(_settings(enabled="true", token=TOKEN), {})
    assert len(problems) == 1 and problems[0].startswith("emogg.stream_uri: not set")
    assert emogg_problems(
        _settings(enabled="true", token=TOKEN, session_id="65ea1530bb50af72b6e3dc1e"), {}
    ) == []


def test_token_file_is_relative_to_the_config_and_a_token_in_it_warns(tmp_path: Path) -> None:
    from bridge.config import secret_file_warnings

    (tmp_path / "emogg_token").write_text(TOKEN)
    config = tmp_path / "bridge.toml"
    config.write_text('[emogg]\ntoken_file = "emogg_token"\n')
    settings = load_settings(config, {})
    assert settings.emogg.token_file == str(tmp_path / "emogg_token")
    assert resolve_emogg_token(settings.emogg, {}) == TOKEN
    with_token = tmp_path / "with-token.toml"
    with_token.write_text(f'[emogg]\ntoken = "{TOKEN}"\n')
    with_token.chmod(0o644)
    [warning] = secret_file_warnings(with_token)
    assert "chmod go-rwx" in warning and TOKEN not in warning
