"""The stream catalog: what each Cortex stream becomes on LSL.

Cortex tells us, once per subscription, the ``cols`` of a stream; every data frame after
that is a bare list of values in that order. This module turns ``cols`` into a
:class:`StreamPlan` -- the LSL label, type, channel format, nominal rate and one
:class:`ChannelSpec` per channel -- and precomputes how one frame becomes one LSL
sample, so the hot path (:meth:`StreamPlan.extract`, ~400 calls/s per headset) does no
name lookups and no per-column branching.

Everything here is pure data and pure functions, no I/O. The knowledge lives in the
tables below (:data:`CATALOG` and the column rules it points to), not in if/else chains:
supporting a new column or a new stream means adding a table row.

Columns are always mapped **by name**, never by position: Cortex has changed column
order between versions (the three generations of ``met`` are the proof), and a client
that indexes by position silently mislabels data when that happens. The one exception
is ``sys``, whose two values are documented positionally and which has no useful
``cols``.

Facts (columns, units, rates) come from ``shared/reference/cortex_api.md`` §3 and §5;
LSL conventions (types, units, MoCap channel types) from ``lsl_osc.md`` §1.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from operator import itemgetter
from typing import Any, Final, NoReturn

__all__ = [
    "CATALOG",
    "DEFAULT_VOCABULARIES",
    "KNOWN_STREAMS",
    "VOCABULARY_KEYS",
    "ChannelSpec",
    "FrameError",
    "HeadsetInfo",
    "StreamPlan",
    "UnknownStreamError",
    "build_plan",
]

NAN: Final = math.nan
FLOAT32_MAX: Final = 3.4028234663852886e38
"""The largest float32: a number beyond it would reach an LSL outlet as infinity."""

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class FrameError(ValueError):
    """A Cortex frame that does not fit its stream's plan (wrong length or value types).

    The daemon counts and drops such frames; it is the only exception
    :meth:`StreamPlan.extract` raises, whatever the frame holds.
    """


class UnknownStreamError(ValueError):
    """``build_plan`` was asked for a stream that is not in the catalog."""


# --------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One LSL channel: what goes into ``desc/channels/channel``.

    ``type`` is the XDF/MNE channel type (``EEG``, ``MISC``, ``STIM``, MoCap's
    ``OrientationA`` ...). mne-lsl and MNELAB take it as the MNE channel type, so only
    real EEG sensors are ever typed ``EEG``.
    """

    label: str
    unit: str
    type: str


# Emotiv headset-id prefixes (unity-plugin ``Types.cs``) and how we name the models in
# metadata. The prefix is the reliable way to know the model: ``settings.mode`` says
# ``EPOCPLUS`` for an EPOC X running in EPOC+ mode.
MODEL_NAMES: Final[Mapping[str, str]] = {
    "EPOC": "EPOC",
    "EPOCPLUS": "EPOC+",
    "EPOCX": "EPOC X",
    "INSIGHT": "Insight",
    "INSIGHT2": "Insight 2",
    "EPOCFLEX": "EPOC Flex",
    "FLEX2": "Flex 2",
    "MN8": "MN8",
    "MW20": "MW20",
    "BGX": "X-trodes",
}

# Streams a model never has, whatever the licence (cortex_api.md §5.3: fac "all but MN8";
# EPOC Flex has met/com/fac only with a special mapping, §3.3): refused ones are not retried.
MODEL_LACKS: Final[Mapping[str, frozenset[str]]] = {
    "MN8": frozenset({"fac"}),
    "EPOCFLEX": frozenset({"met", "com", "fac"}),
}

# Models whose motion rate is fixed whatever ``memsRate`` says (cortex_api.md §5.3).
FIXED_MOTION_RATES: Final[Mapping[str, float]] = {"MN8": 6.4}


@dataclass(frozen=True, slots=True)
class HeadsetInfo:
    """What the catalog and the outlet metadata need to know about one headset.

    Built from a Cortex headset object (``queryHeadsets``); every field but ``id`` has
    a harmless default because Cortex versions differ in what they send.
    ``eeg_rate``/``mems_rate`` of ``0.0`` mean "unknown" and "motion disabled".
    """

    id: str
    model: str = "unknown"
    sensors: tuple[str, ...] = ()
    eeg_rate: float = 0.0
    mems_rate: float = 0.0
    firmware: str = ""
    connected_by: str = ""
    eeg_resolution: int = 0  # bits (settings.eegRes); 0 = unknown
    custom_name: str = ""
    # EPOC Flex places its references freely; the headset's flexMappings say where.
    cms: str = ""
    drl: str = ""
    # Who makes the device and which service delivers its data (outlet metadata); a
    # second source (Emogg) describes itself here.
    manufacturer: str = "Emotiv"
    source: str = "Emotiv Cortex"

    @property
    def model_name(self) -> str:
        """Human model name for metadata (``EPOC X``), the model code if unknown."""
        return MODEL_NAMES.get(self.model, self.model)

    @classmethod
    def from_headset_object(cls, obj: Mapping[str, Any]) -> HeadsetInfo:
        """Read a Cortex headset object (cortex_api.md §3.2), tolerating missing fields.

        Only ``id`` is required (it is the stable identity of every outlet); anything
        else missing or of the wrong type falls back to its default.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"a headset object must be a JSON object, not {type(obj).__name__}")
        headset_id = obj.get("id")
        if not isinstance(headset_id, str) or not headset_id.strip():
            raise ValueError("the headset object has no id")
        settings = obj.get("settings")
        if not isinstance(settings, Mapping):
            settings = {}
        model = _model_of(headset_id, settings.get("mode"))
        mems = _number(settings.get("memsRate"))
        if mems is None:
            mems = FIXED_MOTION_RATES.get(model, 0.0)
        sensors = obj.get("sensors")
        flex = _flex_mapping(obj.get("flexMappings", obj.get("flexMapping")))
        return cls(
            id=headset_id,
            model=model,
            sensors=tuple(s for s in sensors if isinstance(s, str) and s)
            if isinstance(sensors, list | tuple)
            else (),
            eeg_rate=_number(settings.get("eegRate")) or 0.0,
            mems_rate=mems,
            firmware=_text(obj.get("firmware")),
            connected_by=_text(obj.get("connectedBy")),
            eeg_resolution=int(_number(settings.get("eegRes")) or 0),
            custom_name=_text(obj.get("customName")),
            cms=_text(flex.get("CMS")),
            drl=_text(flex.get("DRL")),
        )


def _model_of(headset_id: str, mode: Any) -> str:
    """Model code: a known id prefix, else ``settings.mode``, else the raw prefix."""
    prefix = headset_id.split("-", 1)[0].strip().upper()
    if prefix in MODEL_NAMES:
        return prefix
    if isinstance(mode, str) and mode.strip() and mode.strip().upper() != "UNKNOWN":
        return mode.strip().upper()
    if "-" in headset_id and prefix:
        return prefix
    return "unknown"


def _number(value: Any) -> float | None:
    """A finite, non-negative number from a JSON value, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _flex_mapping(value: Any) -> Mapping[str, Any]:
    """``flexMappings`` is the mapping itself or wraps it in ``mappings``; accept both."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get("mappings")
    return inner if isinstance(inner, Mapping) else value


# --------------------------------------------------------------------------------------
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
# The plan
# --------------------------------------------------------------------------------------

Extractor = Callable[[Any], list[float] | list[str]]


def _no_extractor(values: Any) -> list[float]:
    raise FrameError("this plan was built without an extractor")


@dataclass(frozen=True)
class StreamPlan:
    """How one subscribed Cortex stream becomes one LSL stream.

    Built once per subscription by :func:`build_plan`. ``counter_index``,
    ``interpolated_index`` and ``markers_index`` are positions in a frame's *values*
    (the Cortex column order), so the daemon can watch COUNTER gaps and echo the
    ``MARKERS`` objects of the eeg stream without knowing the layout.
    ``unknown_columns`` lists the columns the catalog does not know (each became a
    ``MISC`` channel with unit ``unknown``, or was ignored where the layout has no room
    for it), so the daemon can log them once. ``unknown_actions`` counts action names
    of ``com``/``fac`` frames that are not in the vocabulary.
    """

    stream: str
    label: str
    lsl_type: str
    channel_format: str
    nominal_rate: float
    channels: tuple[ChannelSpec, ...]
    counter_index: int | None = None
    interpolated_index: int | None = None
    markers_index: int | None = None
    unknown_columns: tuple[str, ...] = ()
    # Extra (element, value) pairs for the outlet's ``desc`` (a source's own metadata).
    desc_extra: tuple[tuple[str, str], ...] = ()
    unknown_actions: Counter[str] = field(default_factory=Counter, compare=False, repr=False)
    _extractor: Extractor = field(default=_no_extractor, compare=False, repr=False)

    @property
    def channel_count(self) -> int:
        return len(self.channels)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(ch.label for ch in self.channels)

    def extract(self, values: list[Any]) -> list[float] | list[str]:
        """One Cortex frame's values -> one LSL sample (the hot path).

        Numbers are returned as Python floats, not yet float32: liblsl (through pylsl)
        rounds each to float32 exactly once. Raises :class:`FrameError`, and nothing
        else, for a frame that does not fit the plan.
        """
        try:
            return self._extractor(values)
        except FrameError:
            raise
        except (TypeError, ValueError, OverflowError, LookupError, AttributeError) as exc:
            raise FrameError(f"{self.stream} frame does not fit its columns: {exc}") from exc


# --------------------------------------------------------------------------------------
# build_plan
# --------------------------------------------------------------------------------------


def build_plan(
    stream: str,
    cols: Sequence[Any],
    headset: HeadsetInfo,
    vocab: Mapping[str, Sequence[str]] | None = None,
) -> StreamPlan:
    """The plan for ``stream`` given the ``cols`` of its subscribe result.

    ``vocab`` maps :data:`VOCABULARY_KEYS` to action names from ``getDetectionInfo``:
    ``com`` (mentalCommand), ``fac`` (facialExpression's one list, sorted into face
    parts) or ``eye``/``upper``/``lower`` directly; missing keys use
    :data:`DEFAULT_VOCABULARIES`. Raises :class:`UnknownStreamError` for a stream not
    in the catalog and ``ValueError`` for cols that cannot make a stream.
    """
    spec = CATALOG.get(stream)
    if spec is None:
        raise UnknownStreamError(
            f"unknown Cortex stream {stream!r}; known streams: {', '.join(KNOWN_STREAMS)}"
        )
    if isinstance(cols, str | bytes) or not isinstance(cols, Sequence):
        raise ValueError(f"{stream}: cols must be a list, not {type(cols).__name__}")
    builder = _LAYOUT_BUILDERS[spec.layout]
    return builder(stream, spec, list(cols), headset, _vocabularies(vocab))


def _vocabularies(vocab: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """The vocabularies of the one-hot streams: the caller's, else the defaults.

    ``com``, ``eye``, ``upper`` and ``lower`` replace the default list. ``fac`` is the
    single list ``getDetectionInfo("facialExpression")`` returns: its names are sorted
    into the face parts by :data:`FACE_PARTS` and *added* to the part lists, because
    that list describes detections (``horiEye``), not every value a frame can carry
    (``lookL``).
    """
    result = dict(DEFAULT_VOCABULARIES)
    given = dict(vocab or {})
    combined = given.pop(COMBINED_FACIAL_KEY, None)
    for key, names in given.items():
        if key not in result:
            raise ValueError(
                f"unknown vocabulary {key!r}; expected one of {', '.join(VOCABULARY_KEYS)}"
            )
        result[key] = _action_names(key, names)
    if combined is not None:
        names = _action_names(COMBINED_FACIAL_KEY, combined)
        for part in FACE_PART_KEYS:
            extra = (name for name in names if part in FACE_PARTS.get(name, ()))
            result[part] = tuple(dict.fromkeys((*result[part], *extra)))
    return result


def _action_names(key: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"vocabulary {key!r} must be a list of action names")
    cleaned = tuple(dict.fromkeys(n for n in names if isinstance(n, str) and n))
    if not cleaned:
        raise ValueError(f"vocabulary {key!r} has no action names")
    return cleaned


def _nominal_rate(spec: StreamSpec, headset: HeadsetInfo) -> float:
    rate = _RATE_SOURCES[spec.rate](spec, headset)
    return rate if math.isfinite(rate) and rate > 0 else 0.0


def _mems_rate(spec: StreamSpec, headset: HeadsetInfo) -> float:
    if headset.mems_rate <= 0:
        return 0.0  # motion disabled: no samples will come, declare nothing regular
    return FIXED_MOTION_RATES.get(headset.model, headset.mems_rate)


_RATE_SOURCES: Final[Mapping[RateRule, Callable[[StreamSpec, HeadsetInfo], float]]] = {
    RateRule.EEG_SETTING: lambda spec, headset: headset.eeg_rate,
    RateRule.MEMS_SETTING: _mems_rate,
    RateRule.FIXED: lambda spec, headset: spec.fixed_rate,
    RateRule.IRREGULAR: lambda spec, headset: 0.0,
}


def _column_rule(spec: StreamSpec, name: str, sensors: frozenset[str]) -> ColumnRule | None:
    """The catalog rule for a column name, or None when the catalog does not know it."""
    rule = spec.columns.get(name)
    if rule is not None:
        return rule
    for suffix, suffix_rule in spec.suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix_rule
    if spec.sensor_rule is not None and (name in sensors or name.casefold() in TEN_TEN_LABELS):
        return spec.sensor_rule
    return None


class _Conv(Enum):
    """How a channel's value is checked and converted in the general extractor."""

    STRICT = "strict"  # a number (or bool) or the frame is rejected
    NULLABLE = "nullable"  # as STRICT, and null -> NaN
    LENIENT = "lenient"  # unknown columns: anything that is not a number -> NaN


@dataclass(frozen=True, slots=True)
class _Source:
    column: int
    sub: int  # index inside a nested array column, -1 for a plain column
    conv: _Conv


def _build_columns(
    stream: str,
    spec: StreamSpec,
    cols: list[Any],
    headset: HeadsetInfo,
    vocabularies: Mapping[str, tuple[str, ...]],
) -> StreamPlan:
    sensors = frozenset(headset.sensors)
    known_conv = _Conv.NULLABLE if spec.nullable else _Conv.STRICT
    channels: list[ChannelSpec] = []
    sources: list[_Source] = []
    nested: list[tuple[int, int]] = []
    unknown: list[str] = []
    roles: dict[Role, int] = {}
    for index, col in enumerate(cols):
        if isinstance(col, list | tuple) and spec.nested_rule is not None:
            nested.append((index, len(col)))
            for sub, sub_name in enumerate(col):
                name = str(sub_name)
                rule = spec.nested_columns.get(name, spec.nested_rule)
                channels.append(ChannelSpec(spec.nested_prefix + name, rule.unit, rule.type))
                sources.append(_Source(index, sub, known_conv))
            continue
        named = isinstance(col, str) and bool(col)
        name = col if named else f"column{index}"
        found = _column_rule(spec, name, sensors) if named else None
        if found is None:
            unknown.append(name)
            channels.append(ChannelSpec(name, UNKNOWN_RULE.unit, UNKNOWN_RULE.type))
            sources.append(_Source(index, -1, _Conv.LENIENT))
            continue
        if found.role is not Role.VALUE:
            roles.setdefault(found.role, index)
            if found.role is Role.MARKERS:
                continue
        channels.append(ChannelSpec(name, found.unit, found.type))
        sources.append(_Source(index, -1, known_conv))
    if not channels:
        raise ValueError(f"{stream}: cols {cols!r} give no LSL channel")
    return StreamPlan(
        stream=stream,
        label=spec.label,
        lsl_type=spec.lsl_type,
        channel_format=spec.channel_format,
        nominal_rate=_nominal_rate(spec, headset),
        channels=_unique(channels),
        counter_index=roles.get(Role.COUNTER),
        interpolated_index=roles.get(Role.INTERPOLATED),
        markers_index=roles.get(Role.MARKERS),
        unknown_columns=tuple(unknown),
        _extractor=_columns_extractor(stream, len(cols), sources, nested),
    )


def _build_one_hot(
    stream: str,
    spec: StreamSpec,
    cols: list[Any],
    headset: HeadsetInfo,
    vocabularies: Mapping[str, tuple[str, ...]],
) -> StreamPlan:
    positions = {col: i for i, col in reversed(list(enumerate(cols))) if isinstance(col, str)}
    channels: list[ChannelSpec] = []
    groups: list[tuple[int, int, dict[str, int]]] = []
    used: set[int] = set()
    for group in spec.groups:
        needed = (group.action_column,) + ((group.power_column,) if group.power_column else ())
        missing = [name for name in needed if name not in positions]
        if missing:
            raise ValueError(f"{stream}: cols {cols!r} lack {', '.join(missing)}")
        action_at = positions[group.action_column]
        power_at = positions[group.power_column] if group.power_column else -1
        used.update((action_at, power_at))
        channel_of: dict[str, int] = {}
        for action in vocabularies[group.vocabulary_key]:
            channel_of[action] = len(channels)
            channels.append(
                ChannelSpec(group.prefix + action, _ACTION_CHANNEL.unit, _ACTION_CHANNEL.type)
            )
        groups.append((action_at, power_at, channel_of))
    unknown = tuple(
        col if isinstance(col, str) else f"column{i}" for i, col in enumerate(cols) if i not in used
    )
    counts: Counter[str] = Counter()
    return StreamPlan(
        stream=stream,
        label=spec.label,
        lsl_type=spec.lsl_type,
        channel_format=spec.channel_format,
        nominal_rate=_nominal_rate(spec, headset),
        channels=_unique(channels),
        unknown_columns=unknown,
        unknown_actions=counts,
        _extractor=_one_hot_extractor(stream, len(cols), len(channels), groups, counts),
    )


def _build_events(
    stream: str,
    spec: StreamSpec,
    cols: list[Any],
    headset: HeadsetInfo,
    vocabularies: Mapping[str, tuple[str, ...]],
) -> StreamPlan:
    # sys values are positional by documentation; its cols carry nothing we can use.
    channels = [
        ChannelSpec(label, _EVENT_CHANNEL.unit, _EVENT_CHANNEL.type)
        for label in spec.event_channels
    ]
    return StreamPlan(
        stream=stream,
        label=spec.label,
        lsl_type=spec.lsl_type,
        channel_format=spec.channel_format,
        nominal_rate=_nominal_rate(spec, headset),
        channels=tuple(channels),
        _extractor=_events_extractor(stream, len(channels)),
    )


_LAYOUT_BUILDERS: Final = {
    Layout.COLUMNS: _build_columns,
    Layout.ONE_HOT: _build_one_hot,
    Layout.EVENTS: _build_events,
}


def _unique(channels: list[ChannelSpec]) -> tuple[ChannelSpec, ...]:
    """Labels must be unique within a stream (MNE renames duplicates with a warning)."""
    seen: set[str] = set()
    result = []
    for ch in channels:
        label, n = ch.label, 1
        while label in seen:
            n += 1
            label = f"{ch.label}#{n}"
        seen.add(label)
        result.append(ch if label == ch.label else ChannelSpec(label, ch.unit, ch.type))
    return tuple(result)


# --------------------------------------------------------------------------------------
# Extractors: closures over precomputed indices. Each takes a frame's values and
# returns the sample, raising FrameError (or a built-in error that
# StreamPlan.extract turns into FrameError) when the frame does not fit.
# --------------------------------------------------------------------------------------


def _check_frame(stream: str, values: Any, expected: int) -> NoReturn:
    """Raise the FrameError that explains why ``values`` is not a frame of ``expected``."""
    if not isinstance(values, list | tuple):
        raise FrameError(f"{stream} values must be a list, not {type(values).__name__}")
    raise FrameError(f"{stream} frame has {len(values)} values, expected {expected}")


def _columns_extractor(
    stream: str, n_values: int, sources: list[_Source], nested: list[tuple[int, int]]
) -> Extractor:
    if not nested and all(s.conv is _Conv.STRICT for s in sources):
        return _gather_extractor(stream, n_values, [s.column for s in sources])
    return _general_extractor(stream, n_values, sources, nested)


def _gather_extractor(stream: str, n_values: int, indices: list[int]) -> Extractor:
    """The fast path (eeg, mot, pow): plain numeric columns.

    ``sum(t, 0.0)`` is a C-speed type check: it raises TypeError for None, strings,
    lists and dicts and OverflowError for integers beyond float range, all of which
    ``float()`` alone would either accept (numeric strings) or need a per-value branch
    for. ``map(float, ...)`` then gives plain floats (JSON integers such as COUNTER
    included), so OSC and LSL see the same types every frame.
    """
    start, stop = indices[0], indices[-1] + 1
    gather: Callable[[Any], Any]
    if indices == list(range(start, stop)):
        gather = itemgetter(slice(start, stop))
    elif len(indices) > 1:
        gather = itemgetter(*indices)
    else:
        only = indices[0]

        def gather(values: Any) -> tuple[Any]:
            return (values[only],)

    def extract(values: Any) -> list[float]:
        if not isinstance(values, list | tuple) or len(values) != n_values:
            _check_frame(stream, values, n_values)
        picked = gather(values)
        total = sum(picked, 0.0)
        # inf or NaN anywhere makes the sum non-finite (x - x is then NaN, never 0.0);
        # min and max catch a finite value beyond float32, which liblsl would make inf
        if total - total != 0.0 or max(picked) > FLOAT32_MAX or min(picked) < -FLOAT32_MAX:
            raise FrameError(f"{stream} frame carries a value that is not a finite float32")
        return list(map(float, picked))

    return extract


def _strict(value: Any) -> float:
    """A number that LSL can carry as a finite float32, else FrameError."""
    if isinstance(value, int | float):  # bool is an int: flags become 1.0 / 0.0
        number = float(value)
        if -FLOAT32_MAX <= number <= FLOAT32_MAX:
            return number
        raise FrameError(f"expected a finite float32 number, got {number!r}")
    raise FrameError(f"expected a number, got {type(value).__name__}")


def _nullable(value: Any) -> float:
    """A column whose documented "missing" is null (met): null, NaN, an infinity or a
    number beyond float32 are all missing, NaN; anything else must be a number."""
    if value is None:
        return NAN
    if isinstance(value, int | float):
        return _lenient(value)
    raise FrameError(f"expected a number or null, got {type(value).__name__}")


def _lenient(value: Any) -> float:
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return NAN
        return number if -FLOAT32_MAX <= number <= FLOAT32_MAX else NAN
    return NAN


_CONVERTERS: Final[Mapping[_Conv, Callable[[Any], float]]] = {
    _Conv.STRICT: _strict,
    _Conv.NULLABLE: _nullable,
    _Conv.LENIENT: _lenient,
}


def _general_extractor(
    stream: str, n_values: int, sources: list[_Source], nested: list[tuple[int, int]]
) -> Extractor:
    """Slow, general path for low-rate streams (met, dev, eq) or unknown columns."""
    table = tuple((_getter(s), _CONVERTERS[s.conv]) for s in sources)
    nested_checks = tuple(nested)

    def extract(values: Any) -> list[float]:
        if not isinstance(values, list | tuple) or len(values) != n_values:
            _check_frame(stream, values, n_values)
        for column, length in nested_checks:
            inner = values[column]
            if not isinstance(inner, list | tuple) or len(inner) != length:
                raise FrameError(f"{stream} column {column} must be an array of {length}")
        return [convert(get(values)) for get, convert in table]

    return extract


def _getter(source: _Source) -> Callable[[Any], Any]:
    if source.sub < 0:
        return itemgetter(source.column)
    column, sub = source.column, source.sub

    def get(values: Any) -> Any:
        return values[column][sub]

    return get


log = logging.getLogger("bridge.streams")

# Distinct unknown action names remembered per plan; beyond this they are lumped.
MAX_UNKNOWN_ACTION_NAMES: Final = 64
OTHER_ACTIONS: Final = "<other>"


def _one_hot_extractor(
    stream: str,
    n_values: int,
    n_channels: int,
    groups: list[tuple[int, int, dict[str, int]]],
    unknown_actions: Counter[str],
) -> Extractor:
    zeros = [0.0] * n_channels
    frozen_groups = tuple(groups)

    def extract(values: Any) -> list[float]:
        if not isinstance(values, list | tuple) or len(values) != n_values:
            _check_frame(stream, values, n_values)
        sample = zeros.copy()
        for action_at, power_at, channel_of in frozen_groups:
            action = values[action_at]
            if action.__class__ is not str:
                raise FrameError(f"{stream} action must be a string, got {action!r:.40}")
            power = 1.0 if power_at < 0 else _strict(values[power_at])
            channel = channel_of.get(action)
            if channel is None:
                _count_unknown(stream, unknown_actions, action)
            else:
                sample[channel] = power
        return sample

    return extract


def _count_unknown(stream: str, counts: Counter[str], action: str) -> None:
    """Count a frame's action that has no channel, and say so the first time each name
    is seen: its power would otherwise vanish into an all-zero sample unnoticed."""
    if action in counts or len(counts) < MAX_UNKNOWN_ACTION_NAMES:
        if action not in counts:
            log.warning(
                "%s frame carries the unknown action %r: no channel for it, the sample's "
                "action channels stay 0 (counted in unknown_actions)",
                stream,
                action[:40],
            )
        counts[action] += 1
    else:
        counts[OTHER_ACTIONS] += 1


def _events_extractor(stream: str, n_values: int) -> Extractor:
    def extract(values: Any) -> list[str]:
        if not isinstance(values, list | tuple) or len(values) != n_values:
            _check_frame(stream, values, n_values)
        sample = list(values)
        for text in sample:
            if text.__class__ is not str:
                raise FrameError(f"{stream} values must be strings, got {text!r:.40}")
            # liblsl carries UTF-8; a lone surrogate (legal in JSON) cannot be encoded.
            if not text.isascii():
                text.encode("utf-8")
        return sample

    return extract
