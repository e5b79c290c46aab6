"""Columns and frames quoted in shared/reference/cortex_api.md §3 and §5 (observed,
documented or constructed from documented columns), shared by the catalog, outlet and
property tests."""

from __future__ import annotations

from typing import Any

from bridge.streams import HeadsetInfo

EPOC_SENSORS = [
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
]
INSIGHT_SENSORS = ["AF3", "T7", "Pz", "T8", "AF4"]

# Documented EPOC+ headset object (queryHeadsets docs example).
EPOCPLUS_OBJECT: dict[str, Any] = {
    "connectedBy": "dongle",
    "customName": "",
    "dongle": "6ff",
    "firmware": "625",
    "id": "EPOCPLUS-3B9AXXXX",
    "motionSensors": ["GYROX", "GYROY", "GYROZ", "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ"],
    "sensors": EPOC_SENSORS,
    "settings": {"eegRate": 256, "eegRes": 16, "memsRate": 64, "memsRes": 16, "mode": "EPOCPLUS"},
    "status": "connected",
}
EPOCPLUS = HeadsetInfo.from_headset_object(EPOCPLUS_OBJECT)
INSIGHT = HeadsetInfo(
    id="INSIGHT-AAAA0000",
    model="INSIGHT",
    sensors=tuple(INSIGHT_SENSORS),
    eeg_rate=128.0,
    mems_rate=64.0,
)

EEG_COLS_EPOC = ["COUNTER", "INTERPOLATED", *EPOC_SENSORS, "RAW_CQ", "MARKER_HARDWARE", "MARKERS"]
EEG_FRAME_EPOC: list[Any] = [219, 0, 4176.41, 4223.462, 4175.128, 4182.692, 4215.256, 4214.872, 4204.487,
                  4216.41, 4216.41, 4223.462, 4277.436, 5023.333, 4247.692, 4241.667, 0, 0, []]  # fmt: skip
EEG_COLS_INSIGHT = [
    "COUNTER",
    "INTERPOLATED",
    *INSIGHT_SENSORS,
    "RAW_CQ",
    "MARKER_HARDWARE",
    "MARKERS",
]
MOT_QUAT = ["COUNTER_MEMS", "INTERPOLATED_MEMS", "Q0", "Q1", "Q2", "Q3",
            "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ"]  # fmt: skip
MOT_GYRO = ["COUNTER_MEMS", "INTERPOLATED_MEMS", "GYROX", "GYROY", "GYROZ",
            "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ"]  # fmt: skip
MOT_FRAME_QUAT = [33, 0, 0.493859, 0.40625, 0.46875, -0.609375, 0.968765, 0.187503, -0.250004,
                  -76.563667, -19.584995, 38.281834]  # fmt: skip
POW_BANDS = ["theta", "alpha", "betaL", "betaH", "gamma"]
POW_COLS_INSIGHT = [f"{s}/{b}" for s in INSIGHT_SENSORS for b in POW_BANDS]
MET_GEN1 = ["eng", "exc", "lex", "str", "rel", "int", "foc"]
MET_GEN2 = ["eng.isActive", "eng", "exc.isActive", "exc", "lex", "str.isActive", "str",
            "rel.isActive", "rel", "int.isActive", "int", "foc.isActive", "foc"]  # fmt: skip
MET_GEN3 = ["attention.isActive", "attention", "eng.isActive", "eng", "exc.isActive", "exc", "lex",
            "str.isActive", "str", "rel.isActive", "rel", "int.isActive", "int"]  # fmt: skip
DEV_COLS_INSIGHT = ["Battery", "Signal", [*INSIGHT_SENSORS, "OVERALL"], "BatteryPercent"]
EQ_COLS_INSIGHT = ["batteryPercent", "overall", "sampleRateQuality", *INSIGHT_SENSORS]
FAC_COLS = ["eyeAct", "uAct", "uPow", "lAct", "lPow"]

# One representative (cols, frame) per stream.
EXAMPLES: dict[str, tuple[list[Any], list[Any]]] = {
    "eeg": (EEG_COLS_EPOC, EEG_FRAME_EPOC),
    "mot": (MOT_QUAT, MOT_FRAME_QUAT),
    "dev": (DEV_COLS_INSIGHT, [4, 1.0, [4, 4, 4, 4, 4, 100], 80]),
    "eq": (EQ_COLS_INSIGHT, [80, 92, 1.0, 4, 4, 3, 4, 4]),
    "pow": (POW_COLS_INSIGHT, [0.5 + i for i in range(25)]),
    "met": (
        MET_GEN2,
        [False, None, False, None, None, False, None, True, 0.266589, False, None, True, 0.098421],
    ),
    "com": (["act", "pow"], ["push", 0.376]),
    "fac": (FAC_COLS, ["neutral", "frown", 0.42, "smile", 0.73]),
    "sys": ([], ["mentalCommand", "MC_Succeeded"]),
}
