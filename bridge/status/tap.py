"""What the status page needs from the data itself, taken as a sample sink.

The device-quality stream (``dev``, 2 Hz) gives battery, signal and the contact quality
of each sensor; the EEG stream gives the live traces. Both are ordinary pipeline sinks
(like OSC), so the page reads the samples the pipeline already made and never touches
the hot path otherwise. The EEG sink costs one attribute test per sample while no page
is connected (``active`` is false) and one ``deque.append`` of the sample the pipeline
already built while one is: the traces are cut, decimated and turned into JSON only when
an update is sent, at the page's pace, not the data's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from bridge.streams import HeadsetInfo, StreamPlan

TRACE_SECONDS: Final = 5.0
TRACE_MAX_RATE: Final = 32.0  # points per second per channel sent to a page (a glance)
DEV_BATTERY: Final = "Battery"
DEV_BATTERY_PERCENT: Final = "BatteryPercent"
DEV_SIGNAL: Final = "Signal"
DEV_CQ_PREFIX: Final = "cq/"

Sink = Any  # Callable[[Sequence[Any], float], None]; kept loose to avoid an import cycle


@dataclass(slots=True)
class HeadsetTap:
    """The page's view of one headset's data."""

    headset: str
    model: str = ""
    nominal: dict[str, float] = field(default_factory=dict)
    dev_labels: tuple[str, ...] = ()
    dev_sample: Sequence[Any] | None = None
    eeg_labels: tuple[str, ...] = ()
    eeg_index: tuple[int, ...] = ()
    eeg_rate: float = 0.0
    traces: deque[tuple[float, Sequence[Any]]] = field(default_factory=deque)

    def device(self) -> dict[str, Any]:
        """Battery (0-4 and percent), signal (0-1) and contact quality per sensor (0-4),
        from the newest ``dev`` sample; empty before the first one."""
        sample = self.dev_sample
        if sample is None:
            return {}
        values = dict(zip(self.dev_labels, sample, strict=False))
        cq = {label[len(DEV_CQ_PREFIX):]: _num(value) for label, value in values.items()
              if label.startswith(DEV_CQ_PREFIX)}
        overall = cq.pop("OVERALL", None)
        return {
            "battery_level": _num(values.get(DEV_BATTERY)),
            "battery": _num(values.get(DEV_BATTERY_PERCENT)),
            "signal": _num(values.get(DEV_SIGNAL)),
            "cq": cq,
            "cq_overall": overall,
        }

    def traces_since(self, since: float) -> dict[str, Any]:
        """EEG points born after LSL time ``since``, at most :data:`TRACE_MAX_RATE` per
        second: ``{"labels", "t": [...], "v": [[per channel]...]}``."""
        if not self.eeg_labels:
            return {}
        step = max(1, math.ceil(self.eeg_rate / TRACE_MAX_RATE)) if self.eeg_rate else 1
        times: list[float] = []
        rows: list[Sequence[Any]] = []
        # Newest first, stopping at ``since``: the cost is the new points, not the window.
        for index, (stamp, sample) in enumerate(reversed(self.traces)):
            if stamp <= since:
                break
            if index % step == 0:
                times.append(stamp)
                rows.append(sample)
        times.reverse()
        rows.reverse()
        channels = _columns(rows, self.eeg_index)
        return {"labels": list(self.eeg_labels), "t": times, "v": channels}


class StatusTap:
    """A :class:`~bridge.sources.SinkFactory`: ``dev`` and ``eeg`` sinks for the page."""

    def __init__(self, trace_seconds: float = TRACE_SECONDS) -> None:
        self.trace_seconds = trace_seconds
        self.headsets: dict[str, HeadsetTap] = {}
        self.active = False  # a page is connected: keep EEG traces

    def headset(self, headset_id: str) -> HeadsetTap:
        tap = self.headsets.get(headset_id)
        if tap is None:
            tap = self.headsets[headset_id] = HeadsetTap(headset_id)
        return tap

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> list[Sink]:
        tap = self.headset(headset.id)
        tap.model = headset.model_name
        tap.nominal[plan.stream] = plan.nominal_rate
        if plan.stream == "dev":
            tap.dev_labels = plan.labels

            def dev(sample: Sequence[Any], lsl_time: float) -> None:
                tap.dev_sample = sample

            return [dev]
        if plan.stream == "eeg" and plan.channel_format == "float32":
            index = tuple(i for i, ch in enumerate(plan.channels) if ch.type == "EEG")
            tap.eeg_index = index
            tap.eeg_labels = tuple(plan.channels[i].label for i in index)
            tap.eeg_rate = plan.nominal_rate
            keep = max(1, round(self.trace_seconds * (plan.nominal_rate or 128.0)))
            tap.traces = traces = deque(tap.traces, maxlen=keep)

            def eeg(sample: Sequence[Any], lsl_time: float) -> None:
                if self.active:
                    traces.append((lsl_time, sample))

            return [eeg]
        return []


class CombinedSinks:
    """The OSC output and the status tap as one sink factory; ``osc`` stays reachable
    for the marker echo (which sends markers to OSC only)."""

    def __init__(self, osc: Any, *others: Any) -> None:
        self.osc = osc
        self.factories = [f for f in (osc, *others) if f is not None]

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> list[Sink]:
        return [sink for f in self.factories for sink in f.sinks_for(plan, headset)]


def _columns(rows: list[Sequence[Any]], index: tuple[int, ...]) -> list[list[float]]:
    """The trace channels as lists, to 0.01 uV (plenty for a picture, a third of the
    JSON), in one numpy pass; a value that is not finite is drawn as 0 (JSON has no
    NaN and a browser's parser refuses it)."""
    if not rows:
        return [[] for _ in index]
    values = np.asarray(rows, dtype=object)[:, list(index)].astype(np.float64)
    shown = np.round(np.where(np.isfinite(values), values, 0.0), 2)
    return [column.tolist() for column in shown.T]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 3) if math.isfinite(value) else None
