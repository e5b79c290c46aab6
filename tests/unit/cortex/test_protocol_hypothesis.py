"""Property: whatever Cortex sends, nothing raises out of decoding, classification or the
connection's message handling, and the router's callbacks do not raise either (a
callback error would be caught by the connection, but it would be a bug: counted in
``callback_errors``, logged with a traceback)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.cortex.connection import CortexConnection
from bridge.cortex.protocol import (
    CortexWarning,
    ErrorResponse,
    Malformed,
    Response,
    classify,
    decode,
    is_data,
)
from bridge.cortex.router import Router, SessionRoutes
from bridge.status import StatusBoard

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
KEYS = st.sampled_from(
    ["sid", "time", "id", "result", "error", "warning", "code", "message", "sessionId",
     "headsetId", "eeg", "met", "jsonrpc", "data", "behavior"]
) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=12,
)
# Objects shaped like Cortex frames, with every field free to be anything.
frame_like = st.fixed_dictionaries(
    {},
    optional={
        "sid": json_values | st.just("S1"),
        "time": json_values,
        "eeg": json_values,
        "id": json_values,
        "result": json_values,
        "error": json_values
        | st.fixed_dictionaries({"code": json_values}, optional={"message": json_values}),
        "warning": json_values
        | st.fixed_dictionaries(
            {"code": st.sampled_from([0, 1, 9, 10, 103, 104, 142]) | json_values},
            optional={"message": json_values
                      | st.fixed_dictionaries({"sessionId": json_values,
                                               "headsetId": json_values})},
        ),
    },
)
messages = (
    st.text(max_size=40)
    | st.binary(max_size=40)
    | json_values.map(json.dumps)
    | frame_like.map(json.dumps)
)


@given(messages)
def test_decode_never_raises(message: str | bytes) -> None:
    decode(message)


@given(json_values | frame_like)
def test_classify_returns_one_of_four_kinds(value: Any) -> None:
    if is_data(value):
        return
    kind = classify(value)
    assert isinstance(kind, Response | ErrorResponse | CortexWarning | Malformed)
    if isinstance(kind, CortexWarning):
        kind.text()
        _ = kind.session_id, kind.headset_id


def _router() -> Router:
    router = Router(StatusBoard())
    router.routes["S1"] = SessionRoutes("H1")  # a live session, its pipelines not built yet
    return router


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=8))
def test_connection_and_router_callbacks_take_anything(batch: list[str | bytes]) -> None:
    async def main() -> tuple[int, int]:
        router = _router()
        conn = CortexConnection(
            "wss://localhost:6868",
            ssl_context=None,
            on_data=router.on_data,
            on_warning=router.on_warning,
            on_malformed=router.on_malformed,
        )
        for message in batch:
            conn.handle_message(message)
        board = router.board
        return conn.callback_errors, board.malformed_frames + board.unrouted_frames

    errors, _counted = asyncio.run(main())
    assert errors == 0


def test_a_nan_time_is_no_exception() -> None:
    router = _router()
    router.on_data({"sid": "S1", "eeg": [1, 2], "time": math.nan})
    assert len(router.routes["S1"].pending) == 1
