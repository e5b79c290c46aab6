"""OSC that explains itself, with real receivers: labels (on start, on request, every
minute), electrode-only vectors, band averages, and the EmotivBCI and Mind Monitor
presets (exact address sets), read by python-osc, a raw socket and liblo's oscdump."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from osc_receivers import OscDump, PythonOscReceiver

import bridge.outputs.osc as osc_module
from bridge.config import OscSettings
from bridge.outputs.osc import OscOutput
from bridge.outputs.osc_codec import MAX_DATAGRAM, day_time, encode_message
from bridge.outputs.osc_layout import (
    EMOTIVBCI_COM,
    band_indices,
    electrode_indices,
    labels_messages,
    preset_table,
)
from bridge.simulator.headsets import EPOC_SENSORS, FLEX_SENSORS, MOTION_QUATERNION, stream_cols
from bridge.status import StatusBoard
from bridge.streams import HeadsetInfo, StreamPlan, build_plan

EPOCX = HeadsetInfo("EPOCX-0A0B0C0D", "EPOCX", sensors=EPOC_SENSORS, eeg_rate=128.0,
                    mems_rate=64.0)
FLEX = HeadsetInfo("EPOCFLEX-11223344", "EPOCFLEX", sensors=FLEX_SENSORS, eeg_rate=128.0)
MOTION_FULL = ("COUNTER_MEMS", "INTERPOLATED_MEMS", "Q0", "Q1", "Q2", "Q3", "ACCX", "ACCY",
               "ACCZ", "MAGX", "MAGY", "MAGZ", "GYROX", "GYROY", "GYROZ")


def plan_for(stream: str, headset: HeadsetInfo = EPOCX) -> StreamPlan:
    return build_plan(stream, stream_cols(stream, headset.sensors, MOTION_QUATERNION, "current"),
                      headset)


def f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def make_output(port: int, board: StatusBoard | None = None, **keys: Any) -> OscOutput:
    keys.setdefault("listen", "")
    return OscOutput(OscSettings(enabled=True, targets=(f"127.0.0.1:{port}",), **keys),
                     multi_headset=False, board=board)


@pytest.fixture
def receiver() -> Iterator[PythonOscReceiver]:
    with PythonOscReceiver() as running:
        yield running


# --------------------------------------------------------------------- pure helpers


def test_electrodes_leave_out_the_bookkeeping_at_both_ends() -> None:
    eeg = plan_for("eeg")
    assert eeg.labels[:2] == ("COUNTER", "INTERPOLATED") and "RAW_CQ" in eeg.labels
    assert [eeg.labels[i] for i in electrode_indices(eeg, EPOCX.sensors)] == list(EPOC_SENSORS)
    dev = plan_for("dev")
    assert [dev.labels[i] for i in electrode_indices(dev, EPOCX.sensors)] == [
        f"cq/{s}" for s in EPOC_SENSORS]
    eq = plan_for("eq")
    assert [eq.labels[i] for i in electrode_indices(eq, ())] == list(EPOC_SENSORS)  # 10-10
    assert electrode_indices(plan_for("met"), EPOCX.sensors) == []


def test_band_indices_take_each_band_of_every_electrode() -> None:
    pow_ = plan_for("pow")
    bands = dict(band_indices(pow_))
    assert list(bands) == ["theta", "alpha", "betaL", "betaH", "gamma"]
    assert [pow_.labels[i] for i in bands["alpha"]] == [f"{s}/alpha" for s in EPOC_SENSORS]
    assert band_indices(plan_for("met")) == []


def test_labels_of_flex_band_power_are_split_to_fit_datagrams() -> None:
    pow_ = plan_for("pow", FLEX)
    messages = labels_messages("/emotiv/EPOCFLEX-11223344/pow", pow_.labels)
    assert len(messages) >= 2
    assert [a for a, _ in messages] == [f"/emotiv/EPOCFLEX-11223344/pow/labels/{k}"
                                       for k in range(len(messages))]
    assert [n for _, names in messages for n in names] == list(pow_.labels)
    assert all(len(encode_message(a, list(n))) <= MAX_DATAGRAM for a, n in messages)
    assert labels_messages("/emotiv/met", ("a", "b")) == [("/emotiv/met/labels", ("a", "b"))]


@pytest.mark.parametrize("seconds", [0.0, 1796284995.25, 12345.999_999_7, 86399.5, 4e9])
def test_day_time_parts_are_exact_in_float32(seconds: float) -> None:
    day, second, micro = day_time(seconds)
    assert 0 <= second < 86400 and 0 <= micro < 1_000_000
    assert all(f32(v) == v for v in (day, second, micro))
    assert day * 86400 + second + micro / 1e6 == pytest.approx(seconds, abs=1e-6)


def test_preset_prefix_follows_the_preset_unless_set() -> None:
    assert OscSettings().prefix == "/emotiv"
    assert OscSettings(preset="emotivbci").prefix == ""
    assert OscSettings(preset="mindmonitor").prefix == "/muse"
    assert OscSettings(preset="emotivbci", prefix="/x").prefix == "/x"
    assert OscSettings(listen="127.0.0.1:0").listen == "127.0.0.1:0"
    with pytest.raises(ValueError, match="host:port"):
        OscSettings(listen="7403")


# --------------------------------------------------------------------- native: real receivers


def test_labels_electrodes_and_bands_arrive(receiver: PythonOscReceiver) -> None:
    out = make_output(receiver.port)
    out.open()
    try:
        eeg, pow_, met = plan_for("eeg"), plan_for("pow"), plan_for("met")
        sinks = {p.stream: out.sinks_for(p, EPOCX)[0] for p in (eeg, pow_, met)}
        eeg_sample = [5.0, 0.0, *[4000.0 + i for i in range(14)], 9.0, 0.0]
        sinks["eeg"](eeg_sample, 1.0)
        sinks["pow"]([float(i) for i in range(len(pow_.labels))], 1.0)
        receiver.wait_for(lambda m: m.address == "/emotiv/pow/gamma")
        receiver.wait_for(lambda m: m.address == "/emotiv/eeg/electrodes")
    finally:
        out.close()
    got = {m.address: m.args for m in receiver.snapshot()}
    # On start, before any sample: the names of every vector address's arguments.
    assert got["/emotiv/eeg/labels"] == eeg.labels
    assert got["/emotiv/eeg/electrodes/labels"] == EPOC_SENSORS
    assert got["/emotiv/met/labels"] == met.labels
    assert got["/emotiv/pow/labels"] == pow_.labels
    assert got["/emotiv/eeg/electrodes"] == tuple(4000.0 + i for i in range(14))
    assert got["/emotiv/eeg"] == tuple(eeg_sample)
    assert got["/emotiv/pow/alpha"] == (f32(sum(5 * e + 1 for e in range(14)) / 14),)
    assert "/emotiv/pow/electrodes" not in got and "/emotiv/met/electrodes" not in got


def test_labels_on_request_and_every_minute(
    receiver: PythonOscReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osc_module, "LABELS_INTERVAL_SECONDS", 0.3)

    async def run() -> tuple[int, int]:
        out = make_output(receiver.port, listen="127.0.0.1:0", board=StatusBoard())
        out.open()
        try:
            assert out.listen_address is not None
            out.sinks_for(plan_for("met"), EPOCX)
            await asyncio.sleep(0)  # the tick ends: its bundle leaves
            receiver.wait_for(lambda m: m.address == "/emotiv/met/labels", timeout=5)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(encode_message("/emotiv/labels/request", []), out.listen_address)
                sock.sendto(encode_message("/emotiv/other", []), out.listen_address)
                for _ in range(50):
                    await asyncio.sleep(0.02)
                    if len(receiver.of("/emotiv/met/labels")) >= 2:
                        break
            on_request = len(receiver.of("/emotiv/met/labels"))
            await asyncio.sleep(0.35)
            out.tick_status()  # the labels timer rides on the status tick
            await asyncio.sleep(0.1)
            return on_request, out.requests
        finally:
            out.close()

    on_request, requests = asyncio.run(run())
    assert on_request == 2 and requests == 1  # the other address was not a request
    receiver.wait_for(lambda m: len(receiver.of("/emotiv/met/labels")) >= 3, timeout=5)


def test_oscdump_reads_labels_and_presets() -> None:
    with OscDump() as dump:
        out = make_output(dump.port)
        bci = make_output(dump.port, preset="emotivbci")
        out.open()
        bci.open()
        try:
            out.sinks_for(plan_for("eeg"), EPOCX)
            met = plan_for("met")
            (sink,) = bci.sinks_for(met, EPOCX)
            sink([1.0 if label.endswith(".isActive") else 0.25 for label in met.labels], 1.0)
            for _ in range(100):
                if dump.of("/met/att") and dump.of("/emotiv/eeg/electrodes/labels"):
                    break
                asyncio.run(asyncio.sleep(0.02))
        finally:
            out.close()
            bci.close()
    line = dump.of("/emotiv/eeg/electrodes/labels")[-1]
    assert line.tags == "s" * 14 and line.args == tuple(f'"{s}"' for s in EPOC_SENSORS)
    assert dump.of("/met/att")[-1].tags == "f" and dump.of("/met/att")[-1].args == ("0.250000",)
    assert not dump.errors


# --------------------------------------------------------------------- presets


def test_emotivbci_preset_sends_exactly_its_addresses(receiver: PythonOscReceiver) -> None:
    board = StatusBoard()
    out = make_output(receiver.port, preset="emotivbci", board=board)
    out.open()
    try:
        plans = {s: plan_for(s) for s in ("eeg", "pow", "com", "fac", "met", "mot")}
        sinks = {s: out.sinks_for(p, EPOCX) for s, p in plans.items()}
        assert sinks["eeg"] == [] and sinks["pow"] == [] and sinks["mot"] == []
        sinks["com"][0](plans["com"].extract(["push", 0.5]), 1.0)
        sinks["fac"][0](plans["fac"].extract(["lookL", "frown", 0.25, "smirkLeft", 0.75]), 1.0)
        met = plans["met"]
        sample = [0.0 if label == "str.isActive" else 1.0 if label.endswith(".isActive")
                  else math.nan if label == "rel" else 0.5 for label in met.labels]
        sinks["met"][0](sample, 1.0)
        board.headset(EPOCX.id)
        out.tick_status()
        out.send_marker(EPOCX.id, "go", 1, 1.0)
        receiver.wait_for(lambda m: m.address == "/met/eng")
    finally:
        out.close()
    got = {m.address: m.args for m in receiver.snapshot()}
    expected = (
        {f"/com/{a}" for a in EMOTIVBCI_COM}
        | {f"/fac/eyeAct/{a}" for a in ("neutral", "lookL", "lookR", "blink", "winkL", "winkR")}
        | {f"/fac/uAct/{a}" for a in ("neutral", "frown", "surprise")}
        | {f"/fac/lAct/{a}" for a in ("neutral", "clench", "laugh", "smile", "smirkLeft",
                                      "smirkRight")}
        | {f"/met/{m}" for m in ("att", "int", "rel", "str", "exc", "eng")}
    )
    assert set(got) == expected  # no vectors, labels, status, marker, lookU/lookD
    assert got["/com/push"] == (0.5,) and got["/com/pull"] == (0.0,)
    assert got["/fac/eyeAct/lookL"] == (1.0,) and got["/fac/uAct/frown"] == (0.25,)
    assert got["/fac/lAct/smirkLeft"] == (0.75,)
    assert got["/met/att"] == (0.5,) and got["/met/eng"] == (0.5,)
    assert got["/met/str"] == (-1.0,) and got["/met/rel"] == (-1.0,)  # inactive, null


def test_mind_monitor_preset_sends_exactly_its_addresses(receiver: PythonOscReceiver) -> None:
    out = make_output(receiver.port, preset="mindmonitor")
    out.open()
    try:
        eeg, pow_, dev, fac = (plan_for(s) for s in ("eeg", "pow", "dev", "fac"))
        mot = build_plan("mot", list(MOTION_FULL), EPOCX)
        assert out.sinks_for(plan_for("met"), EPOCX) == []
        assert out.sinks_for(plan_for("com"), EPOCX) == []
        sinks = {p.stream: out.sinks_for(p, EPOCX)[0] for p in (eeg, pow_, dev, fac, mot)}
        sinks["eeg"]([5.0, 0.0, *[4000.0 + i for i in range(14)], 9.0, 0.0], 1.0)
        sinks["pow"]([10.0 ** (1 + (i % 5 == 1)) for i in range(len(pow_.labels))], 1.0)
        levels = [4, 3, 2, 1, 0] * 3
        sinks["dev"]([4.0, 1.0, *levels[:14], 80.0, 90.0][: len(dev.labels)], 1.0)
        sinks["mot"]([float(i) for i in range(len(MOTION_FULL))], 1.0)
        for t, eye, clench in ((1.0, "blink", 0.0), (1.03, "blink", 0.5), (1.06, "neutral", 0.5)):
            sinks["fac"](fac.extract([eye, "neutral", 0.0, "clench" if clench else "neutral",
                                      clench]), t)
        receiver.wait_for(lambda m: m.address == "/muse/gyro")
    finally:
        out.close()
    got: dict[str, list[tuple[Any, ...]]] = {}
    for m in receiver.snapshot():
        got.setdefault(m.address, []).append(m.args)
    assert set(got) == {"/muse/eeg", "/muse/elements/theta_absolute",
                        "/muse/elements/alpha_absolute", "/muse/elements/beta_absolute",
                        "/muse/elements/gamma_absolute", "/muse/elements/horseshoe",
                        "/muse/elements/blink", "/muse/elements/jaw_clench", "/muse/acc",
                        "/muse/gyro"}
    assert got["/muse/eeg"] == [tuple(4000.0 + i for i in range(14))]
    assert got["/muse/elements/alpha_absolute"] == [(2.0,)]  # log10 of the mean (100)
    assert got["/muse/elements/theta_absolute"] == [(1.0,)]
    assert got["/muse/elements/beta_absolute"] == [(1.0,)]
    assert got["/muse/elements/horseshoe"] == [tuple([1.0, 2.0, 2.0, 4.0, 4.0] * 3)[:14]]
    acc = [MOTION_FULL.index(c) for c in ("ACCX", "ACCY", "ACCZ")]
    assert got["/muse/acc"] == [tuple(float(i) for i in acc)]
    assert got["/muse/elements/blink"] == [(1,)]  # an event: once, when it starts
    assert got["/muse/elements/jaw_clench"] == [(1,)]


def test_preset_tables_name_every_address_the_presets_send() -> None:
    bci, muse = preset_table("emotivbci"), preset_table("mindmonitor")
    for address in ("/com/<action>", "/fac/eyeAct/<action>", "/fac/uAct/<action>",
                    "/fac/lAct/<action>", "/met/<metric>"):
        assert f"`{address}`" in bci
    for address in ("/muse/eeg", "/muse/elements/<band>_absolute", "/muse/elements/horseshoe",
                    "/muse/elements/blink", "/muse/elements/jaw_clench", "/muse/acc",
                    "/muse/gyro"):
        assert f"`{address}`" in muse
