"""The catalog as tables: which columns of each Cortex stream are signal or
bookkeeping, their LSL types and units, rates, layouts and action vocabularies. Adding a
column or a stream is a row here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

# Column rules and the catalog (the tables)
# --------------------------------------------------------------------------------------


class Role(Enum):
    """What a Cortex column is, beyond its channel metadata."""

    VALUE = "value"
    COUNTER = "counter"  # per-sample counter; gaps reveal lost samples
    INTERPOLATED = "interpolated"  # 1 when Cortex made the sample up
    MARKERS = "markers"  # array of marker objects: not a channel


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """How one named Cortex column becomes a channel (unless its role says otherwise)."""

    type: str
    unit: str
    role: Role = Role.VALUE


class RateRule(Enum):
    """Where a stream's nominal rate comes from."""

    EEG_SETTING = "eeg"  # headset settings.eegRate
    MEMS_SETTING = "mems"  # headset settings.memsRate, FIXED_MOTION_RATES first
    FIXED = "fixed"  # StreamSpec.fixed_rate
    IRREGULAR = "irregular"  # 0.0: rate depends on licence or on events


class Layout(Enum):
    """How a frame's values become a sample."""

    COLUMNS = "columns"  # each named column is a channel (nested arrays flattened)
    ONE_HOT = "one_hot"  # (action, power) pairs spread over one channel per action
    EVENTS = "events"  # positional strings


@dataclass(frozen=True, slots=True)
class ActionGroup:
    """One (action, power) pair of a detection stream and its channel vocabulary.

    ``power_column`` None means the action is one-hot (1.0 on its channel).
    """

    prefix: str  # channel label prefix, e.g. "eye/"
    vocabulary_key: str  # key of the caller's ``vocab`` mapping
    action_column: str
    power_column: str | None


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One catalog row: everything about a Cortex stream that does not depend on cols."""

    label: str
    lsl_type: str
    channel_format: str
    rate: RateRule
    fixed_rate: float = 0.0
    layout: Layout = Layout.COLUMNS
    # COLUMNS layout: exact names, then name suffixes, then sensor names, else unknown.
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    suffixes: tuple[tuple[str, ColumnRule], ...] = ()
    sensor_rule: ColumnRule | None = None
    # A column whose name is itself an array (dev): flattened with this label prefix.
    nested_prefix: str = ""
    nested_columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    nested_rule: ColumnRule | None = None
    # JSON null becomes NaN (documented for met; harmless for slow quality streams).
    nullable: bool = False
    # ONE_HOT layout
    groups: tuple[ActionGroup, ...] = ()
    # EVENTS layout: fixed channel labels, values taken positionally
    event_channels: tuple[str, ...] = ()


def _words(text: str) -> tuple[str, ...]:
    """A tuple of names written as one space-separated string (easier to read)."""
    return tuple(text.split())


UNKNOWN_RULE: Final = ColumnRule("MISC", "unknown")

_MISC_NONE = ColumnRule("MISC", "none")

_EEG_COLUMNS: Final[Mapping[str, ColumnRule]] = {
    # Bookkeeping is never typed EEG: MNE would filter and re-reference it.
    "COUNTER": ColumnRule("MISC", "none", Role.COUNTER),
    "INTERPOLATED": ColumnRule("MISC", "none", Role.INTERPOLATED),
    "RAW_CQ": _MISC_NONE,
    "MARKER_HARDWARE": ColumnRule("STIM", "none"),
    "MARKERS": ColumnRule("MISC", "none", Role.MARKERS),
}

# MoCap meta-data (sccn/xdf wiki): OrientationA..D is a quaternion, A the scalar part.
# We assume Cortex's Q0 is the scalar part (not documented by Emotiv; lsl_osc.md §7).
# Angular velocity, acceleration and magnetic field have no MoCap type: the names below
# are our extension, in the same style.
_MOT_COLUMNS: Final[Mapping[str, ColumnRule]] = {
    "COUNTER_MEMS": ColumnRule("MISC", "none", Role.COUNTER),
    "INTERPOLATED_MEMS": ColumnRule("MISC", "none", Role.INTERPOLATED),
    **{f"Q{i}": ColumnRule(f"Orientation{axis}", "normalized") for i, axis in enumerate("ABCD")},
    **{f"GYRO{a}": ColumnRule(f"AngularVelocity{a}", "degrees/s") for a in "XYZ"},
    **{f"ACC{a}": ColumnRule(f"Acceleration{a}", "g") for a in "XYZ"},
    **{f"MAG{a}": ColumnRule(f"MagneticField{a}", "microtesla") for a in "XYZ"},
}

# "The values are absolute, the unit is uV^2 / Hz" (Cortex docs, pow).
POW_BANDS: Final = ("theta", "alpha", "betaL", "betaH", "gamma")
_POW_SUFFIXES: Final = tuple((f"/{band}", ColumnRule("MISC", "uV^2/Hz")) for band in POW_BANDS)

# Performance metrics of all three Cortex generations (cortex_api.md §5.4 met).
MET_METRICS: Final = ("attention", "eng", "exc", "lex", "str", "rel", "int", "foc")
_MET_COLUMNS: Final[Mapping[str, ColumnRule]] = {
    name: ColumnRule("MISC", "normalized") for name in MET_METRICS
}
_MET_SUFFIXES: Final = ((".isActive", ColumnRule("MISC", "bool")),)

# dev: Battery level 0-4, Signal 0-1, per-sensor contact quality 0-4, OVERALL 0-100.
_DEV_COLUMNS: Final[Mapping[str, ColumnRule]] = {
    "Battery": ColumnRule("MISC", "level"),
    "Signal": ColumnRule("MISC", "normalized"),
    "BatteryPercent": ColumnRule("MISC", "percent"),
}

# eq: the value scales are not documented by Emotiv; "none" says dimensionless.
_EQ_COLUMNS: Final[Mapping[str, ColumnRule]] = {
    "batteryPercent": ColumnRule("MISC", "percent"),
    "overall": _MISC_NONE,
    "sampleRateQuality": _MISC_NONE,
}

# Built-in vocabularies, used when the caller has none from getDetectionInfo.
DEFAULT_VOCABULARIES: Final[Mapping[str, tuple[str, ...]]] = {
    "com": _words(
        "neutral push pull lift drop left right rotateLeft rotateRight rotateClockwise "
        "rotateCounterClockwise rotateForwards rotateReverse disappear"
    ),
    "eye": _words("neutral blink winkL winkR lookL lookR lookU lookD"),
    "upper": _words("neutral surprise frown"),
    "lower": _words("neutral smile clench laugh smirkLeft smirkRight"),
}
COMBINED_FACIAL_KEY: Final = "fac"
VOCABULARY_KEYS: Final = (*DEFAULT_VOCABULARIES, COMBINED_FACIAL_KEY)
FACE_PART_KEYS: Final = ("eye", "upper", "lower")

# Which face part each facial-expression action belongs to, to sort the one list of
# getDetectionInfo("facialExpression") into eyeAct / uAct / lAct channels. "horiEye"
# (horizontal eye movement) is a detection whose frames say lookL / lookR, which the
# eye defaults already have, so it adds no channel.
FACE_PARTS: Final[Mapping[str, tuple[str, ...]]] = {
    "neutral": FACE_PART_KEYS,
    **dict.fromkeys(_words("blink winkL winkR lookL lookR lookU lookD"), ("eye",)),
    "horiEye": (),
    **dict.fromkeys(_words("surprise frown"), ("upper",)),
    **dict.fromkeys(_words("smile clench laugh smirkLeft smirkRight"), ("lower",)),
}

CATALOG: Final[Mapping[str, StreamSpec]] = {
    "eeg": StreamSpec(
        label="EEG",
        lsl_type="EEG",
        channel_format="float32",
        rate=RateRule.EEG_SETTING,
        columns=_EEG_COLUMNS,
        sensor_rule=ColumnRule("EEG", "microvolts"),
    ),
    "mot": StreamSpec(
        label="Motion",
        lsl_type="MoCap",
        channel_format="float32",
        rate=RateRule.MEMS_SETTING,
        columns=_MOT_COLUMNS,
    ),
    "dev": StreamSpec(
        label="DeviceQuality",
        lsl_type="ContactQuality",
        channel_format="float32",
        rate=RateRule.FIXED,
        fixed_rate=2.0,
        columns=_DEV_COLUMNS,
        nested_prefix="cq/",
        nested_columns={"OVERALL": ColumnRule("MISC", "percent")},
        nested_rule=ColumnRule("MISC", "level"),
        nullable=True,
    ),
    "eq": StreamSpec(
        label="EEGQuality",
        lsl_type="EEGQuality",
        channel_format="float32",
        rate=RateRule.FIXED,
        fixed_rate=2.0,
        columns=_EQ_COLUMNS,
        sensor_rule=_MISC_NONE,
        nullable=True,
    ),
    "pow": StreamSpec(
        label="BandPower",
        lsl_type="BandPower",
        channel_format="float32",
        rate=RateRule.FIXED,
        fixed_rate=8.0,
        suffixes=_POW_SUFFIXES,
    ),
    "met": StreamSpec(
        label="PerformanceMetrics",
        lsl_type="Metrics",
        channel_format="float32",
        # 2 Hz or 0.1 Hz depending on the licence: a wrong non-zero rate would make
        # pyxdf's dejitter move samples, so it is declared irregular.
        rate=RateRule.IRREGULAR,
        columns=_MET_COLUMNS,
        suffixes=_MET_SUFFIXES,
        nullable=True,
    ),
    "com": StreamSpec(
        label="MentalCommand",
        lsl_type="MentalCommand",
        channel_format="float32",
        rate=RateRule.FIXED,
        fixed_rate=8.0,
        layout=Layout.ONE_HOT,
        groups=(ActionGroup("", "com", "act", "pow"),),
    ),
    "fac": StreamSpec(
        label="FacialExpression",
        lsl_type="FacialExpression",
        channel_format="float32",
        rate=RateRule.FIXED,
        fixed_rate=32.0,
        layout=Layout.ONE_HOT,
        groups=(
            ActionGroup("eye/", "eye", "eyeAct", None),
            ActionGroup("upper/", "upper", "uAct", "uPow"),
            ActionGroup("lower/", "lower", "lAct", "lPow"),
        ),
    ),
    "sys": StreamSpec(
        label="SystemEvents",
        lsl_type="Markers",
        channel_format="string",
        rate=RateRule.IRREGULAR,
        layout=Layout.EVENTS,
        event_channels=("detection", "event"),
    ),
}

KNOWN_STREAMS: Final[tuple[str, ...]] = tuple(CATALOG)

# Channel metadata of the one-hot and event layouts.
_ACTION_CHANNEL: Final = ColumnRule("MISC", "normalized")
_EVENT_CHANNEL: Final = ColumnRule("Markers", "none")

# 10-10 (and old 10-20) electrode names, to recognise EEG sensor columns when the
# headset object did not list its sensors. Compared case-insensitively (Cortex's Flex
# mapping spells "Afz").
TEN_TEN_LABELS: Final = frozenset(
    label.casefold()
    for label in _words(
        "Fp1 Fpz Fp2 AF9 AF7 AF5 AF3 AF1 AFz AF2 AF4 AF6 AF8 AF10 "
        "F9 F7 F5 F3 F1 Fz F2 F4 F6 F8 F10 FT9 FT7 FC5 FC3 FC1 FCz FC2 FC4 FC6 FT8 FT10 "
        "T9 T7 C5 C3 C1 Cz C2 C4 C6 T8 T10 TP9 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 TP10 "
        "P9 P7 P5 P3 P1 Pz P2 P4 P6 P8 P10 PO9 PO7 PO5 PO3 PO1 POz PO2 PO4 PO6 PO8 PO10 "
        "O1 Oz O2 O9 O10 I1 Iz I2 T3 T4 T5 T6 M1 M2 A1 A2"
    )
)

# --------------------------------------------------------------------------------------
