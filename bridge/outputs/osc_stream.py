"""The OSC sender of one (headset, stream): sample -> messages -> the output.

Built once per subscription (:meth:`bridge.outputs.osc.OscOutput.sinks_for`): its
addresses, type tags, labels, datagram split and rate gate are computed here, from the
plan's channel labels and the catalog. A stream whose messages have a fixed numeric shape
(every native numeric stream but com and fac, unless ``bundle = "sample_time"``) is
encoded by one :class:`FrameEncoder`: a sample costs one ``struct.pack`` for all its
messages (the EEG vector and its electrodes together) and one join, already framed as
bundle elements. Sockets are the output's (:class:`Output` says what a sender needs of it).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bridge.config import OscSettings
from bridge.outputs.osc_codec import (
    MAX_MESSAGE,
    FrameEncoder,
    MessageEncoder,
    bundle_overhead,
    day_time,
    encode_message,
)
from bridge.outputs.osc_layout import (
    ACTION_ADDRESS,
    ACTION_REFRESH_SECONDS,
    ELECTRODES_ADDRESS,
    TIME_LABELS,
    RateGate,
    action_groups,
    band_indices,
    electrode_indices,
    is_action_stream,
    labels_messages,
    stream_addresses,
)
from bridge.outputs.osc_presets import PresetSender
from bridge.streams import HeadsetInfo, StreamPlan

__all__ = ["Output", "StreamSender", "planned_addresses"]

log = logging.getLogger("bridge.osc")


class Output(Protocol):
    """What a sender uses of :class:`bridge.outputs.osc.OscOutput`."""

    settings: OscSettings
    oversized: int

    def base_address(self, headset_id: str) -> str: ...
    def epoch_time(self, lsl_time: float) -> float: ...
    def send_messages(self, messages: Sequence[bytes], lsl_time: float | None) -> None: ...
    def send_framed(self, framed: bytes, frame: FrameEncoder) -> None: ...


class StreamSender:
    """The sink of one (headset, stream): sample -> messages -> datagrams -> targets."""

    def __init__(self, out: Output, plan: StreamPlan, headset: HeadsetInfo) -> None:
        settings = out.settings
        self._out = out
        self.name = f"{headset.id}/{plan.stream}"
        base = out.base_address(headset.id) + "/" + plan.stream
        numeric = plan.channel_format != "string"
        tag = "f" if numeric else "s"
        self._timed = settings.timestamps != "off"
        self._epoch = settings.timestamps == "epoch"
        time_tags = "iii" if self._timed else ""
        # sample_time wraps each sample's messages in a bundle of their own.
        limit = MAX_MESSAGE - (bundle_overhead(1) if settings.bundle == "sample_time" else 0)
        count = plan.channel_count
        layout: str = settings.layout_of(plan.stream)
        preset = settings.preset
        self._preset = (
            PresetSender(preset, out.base_address(headset.id), plan, headset)
            if preset != "native" else None
        )
        if self._preset is not None:
            layout = "none"  # only the preset's addresses

        # Vector layout: one message, or parts when it would not fit one datagram.
        self._vector: list[tuple[MessageEncoder, slice]] = []
        if layout == "vector":
            whole = MessageEncoder(base, time_tags + tag * count)
            if not numeric or whole.size <= limit:
                self._vector.append((whole, slice(0, count)))
            else:
                self._vector = _vector_parts(base, time_tags, count, limit)
        # Beside the full vector: the electrodes alone, and the names of both.
        names = (*TIME_LABELS, *plan.labels) if self._timed else plan.labels
        head = len(time_tags)
        self.labels: list[bytes] = []
        self._label_addresses: list[str] = []
        for encoder, part in self._vector:
            self._add_labels(encoder.address, names[:head] + names[head + part.start:
                                                                 head + part.stop], limit)
        electrodes = electrode_indices(plan, headset.sensors) if self._vector else []
        self._electrodes: tuple[MessageEncoder, list[int]] | None = None
        if numeric and electrodes and len(electrodes) < count:
            address = f"{base}/{ELECTRODES_ADDRESS}"
            self._electrodes = (MessageEncoder(address, time_tags + "f" * len(electrodes)),
                                electrodes)
            self._add_labels(address, names[:head] + tuple(plan.labels[i] for i in electrodes),
                             limit)
        # Band power: the mean over the electrodes of each band, in both layouts.
        self._bands = [
            (MessageEncoder(f"{base}/{band}", "f"), indices, 1.0 / len(indices))
            for band, indices in (band_indices(plan) if layout != "none" else [])
        ]

        # Split layout, and always for action streams: one number per channel.
        per_channel = layout == "split" or (layout != "none" and is_action_stream(plan.stream))
        addresses = stream_addresses(base, plan) if per_channel else []
        self._split = [(MessageEncoder(a, tag), i) for i, a in enumerate(addresses)]
        # Action streams: each number when it changes, all once a second (see
        # ACTION_REFRESH_SECONDS); other split streams: every channel of every sample.
        self._on_change = is_action_stream(plan.stream)
        self._last_split: list[Any] = [None] * len(self._split)
        self._refresh_due = float("-inf")
        self._time = (
            MessageEncoder(f"{base}/time", "iii") if self._timed and layout == "split" else None
        )
        labels = plan.labels
        self._actions = [
            (
                MessageEncoder(f"{base}/{group}/{ACTION_ADDRESS}" if group else
                               f"{base}/{ACTION_ADDRESS}", "sf"),
                indices,
                {i: labels[i][len(group) + 1 if group else 0 :] for i in indices},
            )
            for group, indices in (action_groups(plan) if layout != "none" else [])
        ]
        cap = settings.rate_caps.get(plan.stream)
        rate = plan.nominal_rate
        self._gate = RateGate(cap, rate) if cap is not None and (rate <= 0 or cap < rate) else None
        self._limit = limit
        self._frame, self._extend = (
            self._framed(count) if numeric and settings.bundle != "sample_time" else (None, None)
        )
        self.preset_empty = self._preset is not None and self._preset.empty
        self._reported = False
        self.messages = 0
        self.errors = 0

    def _add_labels(self, address: str, names: Sequence[str], limit: int) -> None:
        for target, chunk in labels_messages(address, names, limit):
            self.labels.append(encode_message(target, chunk))
            self._label_addresses.append(target)

    def _framed(
        self, count: int
    ) -> tuple[FrameEncoder | None, Callable[[Sequence[Any], float], Sequence[Any]] | None]:
        """The frame encoder of every message ``_send`` makes, in its order, and what
        turns a sample into the encoder's row (None: the sample is the row); (None, None)
        when a sample's messages vary: presets, on-change numbers, actions, a message too
        large for one datagram. The row is the time's three numbers (if timed), then the
        channels, then the band means: a timed vector is then one run of the row."""
        if self._preset is not None or self._on_change or self._actions:
            return None, None
        stamp = [0, 1, 2] if self._timed else []
        first = len(stamp)
        bands = first + count
        table: list[tuple[MessageEncoder, Sequence[int]]] = [
            (encoder, stamp + list(range(first + part.start, first + part.stop)))
            for encoder, part in self._vector
        ]
        if self._electrodes is not None:
            encoder, indices = self._electrodes
            table.append((encoder, stamp + [first + i for i in indices]))
        table += [(encoder, [bands + k]) for k, (encoder, _i, _s) in enumerate(self._bands)]
        table += [(encoder, [first + index]) for encoder, index in self._split]
        if self._time is not None:
            table.append((self._time, stamp))
        if not table or any(encoder.size > self._limit for encoder, _columns in table):
            return None, None
        tags = "i" * len(stamp) + "f" * (count + len(self._bands))
        extend = self._extended if self._timed or self._bands else None
        return FrameEncoder(tags, table), extend

    def _extended(self, sample: Sequence[Any], lsl_time: float) -> Sequence[Any]:
        """The frame row of a sample: its time (if timed), its channels, its band means
        (computed as ``_send`` computes them, so the floats are the same)."""
        row: list[Any] = []
        if self._timed:
            row += day_time(self._out.epoch_time(lsl_time) if self._epoch else lsl_time)
        row += sample
        for _encoder, indices, scale in self._bands:
            row.append(sum([sample[i] for i in indices]) * scale)
        return row

    @property
    def addresses(self) -> list[str]:
        """Every address this sender can send on: data, then labels. Read off the
        encoders the sender sends with, so ``check`` lists exactly what ``run`` sends."""
        encoders = [encoder for encoder, _part in self._vector]
        if self._electrodes is not None:
            encoders.append(self._electrodes[0])
        encoders += [encoder for encoder, _indices, _scale in self._bands]
        encoders += [encoder for encoder, _index in self._split]
        if self._time is not None:
            encoders.append(self._time)
        encoders += [encoder for encoder, _indices, _names in self._actions]
        preset = self._preset
        if preset is not None:
            encoders += [e for e, _ in preset.numbers] + [e for e, _ in preset.changes]
            encoders += [e for e, _i, _f in preset.vectors] + [e for e, _ in preset.edges]
        return [encoder.address for encoder in encoders] + self._label_addresses

    def __call__(self, sample: Sequence[Any], lsl_time: float) -> None:
        gate = self._gate
        if gate is not None and not gate.admit(lsl_time):
            return
        try:
            frame = self._frame
            if frame is None:
                self._send(sample, lsl_time)
                return
            extend = self._extend
            try:
                framed = frame.encode(sample if extend is None else extend(sample, lsl_time))
            except (OverflowError, struct.error):  # out of range: the careful encoders
                self._send(sample, lsl_time)
                return
            self._out.send_framed(framed, frame)
            self.messages += frame.count
        except Exception as exc:  # never into the LSL path
            self.errors += 1
            if not self._reported:
                self._reported = True
                log.warning(
                    "OSC %s: a sample could not be sent (%s); further ones are only counted",
                    self.name,
                    exc,
                )

    def _send(self, sample: Sequence[Any], lsl_time: float) -> None:
        if self._preset is not None:
            self._out.send_messages(self._preset.messages(sample, lsl_time), lsl_time)
            return
        messages: list[bytes] = []
        stamp: tuple[int, int, int] = (0, 0, 0)
        if self._timed:
            stamp = day_time(self._out.epoch_time(lsl_time) if self._epoch else lsl_time)
        for encoder, part in self._vector:
            values = sample if part.stop - part.start == len(sample) else sample[part]
            messages.append(encoder.encode((*stamp, *values) if self._timed else values))
        if self._electrodes is not None:
            encoder, indices = self._electrodes
            values = [sample[i] for i in indices]
            messages.append(encoder.encode((*stamp, *values) if self._timed else values))
        for encoder, indices, scale in self._bands:
            messages.append(encoder.encode((sum([sample[i] for i in indices]) * scale,)))
        if self._on_change:
            self._append_changes(messages, sample, lsl_time)
        else:
            for encoder, index in self._split:
                messages.append(encoder.encode((sample[index],)))
        if self._time is not None:
            messages.append(self._time.encode(stamp))
        for encoder, indices, names in self._actions:
            best = max(indices, key=sample.__getitem__)
            messages.append(encoder.encode((names[best], sample[best])))
        limit = self._limit
        kept = [m for m in messages if len(m) <= limit]
        self._out.send_messages(kept, lsl_time)
        self.messages += len(kept)
        if len(kept) < len(messages):
            self._out.oversized += len(messages) - len(kept)
            raise ValueError(
                f"{len(messages) - len(kept)} message(s) larger than {limit} bytes left out "
                "(a very long string?)"
            )

    def _append_changes(self, messages: list[bytes], sample: Sequence[Any], t: float) -> None:
        """The per-action numbers that changed since they were last sent, or all of them
        when the refresh is due (or the sample clock went back: a clock re-sync)."""
        due = self._refresh_due
        refresh = t >= due or t < due - 2 * ACTION_REFRESH_SECONDS
        if refresh:
            self._refresh_due = t + ACTION_REFRESH_SECONDS
        last = self._last_split
        for k, (encoder, index) in enumerate(self._split):
            value = sample[index]
            if refresh or value != last[k]:
                last[k] = value
                messages.append(encoder.encode((value,)))


def _vector_parts(
    base: str, time_tags: str, count: int, limit: int
) -> list[tuple[MessageEncoder, slice]]:
    """A vector split into as few equal parts ``base/0``, ``base/1`` ... as fit ``limit``."""
    parts = 2
    while True:
        size = -(-count // parts)
        probe = MessageEncoder(f"{base}/{parts - 1}", time_tags + "f" * size)
        if probe.size <= limit:
            break
        parts += 1
    size = -(-count // parts)
    result = []
    for k, start in enumerate(range(0, count, size)):
        stop = min(start + size, count)
        result.append(
            (MessageEncoder(f"{base}/{k}", time_tags + "f" * (stop - start)), slice(start, stop))
        )
    return result


class _Planned:
    """An :class:`Output` that sends nothing: what ``check`` builds senders against."""

    oversized = 0

    def __init__(self, settings: OscSettings, base: str) -> None:
        self.settings = settings
        self._base = base

    def base_address(self, headset_id: str) -> str:
        return self._base

    def epoch_time(self, lsl_time: float) -> float:
        return lsl_time

    def send_messages(self, messages: Sequence[bytes], lsl_time: float | None) -> None:
        pass

    def send_framed(self, framed: bytes, frame: FrameEncoder) -> None:
        pass


def planned_addresses(
    settings: OscSettings, plan: StreamPlan, headset: HeadsetInfo, base: str
) -> list[str]:
    """Every address ``run`` sends one stream on under ``base`` (``P`` or ``P/<headset>``):
    the sender's own table (:attr:`StreamSender.addresses`), built as ``run`` builds it."""
    return StreamSender(_Planned(settings, base), plan, headset).addresses
