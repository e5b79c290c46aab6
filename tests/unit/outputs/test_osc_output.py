"""OscOutput with real receivers: python-osc's server, a raw socket, and liblo's oscdump.

Plans are built from the simulator's exact ``cols`` (the same tables the simulator
serves), samples pushed straight into the sinks, and what arrives over UDP is checked:
addresses, type tags, values, sizes, bundles, rate caps, and failure handling.
"""

from __future__ import annotations

import logging
import math
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from osc_receivers import OscDump, PythonOscReceiver, RawReceiver, free_udp_port
from pythonosc.osc_message import OscMessage

import bridge.outputs.osc as osc_module
from bridge.config import OscSettings
from bridge.outputs.osc import OscOutput, RateGate
from bridge.outputs.osc_codec import MAX_MESSAGE, NTP_UNIX_OFFSET
from bridge.simulator.headsets import (
    EPOC_SENSORS,
    FLEX_SENSORS,
    MOTION_QUATERNION,
    stream_cols,
)
from bridge.status import StatusBoard
from bridge.streams import HeadsetInfo, StreamPlan, build_plan

EPOCX = HeadsetInfo("EPOCX-0A0B0C0D", "EPOCX", sensors=EPOC_SENSORS, eeg_rate=128.0,
                    mems_rate=64.0)
FLEX = HeadsetInfo("EPOCFLEX-11223344", "EPOCFLEX", sensors=FLEX_SENSORS, eeg_rate=128.0,
                   mems_rate=64.0)


def plan_for(stream: str, headset: HeadsetInfo = EPOCX) -> StreamPlan:
    cols = stream_cols(stream, headset.sensors, MOTION_QUATERNION, "current")
    return build_plan(stream, cols, headset)


def f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def tags_of(dgram: bytes) -> str:
    end = dgram.index(b"\x00")
    start = (end + 4) & ~3
    return dgram[start : dgram.index(b"\x00", start)].decode()


def make_output(port: int, **keys: Any) -> OscOutput:
    settings = OscSettings(enabled=True, targets=(f"127.0.0.1:{port}",), **keys)
    return OscOutput(settings, multi_headset=False)


@pytest.fixture
def receiver() -> Iterator[PythonOscReceiver]:
    with PythonOscReceiver() as running:
        yield running


@pytest.fixture
def raw() -> Iterator[RawReceiver]:
    with RawReceiver() as running:
        yield running


def eeg_sample(plan: StreamPlan, k: int) -> list[float]:
    return [float(k % 128), 0.0, *[4100.0 + i + k / 7 for i in range(len(plan.labels) - 4)],
            0.0, 0.0]


# --------------------------------------------------------------------- addresses and values


def test_vector_layout_eeg_with_python_osc(receiver: PythonOscReceiver) -> None:
    out = make_output(receiver.port)
    out.open()
    try:
        plan = plan_for("eeg")
        (sink,) = out.sinks_for(plan, EPOCX)
        samples = [eeg_sample(plan, k) for k in range(20)]
        for k, sample in enumerate(samples):
            sink(sample, 100.0 + k / 128)
        receiver.wait_for(lambda m: m.args and m.args[0] == 19.0)
    finally:
        out.close()
    got = receiver.of("/emotiv/eeg")
    assert len(got) == 20
    for message, sample in zip(got, samples, strict=True):
        assert message.args == tuple(f32(v) for v in sample)


def test_oscdump_reads_every_stream_shape() -> None:
    """liblo decodes our vector, split, action and status messages with the tags we mean."""
    with OscDump() as dump:
        out = make_output(dump.port, layouts={"met": "split"})
        out.open()
        try:
            eeg, met, com = plan_for("eeg"), plan_for("met"), plan_for("com")
            (eeg_sink,) = out.sinks_for(eeg, EPOCX)
            (met_sink,) = out.sinks_for(met, EPOCX)
            (com_sink,) = out.sinks_for(com, EPOCX)
            eeg_sink(eeg_sample(eeg, 5), 10.0)
            met_values = [0.25 * (i % 4) for i in range(len(met.labels))]
            met_sink(met_values, 10.0)
            com_sink(com.extract(["push", 0.75]), 10.0)
            out.send_status(EPOCX.id, True)
            deadline = time.monotonic() + 10
            while not dump.of("/emotiv/status") and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            out.close()
    (line,) = dump.of("/emotiv/eeg")
    assert line.tags == "f" * len(eeg.labels)
    assert float(line.args[eeg.labels.index("AF3")]) == pytest.approx(4100.0 + 5 / 7, abs=1e-3)
    for label, value in zip(met.labels, met_values, strict=True):
        (split,) = dump.of(f"/emotiv/met/{label}")
        assert split.tags == "f" and float(split.args[0]) == pytest.approx(value)
    assert not dump.of("/emotiv/met")  # split: no vector
    (push,) = dump.of("/emotiv/com/push")
    assert push.tags == "f" and float(push.args[0]) == pytest.approx(0.75)
    (action,) = dump.of("/emotiv/com/action")
    assert action.tags == "sf" and action.args[0] == '"push"'
    (status,) = dump.of("/emotiv/status")
    assert status.tags == "i" and status.args == ("1",)
    assert not dump.errors


def test_split_layout_addresses_come_from_the_labels(receiver: PythonOscReceiver) -> None:
    out = make_output(receiver.port, layout="split")
    out.open()
    try:
        plan = plan_for("pow")
        (sink,) = out.sinks_for(plan, EPOCX)
        sink([float(i) for i in range(len(plan.labels))], 5.0)
        last = f"/emotiv/pow/{plan.labels[-1]}"
        receiver.wait_for(lambda m: m.address == last)
    finally:
        out.close()
    got = {m.address: m.args for m in receiver.snapshot()}
    assert "/emotiv/pow/AF3/theta" in got
    for i, label in enumerate(plan.labels):
        assert got[f"/emotiv/pow/{label}"] == (float(i),)
    # ... and the band averages (band k of electrode e is channel 5e + k); no labels,
    # which only name the arguments of vector addresses.
    for k, band in enumerate(("theta", "alpha", "betaL", "betaH", "gamma")):
        assert got[f"/emotiv/pow/{band}"] == (f32(sum(5 * e + k for e in range(14)) / 14),)
    assert len(got) == len(plan.labels) + 5


def test_com_and_fac_per_action_numbers_and_names(receiver: PythonOscReceiver) -> None:
    out = make_output(receiver.port)
    out.open()
    try:
        com, fac = plan_for("com"), plan_for("fac")
        (com_sink,) = out.sinks_for(com, EPOCX)
        (fac_sink,) = out.sinks_for(fac, EPOCX)
        com_sink(com.extract(["lift", 0.5]), 1.0)
        fac_sink(fac.extract(["winkL", "surprise", 0.25, "clench", 0.75]), 1.0)
        receiver.wait_for(lambda m: m.address == "/emotiv/fac/lower/action")
    finally:
        out.close()
    got = {m.address: m.args for m in receiver.snapshot()}
    assert got["/emotiv/com"] == tuple(0.5 if a == "lift" else 0.0 for a in com.labels)
    for action in com.labels:
        assert got[f"/emotiv/com/{action}"] == ((0.5,) if action == "lift" else (0.0,))
    assert got["/emotiv/com/action"] == ("lift", 0.5)
    assert got["/emotiv/fac/eye/winkL"] == (1.0,)
    assert got["/emotiv/fac/upper/surprise"] == (0.25,)
    assert got["/emotiv/fac/lower/clench"] == (0.75,)
    assert got["/emotiv/fac/eye/action"] == ("winkL", 1.0)
    assert got["/emotiv/fac/upper/action"] == ("surprise", 0.25)
    assert got["/emotiv/fac/lower/action"] == ("clench", 0.75)
    assert len(got["/emotiv/fac"]) == len(fac.labels)


def test_per_action_numbers_go_out_on_change_and_all_once_a_second(raw: RawReceiver) -> None:
    """One-hot com: after the first sample only the numbers that changed are sent (the
    vector and the action name still every sample), and at ACTION_REFRESH_SECONDS on the
    sample clock every number again; a clock that jumps back refreshes at once."""
    out = make_output(raw.port)
    out.open()
    com = plan_for("com")
    (sink,) = out.sinks_for(com, EPOCX)
    actions = len(com.labels)
    steps = [  # (time, action, power) -> how many per-action numbers must go out
        (10.000, "push", 0.5, actions),  # first sample: all
        (10.125, "push", 0.5, 0),  # nothing changed
        (10.250, "push", 0.6, 1),  # push's power
        (10.375, "lift", 0.6, 2),  # push -> 0, lift -> 0.6
        (11.000, "lift", 0.6, actions),  # a second after the last refresh: all
        (11.125, "lift", 0.6, 0),
        (5.000, "lift", 0.6, actions),  # the sample clock went back (re-sync): all
    ]
    try:
        for n, (t, action, power, _) in enumerate(steps, start=1):
            sink(com.extract([action, power]), t)
            raw.wait_for(lambda m, n=n: raw.counts().get("/emotiv/com/action", 0) >= n)
            time.sleep(0.05)  # the per-action numbers were sent before the action name
            per_action = sum(c for a, c in raw.counts().items()
                             if a.startswith("/emotiv/com/")
                             and a not in ("/emotiv/com/action", "/emotiv/com/labels"))
            assert per_action == sum(step[3] for step in steps[:n]), steps[n - 1]
    finally:
        out.close()
    counts = raw.counts()
    assert counts["/emotiv/com"] == len(steps) and counts["/emotiv/com/action"] == len(steps)
    assert raw.of("/emotiv/com/push")[-1].args == (0.0,)
    assert raw.of("/emotiv/com/lift")[-1].args == (0.6000000238418579,)


def test_split_layout_does_not_repeat_action_addresses(raw: RawReceiver) -> None:
    out = make_output(raw.port, layout="split")
    out.open()
    try:
        com = plan_for("com")
        (sink,) = out.sinks_for(com, EPOCX)
        sink(com.extract(["push", 0.3]), 1.0)
        raw.wait_for(lambda m: m.address == "/emotiv/com/action")
    finally:
        out.close()
    counts = raw.counts()
    assert counts["/emotiv/com/push"] == 1 and "/emotiv/com" not in counts


def test_timestamps_are_three_ints_that_survive_float32(raw: RawReceiver) -> None:
    """Day, second of the day, microsecond: each below 2**24, so a receiver that keeps
    only float32 (Pd, TouchDesigner) gets them exactly."""
    out = make_output(raw.port, timestamps="lsl", layouts={"met": "split"})
    out.open()
    try:
        eeg, met = plan_for("eeg"), plan_for("met")
        (eeg_sink,) = out.sinks_for(eeg, EPOCX)
        (met_sink,) = out.sinks_for(met, EPOCX)
        eeg_sink(eeg_sample(eeg, 1), 1796284995.678901)
        met_sink([0.5] * len(met.labels), 12345.25)
        out.send_marker(EPOCX.id, "go", 7, 12345.5)
        raw.wait_for(lambda m: m.address == "/emotiv/marker")
    finally:
        out.close()
    by_address = {OscMessage(d).address: d for d in raw.elements}
    eeg_dgram = by_address["/emotiv/eeg"]
    assert tags_of(eeg_dgram) == ",iii" + "f" * len(eeg.labels)
    day, second, micro = OscMessage(eeg_dgram).params[:3]
    assert (day, second, micro) == (20790, 1796284995 - 20790 * 86400, 678901)
    assert all(f32(v) == v for v in (day, second, micro))  # exact as float32 too
    assert day * 86400 + second + micro / 1e6 == pytest.approx(1796284995.678901, abs=1e-6)
    assert tags_of(by_address["/emotiv/met/time"]) == ",iii"
    assert OscMessage(by_address["/emotiv/met/time"]).params == [0, 12345, 250000]
    assert tags_of(by_address["/emotiv/marker"]) == ",siiii"
    assert OscMessage(by_address["/emotiv/marker"]).params == ["go", 7, 0, 12345, 500000]
    # The labels name the time arguments too, so names and arguments line up.
    labels = OscMessage(by_address["/emotiv/eeg/labels"]).params
    assert labels == ["time/day", "time/second", "time/microsecond", *eeg.labels]


def test_epoch_timestamps_use_the_wall_clock_mapping(raw: RawReceiver) -> None:
    import pylsl

    out = make_output(raw.port, timestamps="epoch")
    out.open()
    try:
        met = plan_for("met")
        (sink,) = out.sinks_for(met, EPOCX)
        now_lsl, now_epoch = pylsl.local_clock(), time.time()
        sink([0.5] * len(met.labels), now_lsl)
        (message,) = [raw.wait_for(lambda m: m.address == "/emotiv/met")]
    finally:
        out.close()
    day, seconds, micros = message.args[:3]
    assert abs(day * 86400 + seconds + micros / 1e6 - now_epoch) < 0.05


# --------------------------------------------------------------------- bundles and sizes


@pytest.mark.parametrize("mode", [True, "sample_time"])
def test_bundles(raw: RawReceiver, mode: bool | str) -> None:
    """Outside a loop each sample's messages leave as one bundle, timetag "immediately";
    sample_time nests one bundle with the sample's time per sample inside it."""
    import pylsl

    out = make_output(raw.port, bundle=mode, layout="split")
    out.open()
    try:
        eeg = plan_for("eeg")
        (sink,) = out.sinks_for(eeg, EPOCX)  # split layout: no labels
        lsl_time = pylsl.local_clock() - 0.2
        epoch = out.epoch_time(lsl_time)
        sink(eeg_sample(eeg, 3), lsl_time)
        raw.wait_for(lambda m: m.address == f"/emotiv/eeg/{eeg.labels[-1]}")
    finally:
        out.close()
    assert len(raw.datagrams) == 1
    assert all(len(d) <= out.settings.max_datagram for d in raw.datagrams)
    assert all(bundle.timestamp == 0 for bundle in raw.bundles)  # python-osc: IMMEDIATELY
    assert [OscMessage(m).address for m in raw.elements] == [
        f"/emotiv/eeg/{label}" for label in eeg.labels]
    if mode == "sample_time":
        (inner,) = raw.inner_bundles
        assert inner.num_contents == len(eeg.labels)
        assert inner.timestamp == pytest.approx(epoch, abs=1e-6)
        timetag = struct.unpack(">Q", raw.datagrams[0][28:36])[0]  # outer head, size, "#bundle"
        assert (timetag >> 32) - NTP_UNIX_OFFSET == math.floor(epoch)
    else:
        assert raw.bundles[0].num_contents == len(eeg.labels) and not raw.inner_bundles


def test_32_channel_flex_fits_one_datagram_per_stream(raw: RawReceiver) -> None:
    """The largest real streams (Flex EEG, band power) stay single vector messages even
    headset-qualified, with timestamps, inside a bundle."""
    settings = OscSettings(
        enabled=True, targets=(f"127.0.0.1:{raw.port}",), timestamps="lsl", bundle=True
    )
    out = OscOutput(settings, multi_headset=True)
    out.open()
    try:
        sizes = {}
        for stream in ("eeg", "pow", "dev", "eq"):
            plan = plan_for(stream, FLEX)
            (sink,) = out.sinks_for(plan, FLEX)
            sink([1.0] * len(plan.labels), 1.0)
            address = f"/emotiv/{FLEX.id}/{stream}"
            message = raw.wait_for(lambda m, a=address: m.address == a)
            assert len(message.args) == 3 + len(plan.labels)
            sizes[stream] = len(plan.labels)
    finally:
        out.close()
    assert sizes["pow"] == 32 * 5
    assert all(len(m) <= MAX_MESSAGE for m in raw.elements)


def test_oversized_vector_is_split_into_parts(raw: RawReceiver) -> None:
    cols = ["COUNTER", "INTERPOLATED", *[f"X{i}" for i in range(600)]]
    plan = build_plan("eeg", cols, EPOCX)
    out = make_output(raw.port, timestamps="lsl")
    out.open()
    try:
        (sink,) = out.sinks_for(plan, EPOCX)
        sample = [float(i) for i in range(len(plan.labels))]
        sink(sample, 7.5)
        deadline = time.monotonic() + 5
        data = [m for m in raw.snapshot() if "labels" not in m.address]
        while sum(len(m.args) - 3 for m in data) < len(sample):
            assert time.monotonic() < deadline, raw.counts()
            time.sleep(0.02)
            data = [m for m in raw.snapshot() if "labels" not in m.address]
    finally:
        out.close()
    assert all(len(m) <= MAX_MESSAGE for m in raw.elements)
    assert all(len(d) <= out.settings.max_datagram for d in raw.datagrams)
    parts = sorted(data, key=lambda m: int(m.address.rsplit("/", 1)[1]))
    assert [m.address for m in parts] == [f"/emotiv/eeg/{k}" for k in range(len(parts))]
    assert len(parts) >= 2
    joined = [v for m in parts for v in m.args[3:]]
    assert joined == sample
    assert all(m.args[:3] == (0, 7, 500000) for m in parts)
    # Each part's names at <part>/labels (split further when they do not fit), in order.
    start = 0
    for k, part in enumerate(parts):
        whole = f"/emotiv/eeg/{k}/labels"
        mine = [m for m in raw.snapshot() if m.address == whole
                or m.address.startswith(whole + "/")]
        mine.sort(key=lambda m: int(m.address.rsplit("/", 1)[1]) if m.address != whole else 0)
        count = len(part.args) - 3
        names = [n for m in mine for n in m.args]
        assert names == ["time/day", "time/second", "time/microsecond",
                         *plan.labels[start:start + count]]
        start += count


# --------------------------------------------------------------------- rate caps


def test_rate_gate_takes_every_fourth_sample_of_128_hz_at_32_hz() -> None:
    gate = RateGate(32.0, 128.0)
    # Cortex times have 4 decimals: +-50 us of jitter around k/128.
    times = [1000.0 + k / 128 + (0.00005 if k % 3 else -0.00005) for k in range(1280)]
    sent = [k for k, t in enumerate(times) if gate.admit(t)]
    assert sent == list(range(0, 1280, 4))


@pytest.mark.parametrize(("rate", "cap"), [(128.0, 100.0), (256.0, 30.0), (64.0, 7.0)])
def test_rate_gate_average_rate(rate: float, cap: float) -> None:
    gate = RateGate(cap, rate)
    n = int(rate * 20)
    sent = sum(gate.admit(k / rate) for k in range(n))
    assert abs(sent - cap * 20) <= 1


def test_rate_gate_gap_and_backwards_time() -> None:
    gate = RateGate(10.0, 100.0)
    assert gate.admit(0.0)
    assert not gate.admit(0.05)
    assert gate.admit(5.0)  # after a gap: at once, ticks restart there
    assert not gate.admit(5.05)
    assert gate.admit(1.0)  # time went backwards (clock re-sync): restart, no stall
    assert gate.admit(1.1)


def test_rate_cap_applies_to_osc_only(raw: RawReceiver) -> None:
    out = make_output(raw.port, rate_caps={"eeg": 32})
    out.open()
    try:
        plan = plan_for("eeg")
        (sink,) = out.sinks_for(plan, EPOCX)
        for k in range(256):
            sink(eeg_sample(plan, k), 50.0 + k / 128)
        raw.wait_for(lambda m: m.args[0] == 124.0 % 128)
        time.sleep(0.2)
    finally:
        out.close()
    counters = [m.args[0] for m in raw.of("/emotiv/eeg")]
    assert counters == [float(k % 128) for k in range(0, 256, 4)]


def test_streams_not_listed_get_no_sink() -> None:
    out = OscOutput(OscSettings(enabled=True, streams=("met",)), multi_headset=False)
    assert out.sinks_for(plan_for("eeg"), EPOCX) == []
    assert len(out.sinks_for(plan_for("met"), EPOCX)) == 1


# --------------------------------------------------------------------- status and markers


def test_status_and_marker_addresses_are_headset_qualified(raw: RawReceiver) -> None:
    board = StatusBoard()
    settings = OscSettings(enabled=True, targets=(f"127.0.0.1:{raw.port}",))
    out = OscOutput(settings, multi_headset=True, board=board)
    out.open()
    base = f"/emotiv/{EPOCX.id}"
    try:
        board.headset(EPOCX.id)
        stats = board.stream(EPOCX.id, "eeg")
        out.tick_status()  # first tick: nothing seen yet -> 0
        stats.samples += 10
        out.tick_status()  # samples arrived -> 1
        out.tick_status()  # none since -> 0
        out.send_marker(EPOCX.id, "stimulus onset", 42, 77.000001)
        out.send_marker(EPOCX.id, "big", 2**40, 77.0)
        out.send_marker(EPOCX.id, "text", "7b", 77.0)  # type: ignore[arg-type]
        raw.wait_for(lambda m: m.address == f"{base}/marker" and m.args[0] == "text")
    finally:
        out.close()  # says 0 for every headset
    raw.wait_for(lambda m: m.address == f"{base}/status" and len(raw.of(f"{base}/status")) >= 4)
    assert [m.args for m in raw.of(f"{base}/status")] == [(0,), (1,), (0,), (0,)]
    first, second, third = raw.of(f"{base}/marker")
    assert first.args == ("stimulus onset", 42, 0, 77, 1)
    assert second.args[0] == "big" and second.args[1] == float(2**40)
    assert third.args == ("text", "7b", 0, 77, 0)


# --------------------------------------------------------------------- targets and failures


def test_ipv6_target() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        receiver = RawReceiver(socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    with receiver:
        settings = OscSettings(enabled=True, targets=(f"[::1]:{receiver.port}",))
        out = OscOutput(settings, multi_headset=False)
        out.open()
        try:
            out.send_status("X", True)
            receiver.wait_for(lambda m: m.address == "/emotiv/status")
            assert out.target_stats()[0].address == f"[::1]:{receiver.port}"
        finally:
            out.close()


def test_host_names_are_resolved_once_at_open(
    raw: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = socket.getaddrinfo

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    settings = OscSettings(enabled=True, targets=(f"localhost:{raw.port}",))
    out = OscOutput(settings, multi_headset=False)
    out.open()
    try:
        plan = plan_for("met")
        (sink,) = out.sinks_for(plan, EPOCX)
        for k in range(50):
            sink([0.1] * len(plan.labels), float(k))
        raw.wait_for(lambda m: len(raw.of("/emotiv/met")) == 50)
    finally:
        out.close()
    assert calls == ["localhost"]
    assert out.target_stats() == []  # closed


def test_unresolvable_target_is_logged_and_skipped(
    raw: RawReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = OscSettings(
        enabled=True, targets=("no-such-host.invalid:9000", f"127.0.0.1:{raw.port}")
    )
    out = OscOutput(settings, multi_headset=False)
    with caplog.at_level(logging.ERROR, logger="bridge.osc"):
        out.open()
    try:
        assert [t.target for t in out.target_stats()] == [f"127.0.0.1:{raw.port}"]
        assert any("no-such-host.invalid:9000" in r.getMessage() for r in caplog.records)
        out.send_status("X", True)
        raw.wait_for(lambda m: m.address == "/emotiv/status")
    finally:
        out.close()


def test_refused_port_is_logged_once_per_episode(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osc_module, "RECOVERY_QUIET_SECONDS", 0.5)
    port = free_udp_port()  # nothing listens there: ICMP port unreachable
    out = make_output(port)
    plan = plan_for("eeg")
    with caplog.at_level(logging.INFO, logger="bridge.osc"):
        out.open()
        (sink,) = out.sinks_for(plan, EPOCX)
        for k in range(400):
            sink(eeg_sample(plan, k), k / 128)
            time.sleep(0.0005)
        (stats,) = out.target_stats()
        assert stats.failed > 10 and stats.failing
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert f"127.0.0.1:{port}" in warnings[0].getMessage()
        assert "ECONNREFUSED" in warnings[0].getMessage()
        # A receiver appears on that port: after a quiet period, one "sending again".
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", port))
        try:
            deadline = time.monotonic() + 10
            while stats.failing and time.monotonic() < deadline:
                sink(eeg_sample(plan, 0), 0.0)
                time.sleep(0.01)
        finally:
            sock.close()
        out.close()
    assert not stats.failing
    infos = [r.getMessage() for r in caplog.records if "sending again" in r.getMessage()]
    assert len(infos) == 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize("bundle", [False, True])
def test_a_receiver_that_never_reads_never_blocks_the_sender(bundle: bool) -> None:
    """A tiny receive buffer, never read: the kernel drops datagrams, we never wait.
    Without bundles each message is a datagram; with them each sample's 18 messages are
    one (outside the event loop each call is its own tick)."""
    sink_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sink_socket.bind(("127.0.0.1", 0))
    try:
        out = make_output(sink_socket.getsockname()[1], layout="split", bundle=bundle)
        out.open()
        plan = plan_for("eeg")
        (sink,) = out.sinks_for(plan, EPOCX)
        started = time.perf_counter()
        for k in range(2000):  # 2000 samples x 18 split messages = 36000 datagrams
            sink(eeg_sample(plan, k), k / 128)
        elapsed = time.perf_counter() - started
        (stats,) = out.target_stats()
        out.close()
        print(f"\n36000 messages to a full receiver in {elapsed:.2f} s")
        datagrams = 2000 if bundle else 2000 * len(plan.labels)  # split: no labels
        assert stats.sent + stats.failed == datagrams
    finally:
        sink_socket.close()


def test_a_bad_sample_never_raises_into_the_pipeline(
    raw: RawReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    out = make_output(raw.port)
    out.open()
    try:
        plan = plan_for("met")
        (sink,) = out.sinks_for(plan, EPOCX)
        with caplog.at_level(logging.WARNING, logger="bridge.osc"):
            for _ in range(5):
                sink(["not a number"] * len(plan.labels), 1.0)
                sink([0.5], 1.0)  # wrong length
        sink([0.5] * len(plan.labels), 2.0)
        raw.wait_for(lambda m: m.address == "/emotiv/met")
    finally:
        out.close()
    assert len([r for r in caplog.records
                if r.name == "bridge.osc" and r.levelno >= logging.WARNING]) == 1
    assert out.senders[(EPOCX.id, "met")].errors == 10


def test_sys_events_are_strings(raw: RawReceiver) -> None:
    out = make_output(raw.port, layouts={"sys": "split"})
    out.open()
    try:
        plan = build_plan("sys", [], EPOCX)
        (sink,) = out.sinks_for(plan, EPOCX)
        sink(["mentalCommand", "MC_Succeeded"], 3.0)
        raw.wait_for(lambda m: m.address == "/emotiv/sys/event")
    finally:
        out.close()
    got = {m.address: m.args for m in raw.snapshot()}
    assert got == {"/emotiv/sys/detection": ("mentalCommand",),
                   "/emotiv/sys/event": ("MC_Succeeded",)}
