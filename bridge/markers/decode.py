"""LSL marker samples -> :class:`Marker`: one decoder per channel format and layout.

Pure functions of the sample, its corrected timestamp and the stream's shape, so every
layout is tested with plain data (``tests/unit/markers/test_markers_units.py``). Layouts
(``shared/reference/lsl_osc.md`` §4.8, §3, cortex_api.md §10.1):

- ``string`` (the LSL norm: PsychoPy, Presentation, Unity): the text;
- ``int32``/``int16``/``int8``/``int64`` (OpenViBE's ``openvibeMarkers``, Graz codes such
  as 768/769): the number;
- ``float32``/``double64`` with 1 channel (EmotivPRO ``[MarkerValue]``): the number,
  truncated to an integer as EmotivPRO does;
- ``float32``/``double64`` with 3 channels (EmotivPRO ``[MarkerTime, MarkerValue,
  TimeSent]``, epoch seconds in the sender's clock): the value, dated ``TimeSent -
  MarkerTime`` before the sample's timestamp;
- anything else with several channels: the first channel (the input logs that once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bridge.clock import emotivpro_marker_lsl, sender_to_local_lsl
from bridge.markers.marker import Marker, make_marker


class Layout(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"  # one float channel (EmotivPRO [MarkerValue])
    EMOTIVPRO_TIMED = "emotivpro-timed"  # [MarkerTime, MarkerValue, TimeSent]
    FIRST_CHANNEL = "first-channel"  # an unknown multi-channel layout: channel 0


# pylsl channel_format() codes -> what the samples hold
_KIND_BY_FORMAT: Mapping[int, str] = {
    1: "float",  # cf_float32
    2: "float",  # cf_double64
    3: "string",  # cf_string
    4: "int",  # cf_int32
    5: "int",  # cf_int16
    6: "int",  # cf_int8
    7: "int",  # cf_int64
}


@dataclass(frozen=True, slots=True)
class StreamShape:
    """What the decoder needs to know about a marker stream."""

    name: str
    channel_format: int
    channel_count: int


def layout_of(shape: StreamShape) -> Layout | None:
    """The layout of a marker stream, or None if its format cannot carry markers."""
    kind = _KIND_BY_FORMAT.get(shape.channel_format)
    if kind is None or shape.channel_count < 1:
        return None
    if kind == "float" and shape.channel_count == 3:
        return Layout.EMOTIVPRO_TIMED
    if shape.channel_count > 1:
        return Layout.FIRST_CHANNEL
    return {"string": Layout.TEXT, "int": Layout.INTEGER, "float": Layout.NUMBER}[kind]


Decoder = Callable[[Sequence[object], float, float, str], Marker | None]


def _first(sample: Sequence[object], stamp: float, correction: float, origin: str) -> Marker | None:
    if not sample:
        return None
    return make_marker(sample[0], sender_to_local_lsl(stamp, correction), origin)


def _emotivpro(
    sample: Sequence[object], stamp: float, correction: float, origin: str
) -> Marker | None:
    if len(sample) < 3:
        return None
    marker_time, value, time_sent = sample[0], sample[1], sample[2]
    if not all(isinstance(v, int | float) for v in (marker_time, time_sent)):
        return None
    assert isinstance(marker_time, int | float) and isinstance(time_sent, int | float)
    lsl_time = emotivpro_marker_lsl(stamp, correction, float(marker_time), float(time_sent))
    return make_marker(value, lsl_time, origin)


DECODERS: Mapping[Layout, Decoder] = {
    Layout.TEXT: _first,
    Layout.INTEGER: _first,
    Layout.NUMBER: _first,
    Layout.EMOTIVPRO_TIMED: _emotivpro,
    Layout.FIRST_CHANNEL: _first,
}


def decode(
    layout: Layout, sample: Sequence[object], stamp: float, correction: float, origin: str
) -> Marker | None:
    """The marker in one pulled sample (None: nothing usable, e.g. an empty string)."""
    return DECODERS[layout](sample, stamp, correction, origin)
