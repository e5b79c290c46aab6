"""The sans-I/O protocol core, tested with plain data (frames as cortex_api.md shows them)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bridge.cortex.protocol import (
    CortexError,
    CortexWarning,
    ErrorResponse,
    Malformed,
    RequestBuilder,
    Response,
    classify,
    data_stream_key,
    decode,
    is_data,
    redact,
)


def test_observed_error_with_behavior() -> None:
    # Observed in Emotiv/cortex-example#129 (cortex_api.md §1.3).
    frame = decode(
        '{"error":{"code":-32018,"data":{"behavior":"This parameter is required: cortexToken"},'
        '"message":"Missing the required parameters."},"id":1,"jsonrpc":"2.0"}'
    )
    item = classify(frame)
    assert isinstance(item, ErrorResponse)
    assert (item.id, item.code) == (1, -32018)
    err = CortexError("createSession", item.code, item.message, item.data)
    assert err.behavior == "This parameter is required: cortexToken"
    assert "-32018" in str(err) and "cortexToken" in str(err)


def test_data_sample_is_data_and_names_its_stream() -> None:
    frame = decode('{"com":["push",0.376],"sid":"7f89","time":1559900743.3318}')
    assert is_data(frame)
    assert data_stream_key(frame) == "com"


def test_response_and_warning() -> None:
    assert classify(decode('{"id":"a","jsonrpc":"2.0","result":[]}')) == Response("a", [])
    w = classify(
        decode(
            '{"jsonrpc":"2.0","warning":{"code":0,"message":{"behavior":"stopped",'
            '"sessionId":"866b"}}}'
        )
    )
    assert isinstance(w, CortexWarning)
    assert (w.code, w.session_id, w.text()) == (0, "866b", "stopped")
    w9 = classify(decode('{"jsonrpc":"2.0","warning":{"code":9,"message":"granted"}}'))
    assert isinstance(w9, CortexWarning) and w9.session_id is None and w9.text() == "granted"


def test_malformed_kinds() -> None:
    assert isinstance(decode("{not json"), Malformed)
    assert isinstance(classify(decode("[1,2]")), Malformed)
    assert isinstance(classify({"result": 1}), Malformed)  # no id
    assert isinstance(classify({"id": True, "result": 1}), Malformed)  # bool is no id
    assert isinstance(classify({"error": "x", "id": 1}), Malformed)
    assert isinstance(classify({"warning": {"code": "0"}}), Malformed)
    assert isinstance(classify({"hello": 1}), Malformed)


def test_requests_are_numbered_and_json_rpc() -> None:
    builder = RequestBuilder()
    rid1, text1 = builder.build("getCortexInfo")
    rid2, text2 = builder.build("queryHeadsets", {"id": "EPOCX-*"})
    assert rid2 == rid1 + 1
    assert json.loads(text1) == {"jsonrpc": "2.0", "id": rid1, "method": "getCortexInfo"}
    assert json.loads(text2)["params"] == {"id": "EPOCX-*"}


def test_redact_hides_secrets() -> None:
    safe = redact({"clientId": "app", "clientSecret": "s3cret", "cortexToken": "tok"})
    assert "s3cret" not in str(safe) and "tok" not in str(safe.values())
    assert safe["clientId"] == "app"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["id", "result", "error", "warning", "code", "message", "sid", "x"]),
        children,
        max_size=4,
    ),
    max_leaves=12,
)


@given(json_values)
def test_classify_never_raises(value: object) -> None:
    if is_data(value):
        return
    item = classify(value)
    assert isinstance(item, Response | ErrorResponse | CortexWarning | Malformed)


@given(st.binary(max_size=40) | st.text(max_size=40))
def test_decode_never_raises(raw: bytes | str) -> None:
    decode(raw)


def test_token_expiry_reads_the_jwt_payload() -> None:
    import base64

    from bridge.cortex.api import token_expiry

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = b64(json.dumps({"exp": 1_700_259_200, "nbf": 1_700_000_000}).encode())
    assert token_expiry(f"{b64(b'{}')}.{payload}.sig") == 1_700_259_200.0
    assert token_expiry("not-a-jwt") is None
    assert token_expiry(f"a.{b64(b'[1]')}.c") is None
    assert token_expiry("a.!!!.c") is None
