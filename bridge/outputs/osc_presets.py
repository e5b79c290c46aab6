"""The compatibility presets as message builders: a sample in, EmotivBCI's or Mind
Monitor's messages out (encoded OSC bytes).

Pure (no sockets): :mod:`bridge.outputs.osc` sends what a :class:`PresetSender` returns.
The address sets come from the tables in :mod:`bridge.outputs.osc_layout`; a preset
sends those addresses and nothing else (no vectors, labels, status or markers), so a
patch written for EmotivBCI or Mind Monitor sees only what it knows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from bridge.outputs.osc_codec import MessageEncoder
from bridge.outputs.osc_layout import (
    ACTION_REFRESH_SECONDS,
    EMOTIVBCI_COM,
    EMOTIVBCI_FAC,
    EMOTIVBCI_MET,
    HORSESHOE,
    MIND_MONITOR_BANDS,
    electrode_indices,
)
from bridge.streams import HeadsetInfo, StreamPlan

__all__ = ["PresetSender"]

INACTIVE: Final = -1.0
"""EmotivBCI's value for a performance metric that is not active."""

Value = Callable[[Sequence[Any]], float | None]


class PresetSender:
    """The messages of one (headset, stream) under a preset.

    ``numbers`` go out on every sample (a value of None is skipped); ``changes`` when
    they change and all of them once a second on the sample clock (the native per-action
    rule, see :data:`ACTION_REFRESH_SECONDS`); ``vectors`` on every sample; ``edges``
    send ``1`` when their channel turns from 0 to non-zero (Mind Monitor's blink and
    jaw clench are events, never 0). ``empty`` when the preset has nothing for the stream.
    """

    def __init__(self, preset: str, base: str, plan: StreamPlan, headset: HeadsetInfo) -> None:
        self.numbers: list[tuple[MessageEncoder, Value]] = []
        self.changes: list[tuple[MessageEncoder, int]] = []
        self.vectors: list[tuple[MessageEncoder, list[int], Callable[[Any], float]]] = []
        self.edges: list[tuple[MessageEncoder, int]] = []
        self._last: list[Any] = []
        self._edge_last: list[bool] = []
        self._refresh_due = float("-inf")
        if preset == "emotivbci":
            self._emotivbci(base, plan)
        elif preset == "mindmonitor":
            self._mind_monitor(base, plan, headset)
        else:
            raise ValueError(f"unknown OSC preset {preset!r}")
        self._last = [None] * len(self.changes)
        self._edge_last = [False] * len(self.edges)

    @property
    def empty(self) -> bool:
        return not (self.numbers or self.changes or self.vectors or self.edges)

    # ------------------------------------------------------------------ building

    def _emotivbci(self, base: str, plan: StreamPlan) -> None:
        index = {label: i for i, label in enumerate(plan.labels)}
        if plan.stream == "com":
            for action in EMOTIVBCI_COM:
                if action in index:
                    self.changes.append((MessageEncoder(f"{base}/com/{action}", "f"),
                                         index[action]))
        elif plan.stream == "fac":
            for prefix, group, actions in EMOTIVBCI_FAC:
                for action in actions:
                    if prefix + action in index:
                        encoder = MessageEncoder(f"{base}/fac/{group}/{action}", "f")
                        self.changes.append((encoder, index[prefix + action]))
        elif plan.stream == "met":
            for name, candidates in EMOTIVBCI_MET:
                label = next((c for c in candidates if c in index), None)
                if label is not None:
                    value = _metric(index[label], index.get(f"{label}.isActive"))
                    self.numbers.append((MessageEncoder(f"{base}/met/{name}", "f"), value))

    def _mind_monitor(self, base: str, plan: StreamPlan, headset: HeadsetInfo) -> None:
        index = {label: i for i, label in enumerate(plan.labels)}
        electrodes = electrode_indices(plan, headset.sensors)
        if plan.stream == "eeg" and electrodes:
            self._vector(f"{base}/eeg", electrodes, float)
        elif plan.stream == "dev" and electrodes:
            self._vector(f"{base}/elements/horseshoe", electrodes, _horseshoe)
        elif plan.stream == "mot":
            for name, columns in (("acc", "ACC"), ("gyro", "GYRO")):
                axes = [index[c] for c in (f"{columns}{a}" for a in "XYZ") if c in index]
                if len(axes) == 3:
                    self._vector(f"{base}/{name}", axes, float)
        elif plan.stream == "pow":
            for name, bands in MIND_MONITOR_BANDS:
                indices = [i for i, label in enumerate(plan.labels)
                           if label.rpartition("/")[2] in bands]
                if indices:
                    encoder = MessageEncoder(f"{base}/elements/{name}_absolute", "f")
                    self.numbers.append((encoder, _log_mean(indices)))
        elif plan.stream == "fac":
            for label, name in (("eye/blink", "blink"), ("lower/clench", "jaw_clench")):
                if label in index:
                    self.edges.append((MessageEncoder(f"{base}/elements/{name}", "i"),
                                       index[label]))

    def _vector(self, address: str, indices: list[int], convert: Callable[[Any], float]) -> None:
        encoder = MessageEncoder(address, "f" * len(indices))
        self.vectors.append((encoder, indices, convert))

    # ------------------------------------------------------------------ sending

    def messages(self, sample: Sequence[Any], t: float) -> list[bytes]:
        """The encoded messages of one sample with sample time ``t`` (seconds)."""
        out: list[bytes] = []
        for encoder, indices, convert in self.vectors:
            out.append(encoder.encode([convert(sample[i]) for i in indices]))
        for encoder, value in self.numbers:
            number = value(sample)
            if number is not None:
                out.append(encoder.encode((number,)))
        if self.changes:
            due = self._refresh_due
            refresh = t >= due or t < due - 2 * ACTION_REFRESH_SECONDS
            if refresh:
                self._refresh_due = t + ACTION_REFRESH_SECONDS
            last = self._last
            for k, (encoder, i) in enumerate(self.changes):
                value = sample[i]
                if refresh or value != last[k]:
                    last[k] = value
                    out.append(encoder.encode((value,)))
        for k, (encoder, i) in enumerate(self.edges):
            on = bool(sample[i] > 0)
            if on and not self._edge_last[k]:
                out.append(encoder.encode((1,)))
            self._edge_last[k] = on
        return out


def _metric(value_index: int, active_index: int | None) -> Value:
    """EmotivBCI's metric value: the number, or -1 while inactive (flag 0, or null)."""

    def value(sample: Sequence[Any]) -> float:
        number = float(sample[value_index])
        if math.isnan(number) or (active_index is not None and not sample[active_index]):
            return INACTIVE
        return number

    return value


def _log_mean(indices: list[int]) -> Value:
    """log10 of the mean of the channels (Mind Monitor's absolute band powers are
    logarithms); nothing for a mean that has no logarithm (0, negative, NaN)."""
    count = len(indices)

    def value(sample: Sequence[Any]) -> float | None:
        mean = math.fsum(float(sample[i]) for i in indices) / count
        if not mean > 0 or math.isinf(mean):
            return None
        return math.log10(mean)

    return value


def _horseshoe(level: Any) -> float:
    try:
        return HORSESHOE.get(int(level), 4.0)
    except (TypeError, ValueError):  # NaN: no reading is a bad contact
        return 4.0
