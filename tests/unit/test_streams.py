"""The stream catalog: cols from real and documented Cortex responses -> channels, samples.

Column lists and frames are the ones quoted in shared/reference/cortex_api.md §3 and §5
(observed, documented or constructed from documented columns).
"""

from __future__ import annotations

import math
import random
import struct
import timeit
from typing import Any

import numpy as np
import pytest
from cortex_examples import (
    DEV_COLS_INSIGHT,
    EEG_COLS_EPOC,
    EEG_COLS_INSIGHT,
    EEG_FRAME_EPOC,
    EPOC_SENSORS,
    EPOCPLUS,
    EQ_COLS_INSIGHT,
    EXAMPLES,
    FAC_COLS,
    INSIGHT,
    INSIGHT_SENSORS,
    MET_GEN1,
    MET_GEN2,
    MET_GEN3,
    MOT_FRAME_QUAT,
    MOT_GYRO,
    MOT_QUAT,
    POW_BANDS,
    POW_COLS_INSIGHT,
)

from bridge.streams import (
    DEFAULT_VOCABULARIES,
    KNOWN_STREAMS,
    ChannelSpec,
    FrameError,
    HeadsetInfo,
    StreamPlan,
    UnknownStreamError,
    build_plan,
)


def by_label(plan: StreamPlan, sample: list[Any]) -> dict[str, Any]:
    assert len(sample) == plan.channel_count
    return dict(zip(plan.labels, sample, strict=True))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --------------------------------------------------------------------------------------
# The catalog rows
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "label", "lsl_type", "fmt", "rate"),
    [
        ("eeg", "EEG", "EEG", "float32", 256.0),
        ("mot", "Motion", "MoCap", "float32", 64.0),
        ("dev", "DeviceQuality", "ContactQuality", "float32", 2.0),
        ("eq", "EEGQuality", "EEGQuality", "float32", 2.0),
        ("pow", "BandPower", "BandPower", "float32", 8.0),
        ("met", "PerformanceMetrics", "Metrics", "float32", 0.0),
        ("com", "MentalCommand", "MentalCommand", "float32", 8.0),
        ("fac", "FacialExpression", "FacialExpression", "float32", 32.0),
        ("sys", "SystemEvents", "Markers", "string", 0.0),
    ],
)
def test_catalog_rows(stream: str, label: str, lsl_type: str, fmt: str, rate: float) -> None:
    cols, frame = EXAMPLES[stream]
    plan = build_plan(stream, cols, EPOCPLUS)
    assert (plan.stream, plan.label, plan.lsl_type, plan.channel_format, plan.nominal_rate) == (
        stream,
        label,
        lsl_type,
        fmt,
        rate,
    )
    assert len(set(plan.labels)) == plan.channel_count, "labels must be unique"
    assert all(ch.label and ch.unit and ch.type for ch in plan.channels)
    assert plan.unknown_columns == ()
    sample = plan.extract(frame)
    assert len(sample) == plan.channel_count
    expected_type = str if fmt == "string" else float
    assert all(type(v) is expected_type for v in sample)


def test_known_streams_are_the_cortex_streams() -> None:
    assert set(KNOWN_STREAMS) == {"eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys"}


def test_unknown_stream_is_a_clear_value_error() -> None:
    with pytest.raises(UnknownStreamError, match=r"unknown Cortex stream 'ppg'.*eeg"):
        build_plan("ppg", ["a"], EPOCPLUS)
    assert issubclass(UnknownStreamError, ValueError)


def test_cols_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="cols must be a list"):
        build_plan("eeg", "COUNTER", EPOCPLUS)
    with pytest.raises(ValueError, match="no LSL channel"):
        build_plan("eeg", ["MARKERS"], EPOCPLUS)


# --------------------------------------------------------------------------------------
# eeg
# --------------------------------------------------------------------------------------


def test_eeg_epoc_channels_types_and_units() -> None:
    plan = build_plan("eeg", EEG_COLS_EPOC, EPOCPLUS)
    assert plan.labels == ("COUNTER", "INTERPOLATED", *EPOC_SENSORS, "RAW_CQ", "MARKER_HARDWARE")
    types = {ch.label: (ch.type, ch.unit) for ch in plan.channels}
    for sensor in EPOC_SENSORS:
        assert types[sensor] == ("EEG", "microvolts")
    assert types["COUNTER"] == ("MISC", "none")
    assert types["INTERPOLATED"] == ("MISC", "none")
    assert types["RAW_CQ"] == ("MISC", "none")
    assert types["MARKER_HARDWARE"] == ("STIM", "none")
    assert (plan.counter_index, plan.interpolated_index, plan.markers_index) == (0, 1, 18)
    sample = plan.extract(EEG_FRAME_EPOC)
    assert sample == [float(v) for v in EEG_FRAME_EPOC[:18]]


def test_eeg_insight_and_mn8() -> None:
    insight = build_plan("eeg", EEG_COLS_INSIGHT, INSIGHT)
    assert [ch.label for ch in insight.channels if ch.type == "EEG"] == INSIGHT_SENSORS
    assert insight.nominal_rate == 128.0
    mn8 = HeadsetInfo.from_headset_object(
        {"id": "MN8-1234", "sensors": ["T7", "T8"], "settings": {"eegRate": 128}}
    )
    plan = build_plan(
        "eeg", ["COUNTER", "INTERPOLATED", "T7", "T8", "RAW_CQ", "MARKER_HARDWARE", "MARKERS"], mn8
    )
    assert [ch.label for ch in plan.channels if ch.type == "EEG"] == ["T7", "T8"]
    assert plan.extract([1, 0, 4000.5, 4100.25, 0, 1, [{"value": 3}]]) == [
        1.0, 0.0, 4000.5, 4100.25, 0.0, 1.0,
    ]  # fmt: skip


def test_eeg_columns_are_mapped_by_name_not_position() -> None:
    cols = list(EEG_COLS_EPOC)
    frame = list(EEG_FRAME_EPOC)
    reference = by_label(
        build_plan("eeg", cols, EPOCPLUS), build_plan("eeg", cols, EPOCPLUS).extract(frame)
    )
    order = list(range(len(cols)))
    random.Random(7).shuffle(order)
    shuffled_cols = [cols[i] for i in order]
    shuffled_frame = [frame[i] for i in order]
    plan = build_plan("eeg", shuffled_cols, EPOCPLUS)
    assert by_label(plan, plan.extract(shuffled_frame)) == reference
    assert shuffled_cols[plan.markers_index] == "MARKERS"  # type: ignore[index]
    assert shuffled_cols[plan.counter_index] == "COUNTER"  # type: ignore[index]
    types = {ch.label: ch.type for ch in plan.channels}
    assert types["COUNTER"] == "MISC" and types["AF3"] == "EEG"


def test_eeg_sensor_known_by_10_20_name_without_headset_sensor_list() -> None:
    bare = HeadsetInfo(id="EPOCFLEX-1", model="EPOCFLEX", eeg_rate=128.0)
    plan = build_plan("eeg", ["COUNTER", "INTERPOLATED", "Cz", "Afz", "FCz", "MARKERS"], bare)
    assert [ch.type for ch in plan.channels] == ["MISC", "MISC", "EEG", "EEG", "EEG"]
    assert plan.unknown_columns == ()


def test_unknown_columns_are_misc_unknown_listed_and_never_fatal() -> None:
    cols = ["COUNTER", "INTERPOLATED", "AF3", "NEWTHING", "AF4", "MARKERS", "LATER"]
    plan = build_plan("eeg", cols, INSIGHT)
    assert plan.unknown_columns == ("NEWTHING", "LATER")
    assert ChannelSpec("NEWTHING", "unknown", "MISC") in plan.channels
    # Whatever an unknown column holds, known columns still flow; junk becomes NaN.
    sample = by_label(plan, plan.extract([1, 0, 10.5, {"x": 1}, 11.5, [], "text"]))
    assert sample["AF3"] == 10.5 and sample["AF4"] == 11.5
    assert math.isnan(sample["NEWTHING"]) and math.isnan(sample["LATER"])
    assert by_label(plan, plan.extract([1, 0, 10.5, 7, 11.5, [], True]))["NEWTHING"] == 7.0


def test_eeg_rate_unknown_is_irregular() -> None:
    plan = build_plan("eeg", EEG_COLS_INSIGHT, HeadsetInfo(id="INSIGHT-X"))
    assert plan.nominal_rate == 0.0


@pytest.mark.parametrize(
    "frame",
    [
        EEG_FRAME_EPOC[:-1],  # too short
        [*EEG_FRAME_EPOC, 0],  # too long
        [None, *EEG_FRAME_EPOC[1:]],
        [219, 0, "4176.41", *EEG_FRAME_EPOC[3:]],  # numeric string is still a string
        [219, 0, [4176.41], *EEG_FRAME_EPOC[3:]],
        [219, 0, 10**400, *EEG_FRAME_EPOC[3:]],
        None,
        "x" * 19,
        {i: 0 for i in range(19)},
    ],
)
def test_eeg_frames_that_do_not_fit(frame: Any) -> None:
    plan = build_plan("eeg", EEG_COLS_EPOC, EPOCPLUS)
    with pytest.raises(FrameError):
        plan.extract(frame)


def test_values_are_not_rounded_before_lsl() -> None:
    """extract hands pylsl the Cortex doubles themselves: float32 happens once, in liblsl."""
    plan = build_plan("eeg", EEG_COLS_INSIGHT, INSIGHT)
    values = [1 / 3, 4176.41, 1e-40, 3.4e38, -0.0]
    sample = plan.extract([5, 0, *values, 0, 0, []])
    for got, want in zip(sample[2:7], values, strict=True):
        assert struct.pack("<d", got) == struct.pack("<d", want)
    # The double would round differently if it had gone through float32 first.
    assert float(np.float32(1 / 3)) != 1 / 3


# --------------------------------------------------------------------------------------
# mot
# --------------------------------------------------------------------------------------


def test_motion_quaternion_layout() -> None:
    plan = build_plan("mot", MOT_QUAT, EPOCPLUS)
    types = {ch.label: (ch.type, ch.unit) for ch in plan.channels}
    assert [types[f"Q{i}"] for i in range(4)] == [
        ("OrientationA", "normalized"),
        ("OrientationB", "normalized"),
        ("OrientationC", "normalized"),
        ("OrientationD", "normalized"),
    ]
    assert types["ACCY"] == ("AccelerationY", "g")
    assert types["MAGZ"] == ("MagneticFieldZ", "microtesla")
    assert types["COUNTER_MEMS"] == ("MISC", "none") == types["INTERPOLATED_MEMS"]
    assert (plan.counter_index, plan.interpolated_index, plan.markers_index) == (0, 1, None)
    assert plan.extract(MOT_FRAME_QUAT) == [float(v) for v in MOT_FRAME_QUAT]


def test_motion_gyro_layout() -> None:
    plan = build_plan("mot", MOT_GYRO, EPOCPLUS)
    types = {ch.label: (ch.type, ch.unit) for ch in plan.channels}
    assert types["GYROX"] == ("AngularVelocityX", "degrees/s")
    assert plan.unknown_columns == ()
    assert plan.channel_count == 11


def test_motion_rates() -> None:
    assert build_plan("mot", MOT_QUAT, EPOCPLUS).nominal_rate == 64.0
    mn8 = HeadsetInfo.from_headset_object({"id": "MN8-ABCD"})
    assert mn8.mems_rate == 6.4
    assert build_plan("mot", MOT_QUAT, mn8).nominal_rate == 6.4
    mn8_reported = HeadsetInfo.from_headset_object({"id": "MN8-ABCD", "settings": {"memsRate": 32}})
    assert build_plan("mot", MOT_QUAT, mn8_reported).nominal_rate == 6.4
    disabled = HeadsetInfo.from_headset_object({"id": "EPOCPLUS-4A2", "settings": {"memsRate": 0}})
    assert build_plan("mot", MOT_QUAT, disabled).nominal_rate == 0.0


# --------------------------------------------------------------------------------------
# pow, met, dev, eq
# --------------------------------------------------------------------------------------


def test_band_power() -> None:
    plan = build_plan("pow", POW_COLS_INSIGHT, INSIGHT)
    assert plan.labels[:6] == (
        "AF3/theta",
        "AF3/alpha",
        "AF3/betaL",
        "AF3/betaH",
        "AF3/gamma",
        "T7/theta",
    )
    assert {(ch.type, ch.unit) for ch in plan.channels} == {("MISC", "uV^2/Hz")}
    epoc = build_plan("pow", [f"{s}/{b}" for s in EPOC_SENSORS for b in POW_BANDS], EPOCPLUS)
    assert epoc.channel_count == 70
    odd = build_plan("pow", [*POW_COLS_INSIGHT, "AF3/delta"], INSIGHT)
    assert odd.unknown_columns == ("AF3/delta",)


MET_FRAMES: dict[str, tuple[list[str], list[Any]]] = {
    "gen1": (MET_GEN1, [0.5, 0.25, 0.125, 0.75, 0.0625, 1.0, 0.375]),
    "gen2": (
        MET_GEN2,
        [True, 0.5, False, None, 0.125, True, 0.75, True, 0.0625, True, 1.0, False, None],
    ),
    "gen3": (
        MET_GEN3,
        [True, 0.875, True, 0.5, False, None, 0.125, True, 0.75, True, 0.0625, True, 1.0],
    ),
}


@pytest.mark.parametrize("generation", sorted(MET_FRAMES))
def test_performance_metrics_all_generations_by_name(generation: str) -> None:
    cols, frame = MET_FRAMES[generation]
    plan = build_plan("met", cols, EPOCPLUS)
    assert plan.labels == tuple(cols)
    assert plan.unknown_columns == ()
    assert plan.nominal_rate == 0.0
    units = {ch.label: ch.unit for ch in plan.channels}
    for col in cols:
        assert units[col] == ("bool" if col.endswith(".isActive") else "normalized")
    sample = by_label(plan, plan.extract(frame))
    for col, raw in zip(cols, frame, strict=True):
        want = math.nan if raw is None else float(raw)
        assert same(sample[col], want), col
    # The same metric lands on the same label whatever the generation's order.
    if "eng" in cols:
        assert sample["eng"] == frame[cols.index("eng")] or math.isnan(sample["eng"])


def test_met_documented_inactive_frame() -> None:
    cols, frame = EXAMPLES["met"]
    sample = by_label(
        build_plan("met", cols, EPOCPLUS), build_plan("met", cols, EPOCPLUS).extract(frame)
    )
    assert sample["eng.isActive"] == 0.0 and math.isnan(sample["eng"])
    assert sample["rel.isActive"] == 1.0 and sample["rel"] == 0.266589
    assert math.isnan(sample["lex"])


def test_met_rejects_strings() -> None:
    plan = build_plan("met", MET_GEN1, EPOCPLUS)
    with pytest.raises(FrameError):
        plan.extract(["0.5", 0, 0, 0, 0, 0, 0])


def test_device_quality_flattens_the_nested_column() -> None:
    plan = build_plan("dev", DEV_COLS_INSIGHT, INSIGHT)
    assert plan.labels == (
        "Battery", "Signal", "cq/AF3", "cq/T7", "cq/Pz", "cq/T8", "cq/AF4", "cq/OVERALL", "BatteryPercent",
    )  # fmt: skip
    units = {ch.label: ch.unit for ch in plan.channels}
    assert units["Battery"] == "level" and units["cq/AF3"] == "level"
    assert units["cq/OVERALL"] == "percent" and units["BatteryPercent"] == "percent"
    assert plan.extract([4, 1.0, [4, 3, 2, 1, 0, 100], 80]) == [
        4.0,
        1.0,
        4.0,
        3.0,
        2.0,
        1.0,
        0.0,
        100.0,
        80.0,
    ]
    sample: list[Any] = plan.extract([None, 1.0, [4, 3, 2, 1, None, 100], 80])
    assert math.isnan(sample[0]) and math.isnan(sample[6])
    for bad in (
        [4, 1.0, [4, 4, 4, 4, 100], 80],
        [4, 1.0, 4, 80],
        [4, 1.0, [4, 4, 4, 4, 4, "x"], 80],
    ):
        with pytest.raises(FrameError):
            plan.extract(bad)


def test_device_quality_v1_layout() -> None:
    plan = build_plan("dev", ["Battery", "Signal", INSIGHT_SENSORS], INSIGHT)
    assert plan.extract([4, 2, [0.0, 0.0, 0.0, 0.0, 0.0]]) == [4.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_eeg_quality() -> None:
    plan = build_plan("eq", EQ_COLS_INSIGHT, INSIGHT)
    assert plan.labels == tuple(EQ_COLS_INSIGHT)
    assert plan.unknown_columns == ()
    assert {ch.type for ch in plan.channels} == {"MISC"}
    assert plan.extract([80, 92, 1.0, 4, 4, 3, 4, 4]) == [80.0, 92.0, 1.0, 4.0, 4.0, 3.0, 4.0, 4.0]


# --------------------------------------------------------------------------------------
# com, fac, sys
# --------------------------------------------------------------------------------------


def test_mental_command_default_vocabulary() -> None:
    plan = build_plan("com", ["act", "pow"], EPOCPLUS)
    assert plan.labels == DEFAULT_VOCABULARIES["com"]
    assert {(ch.type, ch.unit) for ch in plan.channels} == {("MISC", "normalized")}
    sample = by_label(plan, plan.extract(["push", 0.376]))
    assert sample["push"] == 0.376
    assert sum(sample.values()) == 0.376


def test_mental_command_vocabulary_from_caller_and_unknown_actions() -> None:
    plan = build_plan("com", ["pow", "act"], EPOCPLUS, {"com": ["neutral", "push", "pull", "push"]})
    assert plan.labels == ("neutral", "push", "pull")
    assert plan.extract([0.5, "pull"]) == [0.0, 0.0, 0.5]
    assert plan.extract([0.9, "lift"]) == [0.0, 0.0, 0.0]
    assert plan.extract([0.9, "lift"]) == [0.0, 0.0, 0.0]
    assert plan.unknown_actions == {"lift": 2}
    for bad in ([0.5, None], [None, "push"], ["0.5", "push"], [0.5]):
        with pytest.raises(FrameError):
            plan.extract(bad)


def test_detection_streams_need_their_columns() -> None:
    with pytest.raises(ValueError, match="lack pow"):
        build_plan("com", ["act"], EPOCPLUS)
    with pytest.raises(ValueError, match="lack lAct, lPow"):
        build_plan("fac", ["eyeAct", "uAct", "uPow"], EPOCPLUS)
    with pytest.raises(ValueError, match="unknown vocabulary 'mentalCommand'"):
        build_plan("com", ["act", "pow"], EPOCPLUS, {"mentalCommand": ["push"]})
    with pytest.raises(ValueError, match="no action names"):
        build_plan("com", ["act", "pow"], EPOCPLUS, {"com": []})


def test_facial_expression() -> None:
    plan = build_plan("fac", FAC_COLS, EPOCPLUS)
    assert plan.labels[:2] == ("eye/neutral", "eye/blink")
    assert "upper/frown" in plan.labels and "lower/smirkRight" in plan.labels
    sample = by_label(plan, plan.extract(["blink", "frown", 0.42, "smile", 0.73]))
    assert sample["eye/blink"] == 1.0 and sample["eye/neutral"] == 0.0
    assert sample["upper/frown"] == 0.42 and sample["lower/smile"] == 0.73
    assert sum(sample.values()) == pytest.approx(2.15)
    custom = build_plan(
        "fac", FAC_COLS, EPOCPLUS, {"eye": ["blink"], "upper": ["frown"], "lower": ["smile"]}
    )
    assert custom.labels == ("eye/blink", "upper/frown", "lower/smile")
    assert custom.extract(["horiEye", "surprise", 0.3, "smile", 0.5]) == [0.0, 0.0, 0.5]
    assert custom.unknown_actions == {"horiEye": 1, "surprise": 1}


# getDetectionInfo("facialExpression") answers one list for all face parts.
FAC_DETECTION_ACTIONS = ["neutral", "blink", "winkL", "winkR", "horiEye", "surprise", "frown",
                         "smile", "clench", "laugh", "smirkLeft", "smirkRight", "wiggleEars"]  # fmt: skip


def test_facial_vocabulary_from_detection_info_is_sorted_into_face_parts() -> None:
    plan = build_plan("fac", FAC_COLS, EPOCPLUS, {"fac": FAC_DETECTION_ACTIONS})
    default = build_plan("fac", FAC_COLS, EPOCPLUS)
    # Every documented action already has its channel; the look directions (which the
    # detection list calls horiEye) are kept; a name we cannot place adds nothing.
    assert plan.labels == default.labels
    assert (
        plan.extract(["lookL", "neutral", 0.0, "laugh", 0.5])[plan.labels.index("eye/lookL")] == 1.0
    )
    extended = build_plan(
        "fac", FAC_COLS, EPOCPLUS, {"fac": ["neutral", "blink"], "upper": ["frown"]}
    )
    # An explicit part list replaces the default; the combined list only adds to it.
    assert [x for x in extended.labels if x.startswith("upper/")] == [
        "upper/frown",
        "upper/neutral",
    ]


def test_one_vocabulary_mapping_serves_every_stream() -> None:
    """The daemon passes the same mapping ({"com": ..., "fac": ...}) to every build_plan."""
    vocab = {"com": ["neutral", "push", "pull"], "fac": FAC_DETECTION_ACTIONS}
    for stream, (cols, frame) in EXAMPLES.items():
        plan = build_plan(stream, cols, EPOCPLUS, vocab)
        assert len(plan.extract(frame)) == plan.channel_count
    assert build_plan("com", ["act", "pow"], EPOCPLUS, vocab).labels == ("neutral", "push", "pull")


def test_unknown_action_names_are_bounded() -> None:
    plan = build_plan("com", ["act", "pow"], EPOCPLUS)
    for i in range(200):
        plan.extract([f"action{i}", 0.5])
    assert len(plan.unknown_actions) <= 65
    assert sum(plan.unknown_actions.values()) == 200


def test_system_events() -> None:
    plan = build_plan("sys", [], EPOCPLUS)
    assert plan.labels == ("detection", "event")
    assert plan.extract(["mentalCommand", "MC_Started"]) == ["mentalCommand", "MC_Started"]
    assert plan.extract(["Mental Command", "MC_Started"]) == ["Mental Command", "MC_Started"]
    bads: list[Any] = [["mentalCommand"], ["mentalCommand", 3], ["a", "\ud800"], None]
    for bad in bads:
        with pytest.raises(FrameError):
            plan.extract(bad)


# --------------------------------------------------------------------------------------
# HeadsetInfo
# --------------------------------------------------------------------------------------


def test_headset_from_documented_object() -> None:
    expected = HeadsetInfo(
        id="EPOCPLUS-3B9AXXXX",
        model="EPOCPLUS",
        sensors=tuple(EPOC_SENSORS),
        eeg_rate=256.0,
        mems_rate=64.0,
        firmware="625",
        connected_by="dongle",
        eeg_resolution=16,
    )
    assert expected == EPOCPLUS
    assert EPOCPLUS.model_name == "EPOC+"


def test_headset_model_from_prefix_then_mode() -> None:
    epocx = HeadsetInfo.from_headset_object(
        {"id": "EPOCX-12345678", "settings": {"mode": "EPOCPLUS"}}
    )
    assert (epocx.model, epocx.model_name) == ("EPOCX", "EPOC X")
    insight2 = HeadsetInfo.from_headset_object({"id": "INSIGHT2-A1B2C3D4"})
    assert insight2.model_name == "Insight 2"
    by_mode = HeadsetInfo.from_headset_object(
        {"id": "VIRTUAL1234", "settings": {"mode": "insight"}}
    )
    assert by_mode.model == "INSIGHT"
    unknown = HeadsetInfo.from_headset_object({"id": "NEWTHING-1", "settings": {"mode": "UNKNOWN"}})
    assert (unknown.model, unknown.model_name) == ("NEWTHING", "NEWTHING")


def test_headset_object_tolerates_missing_and_odd_fields() -> None:
    h = HeadsetInfo.from_headset_object(
        {
            "id": "EPOCFLEX-1",
            "sensors": ["Cz", 3, None, "Fz"],
            "settings": {"eegRate": "128", "memsRate": None, "eegRes": True},
            "firmware": 930,
            "connectedBy": None,
            "flexMappings": {"CMS": "TP8", "DRL": "P6", "RM": "TP10"},
        }
    )
    assert h.sensors == ("Cz", "Fz")
    assert (h.eeg_rate, h.mems_rate, h.eeg_resolution) == (128.0, 0.0, 0)
    assert (h.firmware, h.connected_by) == ("930", "")
    assert (h.cms, h.drl) == ("TP8", "P6")
    bare = HeadsetInfo.from_headset_object({"id": "INSIGHT-1", "settings": [], "sensors": "AF3"})
    assert bare.sensors == () and bare.eeg_rate == 0.0
    for bad in ({}, {"id": ""}, {"id": 5}, [("id", "x")]):
        with pytest.raises(ValueError):
            HeadsetInfo.from_headset_object(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Speed (printed, never asserted)
# --------------------------------------------------------------------------------------


def test_extract_micro_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    lines = []
    for stream, (cols, frame) in EXAMPLES.items():
        plan = build_plan(stream, cols, EPOCPLUS)
        extract = plan.extract
        number = 5_000
        seconds = min(timeit.repeat(lambda: extract(frame), number=number, repeat=3))  # noqa: B023
        lines.append(
            f"  {stream:4s} {plan.channel_count:3d} ch  {seconds / number * 1e6:6.2f} us/frame"
        )
    with capsys.disabled():
        print("\nStreamPlan.extract:\n" + "\n".join(lines))
