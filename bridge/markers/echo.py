"""Echo: the markers Cortex reports in the EEG ``MARKERS`` column, back out on LSL and OSC.

Cortex attaches every marker of the session (ours, EmotivPRO's, other applications')
to an EEG sample and lists it in that sample's ``MARKERS`` column. Each one is published
on the headset's string marker outlet (``cortex-bridge:<hid>:markers``), optionally on an
int32 marker outlet (OpenViBE reads only int32 marker streams; text values that are not
numbers cannot go there and are counted), and on OSC when the OSC output runs.

The time is the marker's own (its ``startDatetime``, Cortex time, mapped to LSL through
the headset's clock mapping); the carrying sample's time is the fallback when the object
has no usable time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bridge.clock import cortex_time_from_iso
from bridge.outputs.lsl import LslOutlet
from bridge.pipeline import HeadsetClock
from bridge.streams import ChannelSpec, StreamPlan

log = logging.getLogger(__name__)

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

MARKER_PLAN: Final = StreamPlan(
    stream="markers",
    label="Markers",
    lsl_type="Markers",
    channel_format="string",
    nominal_rate=0.0,
    channels=(ChannelSpec("Marker", "none", "Markers"),),
)
MARKER_INT32_PLAN: Final = StreamPlan(
    stream="markers-int32",
    label="Markers-int32",
    lsl_type="Markers",
    channel_format="int32",
    nominal_rate=0.0,
    channels=(ChannelSpec("Marker", "none", "Markers"),),
)

OscGetter = Callable[[], Any]


def int32_value(value: object) -> int | None:
    """The marker value as an int32 (numbers and decimal text), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or not text.isascii():
            return None
        value = int(text)
    if isinstance(value, int) and INT32_MIN <= value <= INT32_MAX:
        return value
    return None


@dataclass
class EchoStats:
    echoed: int = 0
    not_int32: int = 0


class MarkerEcho:
    """The ``on_markers`` handler of one headset's EEG pipeline."""

    def __init__(
        self,
        headset_id: str,
        clock: HeadsetClock,
        outlet: LslOutlet,
        int32_outlet: LslOutlet | None,
        osc: OscGetter,
        stats: EchoStats,
    ) -> None:
        self.headset_id = headset_id
        self.clock = clock
        self.outlet = outlet
        self.int32_outlet = int32_outlet
        self._osc = osc
        self.stats = stats
        self._warned_osc = False

    def __call__(self, markers: Sequence[Any], sample_lsl_time: float) -> None:
        if not isinstance(markers, list | tuple):
            return
        for obj in markers:
            if isinstance(obj, dict) and "value" in obj:
                self._echo(obj, sample_lsl_time)

    def _echo(self, obj: dict[str, Any], sample_lsl_time: float) -> None:
        value = obj["value"]
        label = obj.get("label")
        text = str(value)
        cortex_time = cortex_time_from_iso(obj.get("startDatetime"))
        lsl_time = (
            self.clock.mapping.to_lsl(cortex_time) if cortex_time is not None else sample_lsl_time
        )
        if not lsl_time > 0.0:
            lsl_time = sample_lsl_time
        self.outlet.push([text], lsl_time)
        if self.int32_outlet is not None:
            number = int32_value(value)
            if number is None:
                self.stats.not_int32 += 1
                if self.stats.not_int32 == 1:
                    log.warning(
                        "headset %s: marker value %r is not an int32; it is echoed on the "
                        "string marker outlet only (further ones are counted)",
                        self.headset_id, value,
                    )
            else:
                self.int32_outlet.push([number], lsl_time)
        osc = self._osc()
        if osc is not None:
            try:
                osc.send_marker(self.headset_id, str(label) if label else text, value, lsl_time)
            except Exception as exc:  # the OSC output must not break the EEG pipeline
                if not self._warned_osc:
                    self._warned_osc = True
                    log.warning("headset %s: OSC marker echo failed: %s", self.headset_id, exc)
        self.stats.echoed += 1
