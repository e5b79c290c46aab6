"""The bridge's Cortex 1.x layer: column names, frame normalisation, dialect detection,
the v1 API behind the daemon's calls (plain data), and a marker round trip through the
real connection to the simulator's 1.x dialect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bridge.clock import OriginEstimator
from bridge.cortex.api import CortexApi, Subscription
from bridge.cortex.api_v1 import (
    CortexApiV1,
    V1Frames,
    detect_dialect,
    normalise_headset,
    open_api,
    translate_columns,
)
from bridge.cortex.connection import CortexConnection, make_ssl_context
from bridge.cortex.protocol import CortexError
from bridge.simulator import SimulatorThread
from bridge.streams import HeadsetInfo, build_plan


class FakeService:
    """A Requester answering from a table of functions (no socket)."""

    def __init__(self, answers: Mapping[str, Callable[[dict[str, Any]], Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.data_filter: Any = None

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        self.calls.append((method, dict(params or {})))
        answer = self.answers.get(method)
        if answer is None:
            raise CortexError(method, -32601, "The method does not exist / is not available.")
        return answer(dict(params or {}))

    def filter_data(self, wrap: Any) -> None:
        self.data_filter = wrap


def fail(code: int) -> Callable[[dict[str, Any]], Any]:
    def raise_(params: dict[str, Any]) -> Any:
        raise CortexError("x", code, "refused")

    return raise_


EEG_V1 = [
    "IED_COUNTER", "IED_INTERPOLATED", "IED_RAW_CQ", "IED_AF3", "IED_T7", "IED_Pz", "IED_T8",
    "IED_AF4", "IEE_MARKER_HARDWARE", "IEE_MARKER",
]  # fmt: skip


def test_columns_get_their_v2_names_and_the_catalog_knows_them() -> None:
    assert translate_columns(EEG_V1) == [
        "COUNTER", "INTERPOLATED", "RAW_CQ", "AF3", "T7", "Pz", "T8", "AF4",
        "MARKER_HARDWARE", "MARKERS",
    ]  # fmt: skip
    assert translate_columns(["IED_MARKER_HARDWARE", "IED_MARKER"]) == [
        "MARKER_HARDWARE",
        "MARKERS",
    ]
    assert translate_columns(["IMD_COUNTER", "IMD_GYROX"]) == ["COUNTER_MEMS", "GYROX"]
    assert translate_columns(["Battery", "Signal", ["IEE_CHAN_AF3", "IEE_CHAN_Pz"]]) == [
        "Battery", "Signal", ["AF3", "Pz"],
    ]  # fmt: skip
    assert translate_columns(["IED_AF3/theta", "int", "act"]) == ["AF3/theta", "int", "act"]
    # The 1.x headset object lists no sensors: the catalog recognises them by name.
    headset = HeadsetInfo.from_headset_object(
        normalise_headset({"id": "INSIGHT-1", "sensors": [], "settings": {"eegRate": 128}})
    )
    plan = build_plan("eeg", translate_columns(EEG_V1), headset)
    assert [c.type for c in plan.channels if c.label == "AF3"] == ["EEG"]
    assert "MARKERS" not in plan.labels and plan.markers_index == 9
    assert normalise_headset({"id": "X", "status": "pending"})["status"] == "discovered"
    assert normalise_headset({"id": "X"})["status"] == "connected"


def test_frames_time_since_start_becomes_epoch_time() -> None:
    now = [100.0]
    frames = V1Frames(OriginEstimator(), lsl_clock=lambda: now[0], epoch_offset=lambda: 1.7e9)
    out: list[dict[str, Any]] = []
    handle = frames.wrap(out.append)
    frames.learn_session({"id": "s"})
    # Cortex started at LSL time 40.0; frames arrive 3 ms, 1 ms, 5 ms after their stamp.
    for stamp, delay in ((60.0, 0.003), (60.1, 0.001), (60.2, 0.005)):
        now[0] = 40.0 + stamp + delay
        handle({"mot": [1], "sid": "s", "time": stamp})
    assert out[-1]["time"] == pytest.approx(1.7e9 + 40.0 + 60.2 + 0.001)
    handle({"sid": "s", "sys": ["Mental Command", "MC_Started"]})
    assert out[-1] == {"sid": "s", "sys": ["mentalCommand", "MC_Started"]}  # no time added
    # Frames of a session that is not ours are no evidence of the clock (the daemon
    # counts them as unrouted): an epoch-time stamp here must not wreck the origin.
    handle({"eeg": [0, 0, 4200.0], "sid": "other", "time": 1.7e9})
    assert out[-1]["time"] == 1.7e9
    assert frames.estimator.origin == pytest.approx(40.001)


def test_eeg_marker_columns_become_marker_objects() -> None:
    frames = V1Frames(OriginEstimator(), lsl_clock=lambda: 10.0, epoch_offset=lambda: 0.0)
    out: list[dict[str, Any]] = []
    handle = frames.wrap(out.append)
    frames.learn_session(
        {
            "id": "s",
            "markers": [
                {"code": 2, "enums": ["start", "stop"], "label": "A", "port": "LSL", "events": []}
            ],
        }
    )
    frames.expect_event("s", 2, 2, "2024-01-01T00:00:01.000000+00:00")
    frames.expect_eeg("s")
    handle({"eeg": [1, 0, 0, 4200.0, 0, 0], "sid": "s", "time": 1.0})
    handle({"eeg": [2, 0, 0, 4200.0, 2, 2], "sid": "s", "time": 1.01})
    assert out == []  # held until the subscription's cols are known
    cols = frames.register_eeg(
        "s", ["IED_COUNTER", "IED_INTERPOLATED", "IED_RAW_CQ", "IED_AF3", "IEE_MARKER_HARDWARE",
              "IEE_MARKER"],
    )  # fmt: skip
    # v2 names in v2 order (1.x puts RAW_CQ before the sensors): the same LSL channels.
    assert cols == ["COUNTER", "INTERPOLATED", "AF3", "RAW_CQ", "MARKER_HARDWARE", "MARKERS"]
    assert [f["eeg"][:4] for f in out] == [[1, 0, 4200.0, 0], [2, 0, 4200.0, 0]]
    assert [f["eeg"][-1] for f in out] == [
        [],
        [{"value": "stop", "label": "A", "port": "LSL", "type": "instance", "hardware": 2,
          "startDatetime": "2024-01-01T00:00:01.000000+00:00"}],
    ]  # fmt: skip
    handle({"eeg": [3, 0, 0, 4200.0, 5, 17], "sid": "s", "time": 1.02})
    assert out[-1]["eeg"][-1] == [
        {"value": 17, "label": "", "port": "", "type": "instance", "hardware": 5}
    ]  # a marker of another application: the number as it came


def test_dialect_detection() -> None:
    v2 = FakeService({"getCortexInfo": lambda p: {"version": "2.7.0"}})
    v1 = FakeService({})
    # A Cortex 2 whose getCortexInfo fails is still a Cortex 2 (issue 15: it was never
    # connected): its hasAccessRight exists.
    broken = FakeService({"getCortexInfo": fail(-32603), "hasAccessRight": fail(-32018)})
    assert asyncio.run(detect_dialect(v2)) == "v2"
    assert asyncio.run(detect_dialect(v1)) == "v1"
    assert asyncio.run(detect_dialect(broken)) == "v2"
    api = asyncio.run(open_api(v1, "auto"))
    assert isinstance(api, CortexApiV1) and v1.data_filter is not None
    assert type(asyncio.run(open_api(v2, "auto"))) is CortexApi
    assert type(asyncio.run(open_api(v1, "v2"))) is CortexApi  # forced: no question asked


def test_v1_api_speaks_v1_and_answers_like_v2() -> None:
    session = {
        "id": "s1", "status": "activated", "headset": "INSIGHT-1",
        "markers": [{"code": 1, "enums": ["go"], "label": "L", "port": "LSL",
                     "events": [["2024-01-01T00:00:00.5+00:00", 1]]}],
    }  # fmt: skip
    service = FakeService(
        {
            "authorize": lambda p: {"_auth": "tok"},
            "queryHeadsets": lambda p: [{"id": "INSIGHT-1", "status": "pending"}],
            "controlBluetoothHeadset": lambda p: f"Connect headset {p['headset']} success",
            "createSession": fail(-32006),
            "injectMarker": lambda p: session,
            "subscribe": lambda p: (
                [{"mot": {"cols": ["IMD_COUNTER", "IMD_GYROX"]}, "sid": "s1"}]
                if p["streams"] == ["mot"]
                else fail(-32016)(p)
            ),
        }
    )
    frames = V1Frames(OriginEstimator(), lsl_clock=time.monotonic, epoch_offset=lambda: 0.0)
    walls = iter([0.0, 1000.0, 1000.002, 2000.0, 2000.010])  # the first call fails
    api = CortexApiV1(service, frames, wall=lambda: next(walls))

    async def run() -> None:
        assert (await api.has_access_right("id", "secret")).granted
        assert await api.authorize("id", "secret", "", 3) == "tok"
        assert service.calls[-1] == (
            "authorize", {"client_id": "id", "client_secret": "secret", "debit": 3},
        )  # fmt: skip
        assert (await api.query_headsets())[0]["status"] == "discovered"
        await api.control_device("refresh")
        await api.control_device("connect", "INSIGHT-1")
        assert service.calls[-1] == (
            "controlBluetoothHeadset", {"command": "connect", "headset": "INSIGHT-1"},
        )  # fmt: skip
        with pytest.raises(CortexError) as err:
            await api.create_session("INSIGHT-1", "active")
        assert err.value.code == -32019  # 1.x "no valid license" -> the daemon's fallback
        # Cortex's wall clock runs 12.345 s ahead: its session's "started" says so.
        service.answers = {
            **service.answers,
            "createSession": lambda p: {**session, "started": "1970-01-01T00:16:52.346+00:00"},
        }
        await api.create_session("INSIGHT-1", "active")
        assert api.wall_offset is not None
        assert api.wall_offset.difference == pytest.approx(12.345)
        await api.create_session("INSIGHT-1", "active")  # a slower exchange does not win
        assert api.wall_offset.spread == pytest.approx(0.002)
        ok, failed = await api.subscribe("s1", ["mot", "eeg"])
        assert ok == [Subscription("mot", ["COUNTER_MEMS", "GYROX"], "s1")]
        assert [(f.stream, f.code) for f in failed] == [("eeg", -32016)]
        assert all(p["_auth"] == "tok" for m, p in service.calls if m == "subscribe")
        with pytest.raises(CortexError) as err:
            await api.sync_with_headset_clock("INSIGHT-1")
        assert err.value.code == -32601
        record = await api.create_record("s1", "title")
        assert record["sessionId"] == "s1"
        answer = await api.inject_marker("s1", 1_700_000_000_000.0, "go", "L", "LSL")
        # The echo's time is the one asked for (our clock); Cortex gets its own clock's.
        assert answer["marker"]["startDatetime"] == "2023-11-14T22:13:20.000000+00:00"
        method, params = service.calls[-1]
        assert method == "injectMarker" and params["time"] == 1_700_000_012_345.0
        assert "cortexToken" not in params and params["_auth"] == "tok"

    asyncio.run(run())
    assert frames.estimator.transit >= 0.0


def test_v1_cortex_info_asks_the_service() -> None:
    """The daemon probes a silent Cortex with get_cortex_info (does it still answer?):
    with 1.x, which has no getCortexInfo, it must still be a request (getUserLogin), and
    an error is an answer too."""
    frames = V1Frames(OriginEstimator(), lsl_clock=time.monotonic, epoch_offset=lambda: 0.0)
    service = FakeService({"getUserLogin": lambda p: ["cortextest"]})
    info = asyncio.run(CortexApiV1(service, frames).get_cortex_info())
    assert info == {"version": "1.x", "dialect": "v1", "users": ["cortextest"]}
    assert service.calls == [("getUserLogin", {})]
    refusing = FakeService({"getUserLogin": fail(-32603)})
    assert asyncio.run(CortexApiV1(refusing, frames).get_cortex_info())["version"] == "1.x"
    assert refusing.calls == [("getUserLogin", {})]


def test_marker_round_trip_through_the_v1_simulator(
    sim_factory: Callable[..., SimulatorThread],
) -> None:
    """inject_marker (no record) -> the numeric IEE_MARKER column -> a MARKERS object
    with the string value back, as the daemon's marker echo reads it."""
    sim = sim_factory(dialect="v1", headsets=["insight:id=INSIGHT-00C0FFEE"])
    got: list[dict[str, Any]] = []

    async def run() -> None:
        conn = CortexConnection(
            sim.url,
            ssl_context=make_ssl_context(sim.url, True, sim.ca_pem_path),
            on_data=got.append,
            on_warning=lambda w: None,
            on_malformed=lambda r: None,
        )
        await conn.open()
        try:
            api = await open_api(conn, "auto")
            assert isinstance(api, CortexApiV1)
            await api.authorize("cortex-bridge-demo", "cortex-bridge-demo-secret")
            await api.control_device("connect", "INSIGHT-00C0FFEE")
            session = await api.create_session("INSIGHT-00C0FFEE", "active")
            ok, failed = await api.subscribe(session["id"], ["eeg", "eq"])
            assert [s.stream for s in ok] == ["eeg"] and [
                (f.stream, f.message, f.permanent) for f in failed
            ] == [("eq", "Cortex 1.x has no eq stream", True)]  # retrying cannot help
            assert ok[0].cols[-2:] == ["MARKER_HARDWARE", "MARKERS"]
            await asyncio.sleep(0.3)
            now_ms = time.time() * 1000.0
            await api.inject_marker(session["id"], now_ms, "start", "trial", "LSL")
            await api.inject_marker(session["id"], now_ms + 100.0, 7, "trial", "LSL")
            await asyncio.sleep(0.6)
        finally:
            await conn.close()

    asyncio.run(run())
    eeg = [f for f in got if "eeg" in f]
    markers = [m for f in eeg for m in f["eeg"][-1]]
    assert [(m["value"], m["label"], m["port"]) for m in markers] == [
        ("start", "trial", "LSL"),
        (7, "trial", "LSL"),
    ]
    assert all(isinstance(f["eeg"][-1], list) for f in eeg)
    # Times are epoch seconds now (not seconds since the simulator started).
    assert abs(eeg[-1]["time"] - time.time()) < 5.0
    assert markers[0]["startDatetime"]
