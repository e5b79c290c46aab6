"""How one frame becomes one LSL sample: the extractors a plan precomputes, so the
hot path does no name look-ups and no per-column branching."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import Any, Final, NoReturn

from bridge.streams.headset import (
    FLOAT32_MAX,
    NAN,
    FrameError,
)

Extractor = Callable[[Any], list[float] | list[str]]


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
