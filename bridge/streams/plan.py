"""A subscription's ``cols`` turned into a :class:`StreamPlan`: channels, LSL label,
type, format, rate and the extractor for its frames."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bridge.streams.catalog import (
    _ACTION_CHANNEL,
    _EVENT_CHANNEL,
    CATALOG,
    COMBINED_FACIAL_KEY,
    DEFAULT_VOCABULARIES,
    FACE_PART_KEYS,
    FACE_PARTS,
    KNOWN_STREAMS,
    TEN_TEN_LABELS,
    UNKNOWN_RULE,
    VOCABULARY_KEYS,
    ColumnRule,
    Layout,
    RateRule,
    Role,
    StreamSpec,
)
from bridge.streams.extract import (
    Extractor,
    _columns_extractor,
    _Conv,
    _events_extractor,
    _one_hot_extractor,
    _Source,
)
from bridge.streams.headset import (
    FIXED_MOTION_RATES,
    ChannelSpec,
    FrameError,
    HeadsetInfo,
    UnknownStreamError,
)

# The plan
# --------------------------------------------------------------------------------------



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
