"""Virtual headset models as data: sensors, settings, stream availability and columns.

Everything a real Cortex reports about a headset model lives in the tables below, so
adding a model or a column layout is a data change, not a code change. Sources are the
tags of ``cortex_api.md`` (§3.1/3.2 headset object, §5.3 rates, §5.4 columns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# 10-20 sensor sets (cortex_api.md §3.2, Emotiv's Unity plugin).
INSIGHT_SENSORS = ("AF3", "T7", "Pz", "T8", "AF4")
EPOC_SENSORS = (
    "AF3",
    "F7",
    "F3",
    "FC5",
    "T7",
    "P7",
    "O1",
    "O2",
    "P8",
    "T8",
    "FC6",
    "F4",
    "F8",
    "AF4",
)
MN8_SENSORS = ("T7", "T8")
# EPOC Flex: 32 saline/gel electrodes whose 10-20 positions come from the user's mapping.
# This default mapping is ours [U]; a real Flex reports whatever the user configured.
FLEX_SENSORS = (
    "Fp1", "Fp2", "AF3", "AF4", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6",
    "T7", "C3", "Cz", "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3", "Pz", "P4", "P8",
    "PO3", "PO4", "O1", "Oz", "O2",
)  # fmt: skip
# Flex electrode labels: LA..LQ and RA..RQ, letters A-Q without I (cortex_api.md §3.3).
FLEX_LABELS = tuple(f"{side}{c}" for side in "LR" for c in "ABCDEFGHJKLMNOPQ")

MOTION_QUATERNION = ("Q0", "Q1", "Q2", "Q3", "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ")
MOTION_GYRO = ("GYROX", "GYROY", "GYROZ", "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ")
MOTION_LAYOUTS: Mapping[str, tuple[str, ...]] = {"quat": MOTION_QUATERNION, "gyro": MOTION_GYRO}

# Band-power bands in Cortex's order with their edges in Hz (cortex_api.md §5.4 pow).
BANDS: tuple[tuple[str, float, float], ...] = (
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 12.0),
    ("betaL", 12.0, 16.0),
    ("betaH", 16.0, 25.0),
    ("gamma", 25.0, 45.0),
)

# Performance-metric column generations (cortex_api.md §5.4 met). "current" is the default.
MET_LAYOUTS: Mapping[str, tuple[str, ...]] = {
    "current": (
        "attention.isActive", "attention", "eng.isActive", "eng", "exc.isActive", "exc", "lex",
        "str.isActive", "str", "rel.isActive", "rel", "int.isActive", "int",
    ),
    "2.2.1": (
        "eng.isActive", "eng", "exc.isActive", "exc", "lex", "str.isActive", "str",
        "rel.isActive", "rel", "int.isActive", "int", "foc.isActive", "foc",
    ),
    "2.2.0": ("eng", "exc", "lex", "str", "rel", "int", "foc"),
}  # fmt: skip
# What getCortexInfo reports for each generation [U: versions chosen to match the layout era].
CORTEX_INFO: Mapping[str, Mapping[str, str]] = {
    "current": {"buildDate": "2025-12-01T00:00:00", "buildNumber": "v4.8.32-sim-cortex-bridge", "version": "4.8.32"},
    "2.2.1": {"buildDate": "2020-06-01T00:00:00", "buildNumber": "v2.5.0-sim-cortex-bridge", "version": "2.5.0"},
    "2.2.0": {"buildDate": "2019-09-03T09:40:00", "buildNumber": "v2.0.2-sim-cortex-bridge", "version": "2.2.0"},
}  # fmt: skip

FAC_COLS = ("eyeAct", "uAct", "uPow", "lAct", "lPow")
COM_COLS = ("act", "pow")
EQ_HEAD = ("batteryPercent", "overall", "sampleRateQuality")
ALL_STREAMS = ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys")

# Fixed rates in Hz (cortex_api.md §5.3). eeg/mot come from the headset settings; met is
# 2 Hz or 0.1 Hz depending on licence and activation; sys has no rate (training events).
FIXED_RATES: Mapping[str, float] = {"dev": 2.0, "eq": 2.0, "pow": 8.0, "com": 8.0, "fac": 32.0}
MET_RATE_HIGH = 2.0
MET_RATE_LOW = 0.1


@dataclass(frozen=True, slots=True)
class HeadsetModel:
    """One row of the model table: what Cortex reports for this kind of headset."""

    key: str
    id_prefix: str
    sensors: tuple[str, ...]
    eeg_rates: tuple[int, ...]
    eeg_rate: int
    mems_rates: tuple[float, ...]
    mems_rate: float
    eeg_res: int
    mems_res: int
    mode: str
    connected_by: str
    dongle: str
    firmware: str
    headband_position: str | None
    motion: str = "quat"
    # Streams this model cannot deliver (subscribe answers -32016 for them).
    unsupported: frozenset[str] = field(default_factory=frozenset)


MODELS: Mapping[str, HeadsetModel] = {
    # Insight: docs headset-object example (eegRes 14, memsRate 64, firmware "930", mode "INSIGHT").
    "insight": HeadsetModel(
        key="insight", id_prefix="INSIGHT", sensors=INSIGHT_SENSORS, eeg_rates=(128,),
        eeg_rate=128, mems_rates=(0, 32, 64, 128), mems_rate=64, eeg_res=14, mems_res=14,
        mode="INSIGHT", connected_by="bluetooth", dongle="0", firmware="930",
        headband_position=None,
    ),
    # EPOC X in EPOCPLUS mode: 128 or 256 Hz EEG, quaternion motion (docs, issue #93).
    "epocx": HeadsetModel(
        key="epocx", id_prefix="EPOCX", sensors=EPOC_SENSORS, eeg_rates=(128, 256),
        eeg_rate=128, mems_rates=(0, 32, 64, 128), mems_rate=64, eeg_res=16, mems_res=16,
        mode="EPOCPLUS", connected_by="dongle", dongle="6ff", firmware="634",
        headband_position="back",
    ),
    # EPOC Flex: met/com/fac need a special mapping, unavailable by default (docs §3.3).
    "flex": HeadsetModel(
        key="flex", id_prefix="EPOCFLEX", sensors=FLEX_SENSORS, eeg_rates=(128,),
        eeg_rate=128, mems_rates=(0, 32, 64), mems_rate=32, eeg_res=16, mems_res=16,
        mode="EPOCFLEX", connected_by="dongle", dongle="6ff", firmware="A01",
        headband_position=None, unsupported=frozenset({"met", "com", "fac"}),
    ),
    # MN8 earbuds: two channels, motion at 6.4 Hz, no facial expressions (docs §5.3).
    "mn8": HeadsetModel(
        key="mn8", id_prefix="MN8", sensors=MN8_SENSORS, eeg_rates=(128,), eeg_rate=128,
        mems_rates=(0, 6.4), mems_rate=6.4, eeg_res=16, mems_res=16, mode="MN8",
        connected_by="bluetooth", dongle="0", firmware="1.0.2", headband_position=None,
        unsupported=frozenset({"fac"}),
    ),
}  # fmt: skip
MODEL_ALIASES: Mapping[str, str] = {"epoc": "epocx", "epocplus": "epocx", "epocflex": "flex"}


def eeg_cols(sensors: tuple[str, ...]) -> list[Any]:
    return ["COUNTER", "INTERPOLATED", *sensors, "RAW_CQ", "MARKER_HARDWARE", "MARKERS"]


def mot_cols(motion_sensors: tuple[str, ...]) -> list[Any]:
    return ["COUNTER_MEMS", "INTERPOLATED_MEMS", *motion_sensors]


def dev_cols(sensors: tuple[str, ...]) -> list[Any]:
    # The third column is a nested array, as Cortex sends it (cortex_api.md §5.4 dev).
    return ["Battery", "Signal", [*sensors, "OVERALL"], "BatteryPercent"]


def eq_cols(sensors: tuple[str, ...]) -> list[Any]:
    return [*EQ_HEAD, *sensors]


def pow_cols(sensors: tuple[str, ...]) -> list[Any]:
    return [f"{s}/{band}" for s in sensors for band, _, _ in BANDS]


def stream_cols(
    stream: str, sensors: tuple[str, ...], motion_sensors: tuple[str, ...], met_layout: str
) -> list[Any]:
    """The ``cols`` of a subscribe success item for one stream of one headset."""
    builders: dict[str, Callable[[], list[Any]]] = {
        "eeg": lambda: eeg_cols(sensors),
        "mot": lambda: mot_cols(motion_sensors),
        "dev": lambda: dev_cols(sensors),
        "eq": lambda: eq_cols(sensors),
        "pow": lambda: pow_cols(sensors),
        "met": lambda: list(MET_LAYOUTS[met_layout]),
        "com": lambda: list(COM_COLS),
        "fac": lambda: list(FAC_COLS),
        # [U] Cortex's cols for sys were not found; sys frames are [detection, event].
        "sys": lambda: [],
    }
    return builders[stream]()


# getDetectionInfo results, verbatim from the docs (D:bci/getdetectioninfo).
DETECTION_INFO: Mapping[str, Mapping[str, list[str]]] = {
    "mentalCommand": {
        "actions": [
            "neutral", "push", "pull", "lift", "drop", "left", "right", "rotateLeft",
            "rotateRight", "rotateClockwise", "rotateCounterClockwise", "rotateForwards",
            "rotateReverse", "disappear",
        ],
        "controls": ["start", "accept", "reject", "erase", "reset"],
        "events": [
            "MC_Started", "MC_Succeeded", "MC_Failed", "MC_Completed", "MC_DataErased",
            "MC_Rejected", "MC_Reset", "MC_AutoSamplingNeutralCompleted", "MC_SignatureUpdated",
        ],
        "signature": [],
    },
    "facialExpression": {
        "actions": [
            "neutral", "blink", "winkL", "winkR", "horiEye", "surprise", "frown", "smile",
            "clench", "laugh", "smirkLeft", "smirkRight",
        ],
        "controls": ["start", "accept", "reject", "erase", "reset"],
        "events": [
            "FE_Started", "FE_Succeeded", "FE_Failed", "FE_Completed", "FE_DataErased",
            "FE_Rejected", "FE_Reset",
        ],
        "signature": ["universal", "trained"],
    },
}  # fmt: skip
# Facial-expression actions that can be trained (docs training page).
FE_TRAINABLE = frozenset({"neutral", "surprise", "frown", "smile", "clench"})
# sys event emitted for each training control; "start" emits Started then Succeeded.
TRAINING_EVENTS: Mapping[str, str] = {
    "accept": "Completed",
    "reject": "Rejected",
    "erase": "DataErased",
    "reset": "Reset",
}
DETECTION_PREFIX: Mapping[str, str] = {"mentalCommand": "MC", "facialExpression": "FE"}


@dataclass(frozen=True, slots=True)
class HeadsetSpec:
    """A parsed ``--headset`` option: a model plus per-headset overrides."""

    model: HeadsetModel
    id: str | None = None
    eeg_rate: int | None = None
    mems_rate: float | None = None
    status: str = "discovered"
    motion: str | None = None
    connected_by: str | None = None


HEADSET_OPTIONS = ("id", "rate", "mems", "status", "motion", "conn")
# headset object ``connectedBy`` values (cortex_api.md §3.2).
CONNECTION_TYPES = ("dongle", "bluetooth", "usb cable", "extender")


def parse_headset_spec(spec: str) -> HeadsetSpec:
    """Parse ``model[:key=value,...]`` such as ``epocx:rate=256,id=EPOCX-12345678``.

    Raises ``ValueError`` with a message naming the bad part, for the CLI to show.
    """
    name, _, opts = spec.strip().partition(":")
    key = MODEL_ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise ValueError(f"unknown headset model {name!r} (choose from {', '.join(MODELS)})")
    model = MODELS[key]
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in opts.split(","))):
        k, eq, v = part.partition("=")
        if not eq or k not in HEADSET_OPTIONS:
            raise ValueError(f"bad headset option {part!r} (options: {', '.join(HEADSET_OPTIONS)})")
        values[k] = v
    eeg_rate = int(values["rate"]) if "rate" in values else None
    if eeg_rate is not None and eeg_rate not in model.eeg_rates:
        raise ValueError(f"{key}: rate must be one of {model.eeg_rates}")
    mems_rate = float(values["mems"]) if "mems" in values else None
    if mems_rate is not None and mems_rate not in model.mems_rates:
        raise ValueError(f"{key}: mems must be one of {model.mems_rates}")
    status = values.get("status", "discovered")
    if status not in ("discovered", "connected"):
        raise ValueError("status must be 'discovered' or 'connected'")
    motion = values.get("motion")
    if motion is not None and motion not in MOTION_LAYOUTS:
        raise ValueError(f"motion must be one of {', '.join(MOTION_LAYOUTS)}")
    hid = values.get("id")
    if hid is not None and not hid:
        raise ValueError("id must not be empty")
    conn = values.get("conn")
    if conn is not None and conn not in CONNECTION_TYPES:
        raise ValueError(f"conn must be one of {', '.join(CONNECTION_TYPES)}")
    return HeadsetSpec(model, hid, eeg_rate, mems_rate, status, motion, conn)
