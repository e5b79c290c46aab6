"""One virtual headset while the simulator runs: status, clock and sample production.

The clock is the heart of it. At connect the headset takes ``epochAnchor`` (service
wall clock) and ``monotonicAnchor`` (``time.monotonic()``); sample ``k`` of a stream with
rate ``r`` is stamped ``epochAnchor + k/r`` and is due for sending at
``monotonicAnchor + k/r + delay``. Nothing accumulates: a late tick sends every sample
that has become due, with the times it would have had.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridge.simulator import signals
from bridge.simulator.headsets import (
    FIXED_RATES,
    FLEX_LABELS,
    MOTION_LAYOUTS,
    HeadsetModel,
    HeadsetSpec,
    stream_cols,
)

STATUS_DISCOVERED = "discovered"
STATUS_CONNECTING = "connecting"
STATUS_CONNECTED = "connected"
STATUS_OFF = "off"  # switched off and forgotten by Cortex: not listed by queryHeadsets

POW_WINDOW_S = 2.0  # "Each sample is calculated based on the last 2 seconds of EEG data"
COUNTER_STREAMS = ("eeg", "mot")


def _json_rate(rate: float) -> int | float:
    return int(rate) if float(rate).is_integer() else rate


@dataclass
class Ranges:
    """Half-open sample-index ranges, for dropped and interpolated samples."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    total: int = 0

    def add(self, start: int, count: int) -> None:
        self.spans.append((start, start + count))
        self.total += count

    def contains(self, k: int) -> bool:
        return any(a <= k < b for a, b in self.spans)

    def overlap(self, k0: int, k1: int) -> int:
        return sum(max(0, min(b, k1) - max(a, k0)) for a, b in self.spans)

    def forget_before(self, k: int) -> None:
        if self.spans:
            self.spans = [(a, b) for a, b in self.spans if b > k]


class VirtualHeadset:
    """A headset's identity, state machine position, clock and signal sources."""

    def __init__(
        self, index: int, spec: HeadsetSpec, hid: str, seed: int, signal: signals.SignalSpec
    ) -> None:
        model: HeadsetModel = spec.model
        self.index = index
        self.model = model
        self.id = hid
        self.seed = seed
        self.signal = signal
        self.sensors = model.sensors
        self.motion_layout = spec.motion or model.motion
        self.motion_sensors = MOTION_LAYOUTS[self.motion_layout]
        self.eeg_rate = spec.eeg_rate or model.eeg_rate
        self.mems_rate = spec.mems_rate if spec.mems_rate is not None else model.mems_rate
        self.initial_status = spec.status
        self.connected_by = spec.connected_by or model.connected_by
        self.custom_name = ""
        self.headband_position = model.headband_position
        self.status = STATUS_DISCOVERED
        self.powered = True
        self.lost = False  # switched off while connected: "connecting" until the timeout
        self.epoch_anchor = 0.0
        self.mono_anchor = 0.0
        self.clock_offset = 0.0
        self.connect_count = 0
        self.frames_sent: dict[str, int] = {}
        self.dropped: dict[str, Ranges] = {s: Ranges() for s in COUNTER_STREAMS}
        self.interpolated: dict[str, Ranges] = {s: Ranges() for s in COUNTER_STREAMS}
        self.markers: list[dict[str, Any]] = []
        self.muted_until = 0.0  # fault "mute": no data for its sessions until then
        self._eeg: signals.EegGenerator | None = None
        self._mot: signals.MotionGenerator | None = None
        self._row_cache: dict[tuple[str, int, int, float], list[tuple[int, list[Any]]]] = {}
        # What the loaded profile lets the detections say (None: no profile loaded).
        self.detection: signals.Detection | None = None
        self.flex_mappings: dict[str, str] | None = None
        if model.key == "flex":
            self.flex_mappings = {"CMS": "TP9", "DRL": "TP10"}
            self.flex_mappings.update(zip(FLEX_LABELS, model.sensors, strict=True))

    # ---- state ----------------------------------------------------------------------

    def connect(self, mono: float, epoch: float, clock_offset: float) -> None:
        """Anchor a fresh clock: Cortex "initializes this clock when the headset is
        connected" (syncWithHeadsetClock docs)."""
        self.status = STATUS_CONNECTED
        self.lost = False
        self.mono_anchor = mono
        self.clock_offset = clock_offset
        self.epoch_anchor = epoch + clock_offset
        self.connect_count += 1
        base = (self.seed, self.index, self.connect_count)
        self._eeg = signals.EegGenerator(self.sensors, self.eeg_rate, (*base, 1), self.signal)
        self._mot = signals.MotionGenerator(self.motion_layout, self.mems_rate or 1.0, (*base, 2))
        self.dropped = {s: Ranges() for s in COUNTER_STREAMS}
        self.interpolated = {s: Ranges() for s in COUNTER_STREAMS}
        self._row_cache.clear()

    def step_clock(self, delta: float) -> None:
        """Fault: the service clock jumps by ``delta`` seconds; running clocks follow."""
        self.clock_offset += delta
        if self.status == STATUS_CONNECTED:
            self.epoch_anchor += delta

    @property
    def listed(self) -> bool:
        return self.status != STATUS_OFF

    def clock_at(self, mono: float) -> float:
        """The headset clock (epoch seconds) at monotonic time ``mono``."""
        return self.epoch_anchor + (mono - self.mono_anchor)

    def rate(self, stream: str) -> float:
        if stream == "eeg":
            return float(self.eeg_rate)
        if stream == "mot":
            return float(self.mems_rate)
        return FIXED_RATES.get(stream, 0.0)

    def last_due(self, rate: float, mono: float, delay_s: float) -> int:
        """Index of the last sample whose send time has come (-1 before the first)."""
        return math.floor((mono - self.mono_anchor - delay_s) * rate)

    def cols(self, stream: str, met_layout: str) -> list[Any]:
        return stream_cols(stream, self.sensors, self.motion_sensors, met_layout)

    def counter_wrap(self, stream: str) -> int:
        """COUNTER resets every second; at a fractional rate (MN8's 6.4 Hz motion) it
        wraps every ten seconds instead [U]."""
        rate = self.rate(stream)
        return int(rate) if rate.is_integer() else round(rate * 10)

    def to_json(self, include_flex_mappings: bool = False) -> dict[str, Any]:
        """The headset object (cortex_api.md §3.1/3.2), keys in Cortex's order."""
        m = self.model
        status = STATUS_CONNECTING if self.lost else self.status
        obj: dict[str, Any] = {
            "connectedBy": self.connected_by,
            "customName": self.custom_name,
            "dongle": m.dongle,
            "firmware": m.firmware,
        }
        if include_flex_mappings and self.flex_mappings is not None:
            obj["flexMappings"] = dict(self.flex_mappings)
        obj.update(
            {
                "headbandPosition": self.headband_position,
                "id": self.id,
                "motionSensors": list(self.motion_sensors),
                "sensors": list(self.sensors),
                "settings": {
                    "eegRate": self.eeg_rate,
                    "eegRes": m.eeg_res,
                    "memsRate": _json_rate(self.mems_rate),
                    "memsRes": m.mems_res,
                    "mode": m.mode,
                },
                "status": status,
            }
        )
        return obj

    # ---- samples --------------------------------------------------------------------

    def begin_tick(self) -> None:
        self._row_cache.clear()

    def rows(
        self, stream: str, k0: int, k1: int, rate: float, met_cols: Sequence[str] = ()
    ) -> list[tuple[int, list[Any]]]:
        """``(k, values)`` for samples ``k0 .. k1-1`` of a stream, dropped ones left out.

        The result is shared by every subscription asking for the same range in one
        tick; callers must copy a row before changing it.
        """
        key = (stream, k0, k1, rate)
        cached = self._row_cache.get(key)
        if cached is not None:
            return cached
        builder = getattr(self, f"_rows_{stream}")
        rows: list[tuple[int, list[Any]]] = builder(k0, k1, rate, met_cols)
        self._row_cache[key] = rows
        return rows

    def _rows_eeg(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        assert self._eeg is not None
        values = np.round(self._eeg.get(k0, k1), 3).tolist()
        wrap = self.eeg_rate
        drop, interp = self.dropped["eeg"], self.interpolated["eeg"]
        out = []
        for i, vals in enumerate(values):
            k = k0 + i
            if drop.spans and drop.contains(k):
                continue
            flag = 1 if interp.spans and interp.contains(k) else 0
            out.append((k, [k % wrap, flag, *vals, 0, 0, []]))
        return out

    def _rows_mot(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        assert self._mot is not None
        values = np.round(self._mot.rows(k0, k1), 6).tolist()
        wrap = self.counter_wrap("mot")
        drop, interp = self.dropped["mot"], self.interpolated["mot"]
        out = []
        for i, vals in enumerate(values):
            k = k0 + i
            if drop.spans and drop.contains(k):
                continue
            flag = 1 if interp.spans and interp.contains(k) else 0
            out.append((k, [k % wrap, flag, *vals]))
        return out

    def _rows_pow(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        assert self._eeg is not None
        window = int(POW_WINDOW_S * self.eeg_rate)
        out = []
        for k in range(k0, k1):
            end = math.floor(k * self.eeg_rate / rate)
            start = max(0, end - window)
            powers = signals.band_powers(self._eeg.get(start, end), self.eeg_rate)
            out.append((k, np.round(powers.ravel(), 3).tolist()))
        return out

    def _rows_met(
        self, k0: int, k1: int, rate: float, cols: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        return [
            (k, signals.metric_row(cols, k / rate, self.seed, self.index)) for k in range(k0, k1)
        ]

    def _rows_com(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        d = self.detection
        return [(k, signals.com_row(k / rate, self.seed, self.index, d)) for k in range(k0, k1)]

    def _rows_fac(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        d = self.detection
        return [(k, signals.fac_row(k / rate, self.seed, self.index, d)) for k in range(k0, k1)]

    def _rows_dev(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        n = len(self.sensors)
        return [(k, signals.dev_row(k / rate, self.seed, self.index, n)) for k in range(k0, k1)]

    def _rows_eq(
        self, k0: int, k1: int, rate: float, _: Sequence[str]
    ) -> list[tuple[int, list[Any]]]:
        n = len(self.sensors)
        out = []
        for k in range(k0, k1):
            # Share of the last second's EEG samples that really arrived [U scale].
            end = math.floor(k * self.eeg_rate / rate)
            lost = self.dropped["eeg"].overlap(end - self.eeg_rate, end)
            quality = 1.0 - lost / self.eeg_rate
            out.append((k, signals.eq_row(k / rate, self.seed, self.index, n, quality)))
        return out

    def prefetch_eeg(self, mono: float, delay_s: float) -> bool:
        """Prepare the EEG half a second ahead of the live sample (see EegGenerator)."""
        if self._eeg is None:
            return False
        ahead = self.last_due(self.eeg_rate, mono, delay_s) + self.eeg_rate // 2
        return self._eeg.prefetch(max(0, ahead))

    def nearest_eeg_index(self, epoch_s: float) -> int:
        return max(0, round((epoch_s - self.epoch_anchor) * self.eeg_rate))

    def eeg_time(self, k: int) -> float:
        return self.epoch_anchor + k / self.eeg_rate

    def forget_faults_before(self, mono: float, delay_s: float) -> None:
        """Drop bookkeeping for fault ranges well in the past (keeps lookups O(1))."""
        for stream in COUNTER_STREAMS:
            rate = self.rate(stream)
            if rate <= 0:
                continue
            horizon = self.last_due(rate, mono, delay_s) - int(10 * rate)
            self.dropped[stream].forget_before(horizon)
            self.interpolated[stream].forget_before(horizon)

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model.key,
            "status": STATUS_CONNECTING if self.lost else self.status,
            "powered": self.powered,
            "eegRate": self.eeg_rate,
            "memsRate": _json_rate(self.mems_rate),
            "clock": {
                "epochAnchor": self.epoch_anchor,
                "monotonicAnchor": self.mono_anchor,
                "offset": self.clock_offset,
            },
            "connectCount": self.connect_count,
            "framesSent": dict(self.frames_sent),
            "samplesDropped": {s: r.total for s, r in self.dropped.items()},
            "samplesInterpolated": {s: r.total for s, r in self.interpolated.items()},
            "markers": [dict(m) for m in self.markers],
        }
