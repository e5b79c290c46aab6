"""What each Emogg channel becomes on LSL: one data table and the plans built from it.

Emogg's live output is aggregate [D]: per analysis window, how often each emotion was
detected (``session_emotions_counts``), and per emotion how many people showed it, the
sum and the mean of their intensities (``session_emotions_intensities``). Each numeric
LSL stream has one channel per emotion, in the configured order (``emogg.emotions``),
so that a new or unknown emotion never shifts a column [A8]; an emotion missing from an
event means nobody showed it in that window and is 0 [A9]. The worker state is a
string marker stream.

All streams are irregular: events come once per window at best, and windows with no
faces may be skipped [A11]. Each sample is stamped with the window's **end** [A7] on
Emogg's server clock (converted in :mod:`bridge.clock`); the metadata says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bridge.sources.emogg.protocol import (
    CHANNEL_COUNTS,
    CHANNEL_INTENSITIES,
    CHANNEL_WORKER_STATE,
    FREQUENCIES,
)
from bridge.streams import ChannelSpec, FrameError, HeadsetInfo, StreamPlan

__all__ = ["EMOGG_STREAMS", "EmoggStreamSpec", "build_emogg_plans", "emogg_source_info"]

MANUFACTURER: Final = "Emogg"
SOURCE: Final = "Emogg API"


@dataclass(frozen=True, slots=True)
class EmoggStreamSpec:
    """One LSL stream made from one Emogg channel.

    ``field`` picks the value inside a per-emotion object (``intensity``, ``people``);
    None means the payload maps emotions straight to numbers (counts), and ``STATE``
    marks the worker-state string stream.
    """

    stream: str
    label: str
    channel: str
    lsl_type: str
    unit: str
    field: str | None
    meaning: str


STATE: Final = "<state>"

EMOGG_STREAMS: Final[tuple[EmoggStreamSpec, ...]] = (
    EmoggStreamSpec(
        "emogg-intensity", "Intensity", CHANNEL_INTENSITIES, "Emotion", "normalized",
        "intensity", "mean intensity of the emotion over the people who showed it [0..1]",
    ),
    EmoggStreamSpec(
        "emogg-people", "People", CHANNEL_INTENSITIES, "Emotion", "people",
        "people", "number of people on whom the emotion was detected",
    ),
    EmoggStreamSpec(
        "emogg-counts", "Counts", CHANNEL_COUNTS, "Emotion", "count",
        None, "times the emotion was detected in the window",
    ),
    EmoggStreamSpec(
        "emogg-state", "WorkerState", CHANNEL_WORKER_STATE, "Markers", "none",
        STATE, "state the session's analysis worker has just entered",
    ),
)  # fmt: skip


def emogg_source_info(source_id: str) -> HeadsetInfo:
    """The "device" the Emogg outlets describe: the audience seen by Emogg's worker.

    ``source_id`` (``emogg.source_id``) makes every outlet's ``source_id``
    ``cortex-bridge:<source_id>:emogg-<stream>``, stable across sessions and restarts,
    so LabRecorder re-finds the streams when a new session starts.
    """
    return HeadsetInfo(
        id=source_id,
        model="Emogg",
        connected_by="Emogg cloud (stream pulled by Emogg)",
        manufacturer=MANUFACTURER,
        source=SOURCE,
    )


def build_emogg_plans(
    channels: Sequence[str], emotions: Sequence[str], frequency: str
) -> dict[str, list[StreamPlan]]:
    """Emogg channel -> the plans fed by its events, for the followed ``channels``."""
    plans: dict[str, list[StreamPlan]] = {}
    for spec in EMOGG_STREAMS:
        if spec.channel in channels:
            plans.setdefault(spec.channel, []).append(_plan(spec, tuple(emotions), frequency))
    return plans


def _plan(spec: EmoggStreamSpec, emotions: tuple[str, ...], frequency: str) -> StreamPlan:
    window = "event" if spec.field == STATE else f"{FREQUENCIES[frequency]} s"
    desc = (
        ("emogg_channel", spec.channel),
        ("emogg_value", spec.meaning),
        ("window", window),
        ("timestamp", "end of the analysis window, Emogg server clock (UTC) mapped to LSL"),
    )
    if spec.field == STATE:
        return StreamPlan(
            stream=spec.stream,
            label=spec.label,
            lsl_type=spec.lsl_type,
            channel_format="string",
            nominal_rate=0.0,
            channels=(ChannelSpec("state", spec.unit, "Markers"),),
            desc_extra=desc,
            _extractor=_state_extractor,
        )
    return StreamPlan(
        stream=spec.stream,
        label=spec.label,
        lsl_type=spec.lsl_type,
        channel_format="float32",
        nominal_rate=0.0,
        channels=tuple(ChannelSpec(name, spec.unit, "MISC") for name in emotions),
        desc_extra=desc,
        _extractor=_emotion_extractor(spec.stream, emotions, spec.field),
    )


def _number(stream: str, emotion: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FrameError(f"{stream}: {emotion} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise FrameError(f"{stream}: {emotion} is not finite")
    return number


def _emotion_extractor(
    stream: str, emotions: tuple[str, ...], field: str | None
) -> Callable[[Any], list[float]]:
    """Payload object -> one value per configured emotion (0.0 when absent [A9])."""

    def extract(payload: Any) -> list[float]:
        if not isinstance(payload, Mapping):
            raise FrameError(f"{stream}: payload must be an object")
        sample = []
        for emotion in emotions:
            value = payload.get(emotion)
            if value is None:
                sample.append(0.0)
            elif field is None:
                sample.append(_number(stream, emotion, value))
            elif isinstance(value, Mapping):
                inner = value.get(field)
                sample.append(0.0 if inner is None else _number(stream, emotion, inner))
            else:
                raise FrameError(f"{stream}: {emotion} must be an object with {field!r}")
        return sample

    return extract


def _state_extractor(payload: Any) -> list[str]:
    if not isinstance(payload, str) or not payload:
        raise FrameError("emogg-state: the worker state must be a non-empty string")
    payload.encode("utf-8")  # a lone surrogate cannot go to liblsl
    return [payload]


def unknown_emotions(payload: Any, emotions: Sequence[str]) -> list[str]:
    """Emotion keys in a payload that are not LSL channels (logged once each) [A8]."""
    if not isinstance(payload, Mapping):
        return []
    return [str(key) for key in payload if key not in emotions]
