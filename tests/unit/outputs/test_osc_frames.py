"""The frame encoder (one pack per sample, :class:`bridge.outputs.osc_codec.FrameEncoder`)
sends the same bytes as the message-by-message encoders, for every stream kind, layout,
timestamp mode, bundle mode and preset: each sender is run twice on the same samples,
once as built and once with its frame encoder taken away, and what they hand the output
must be equal, message for message; the framed bytes must be what a bundle makes of those
messages. Then both again through real sockets, datagram for datagram.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import struct
import time
from collections.abc import Sequence
from typing import Any

import pytest
from osc_receivers import RawReceiver
from osc_ticks import output

from bridge.config import OscSettings
from bridge.outputs.osc_codec import BundleBuffer, FrameEncoder, MessageEncoder
from bridge.outputs.osc_stream import StreamSender
from bridge.simulator.headsets import (
    ALL_STREAMS,
    EPOC_SENSORS,
    FLEX_SENSORS,
    INSIGHT_SENSORS,
    MOTION_QUATERNION,
    stream_cols,
)
from bridge.streams import HeadsetInfo, StreamPlan, build_plan

HEADSETS = (
    HeadsetInfo("EPOCX-0A0B0C0D", "EPOCX", sensors=EPOC_SENSORS, eeg_rate=256.0,
                mems_rate=64.0),
    HeadsetInfo("EPOCFLEX-11223344", "EPOCFLEX", sensors=FLEX_SENSORS, eeg_rate=128.0,
                mems_rate=64.0),
    HeadsetInfo("INSIGHT-5AF2A0C1", "INSIGHT", sensors=INSIGHT_SENSORS, eeg_rate=128.0,
                mems_rate=64.0),
)
ACTIONS = ("neutral", "push", "blink", "smile", "")


class Recorder:
    """An output that keeps, per sample, the messages a sender hands it."""

    oversized = 0

    def __init__(self, settings: OscSettings) -> None:
        self.settings = settings
        self.sent: list[list[bytes]] = []
        self.framed = 0

    def base_address(self, headset_id: str) -> str:
        return f"{self.settings.prefix}/{headset_id}"

    def epoch_time(self, lsl_time: float) -> float:
        return lsl_time + 1_700_000_000.0

    def send_messages(self, messages: Sequence[bytes], lsl_time: float | None) -> None:
        self.sent.append(list(messages))

    def send_framed(self, framed: bytes, frame: FrameEncoder) -> None:
        messages = frame.split(framed)
        # The framed bytes are a bundle's elements: each message after its int32 size.
        assert framed == b"".join(struct.pack(">i", len(m)) + m for m in messages)
        self.sent.append(messages)
        self.framed += 1


def plan_for(stream: str, headset: HeadsetInfo) -> StreamPlan:
    cols = stream_cols(stream, headset.sensors, MOTION_QUATERNION, "current")
    return build_plan(stream, cols, headset)


def samples(plan: StreamPlan, count: int, seed: int) -> list[list[Any]]:
    """Samples of the plan's shape: floats of every size (ints and NaN among them), the
    action streams' names where a string column would be."""
    rng = random.Random(seed)
    width = len(plan.labels) or 2
    out = []
    for _ in range(count):
        if plan.channel_format == "string":
            out.append([rng.choice(ACTIONS) for _ in range(width)])
            continue
        row: list[Any] = []
        for _ in range(width):
            row.append(rng.choice((
                rng.uniform(-5000.0, 5000.0), float(rng.randint(0, 4)), rng.randint(0, 3),
                float("nan"), rng.uniform(0.0, 1.0), 1e-40,
            )))
        out.append(row)
    return out


def pair(settings: OscSettings, plan: StreamPlan, headset: HeadsetInfo
         ) -> tuple[StreamSender, Recorder, StreamSender, Recorder]:
    """The sender as built, and the same without its frame encoder."""
    framed, general = Recorder(settings), Recorder(settings)
    fast = StreamSender(framed, plan, headset)
    slow = StreamSender(general, plan, headset)
    slow._frame = None
    return fast, framed, slow, general


MODES = list(itertools.product(
    ("vector", "split"), ("off", "lsl", "epoch"), (True, False, "sample_time"),
    ("native", "emotivbci", "mindmonitor"),
))


@pytest.mark.parametrize(("layout", "timestamps", "bundle", "preset"), MODES)
def test_framed_bytes_equal_the_message_encoders(
    layout: str, timestamps: str, bundle: bool | str, preset: str
) -> None:
    settings = OscSettings(enabled=True, targets=("127.0.0.1:9",), layout=layout,
                           timestamps=timestamps, bundle=bundle, preset=preset)
    for headset, stream in itertools.product(HEADSETS, ALL_STREAMS):
        plan = plan_for(stream, headset)
        fast, framed, slow, general = pair(settings, plan, headset)
        assert fast.addresses == slow.addresses
        for k, sample in enumerate(samples(plan, 40, seed=len(plan.labels))):
            t = 1000.0 + k / 7  # on-change streams refresh every second of this
            fast(sample, t)
            slow(sample, t)
        assert framed.sent == general.sent, f"{headset.model} {stream}"
        assert fast.errors == slow.errors == 0
        uses_frames = (preset == "native" and bundle != "sample_time"
                       and plan.channel_format != "string" and stream not in ("com", "fac"))
        assert (framed.framed > 0) == uses_frames, f"{headset.model} {stream}"


def test_eeg_is_one_frame_of_vector_and_electrodes() -> None:
    """The case the encoder is for: an EPOC X EEG sample is one pack, two messages."""
    settings = OscSettings(enabled=True, targets=("127.0.0.1:9",))
    headset = HEADSETS[0]
    sender = StreamSender(Recorder(settings), plan_for("eeg", headset), headset)
    frame = sender._frame
    assert frame is not None and frame.count == 2
    assert [e.address for e in frame.encoders] == [
        f"/emotiv/{headset.id}/eeg", f"/emotiv/{headset.id}/eeg/electrodes"]


@pytest.mark.parametrize(("bad", "refused"),
                         [(1e39, True), (-1e300, True), (float("inf"), False), (2**40, False)])
def test_values_the_encoders_correct_take_the_careful_path(bad: float, refused: bool) -> None:
    """Beyond float32: the frame's pack refuses, the sample goes message by message and
    arrives as the message encoders send it (an infinity). An infinity and a large int
    are packed as they are, by both."""
    settings = OscSettings(enabled=True, targets=("127.0.0.1:9",), timestamps="lsl")
    for headset in HEADSETS:
        plan = plan_for("eeg", headset)
        fast, framed, slow, general = pair(settings, plan, headset)
        sample: list[Any] = [float(i) for i in range(len(plan.labels))]
        sample[3] = bad
        fast(sample, 5.0)
        slow(sample, 5.0)
        assert framed.sent == general.sent and framed.framed == (0 if refused else 1)
        assert fast.errors == 0


def test_frame_encoder_checks_its_table() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FrameEncoder("ff", [])
    with pytest.raises(ValueError, match="tags"):
        FrameEncoder("ff", [(MessageEncoder("/a", "i"), [0])])
    with pytest.raises(ValueError, match="tags"):
        FrameEncoder("ss", [(MessageEncoder("/a", "s"), [0])])


def test_frame_encoder_runs_and_repeats() -> None:
    """Columns out of order, repeated, in several runs: the same bytes as one encoder
    per message."""
    table: list[tuple[MessageEncoder, list[int]]] = [
        (MessageEncoder("/a", "iifff"), [0, 1, 3, 4, 2]),
        (MessageEncoder("/b/c", "f"), [4]),
        (MessageEncoder("/d", "ffi"), [2, 3, 0]),
    ]
    row = [7, -3, 1.5, 2.25, float("inf")]
    framed = FrameEncoder("iifff", table).encode(row)
    messages = [encoder.encode([row[c] for c in columns]) for encoder, columns in table]
    assert framed == b"".join(struct.pack(">i", len(m)) + m for m in messages)
    assert FrameEncoder("iifff", table).split(framed) == messages


def test_put_refuses_what_does_not_fit_and_queues_nothing() -> None:
    buffer = BundleBuffer(64)
    element = struct.pack(">i", 8) + b"/ab\x00,\x00\x00\x00"
    assert buffer.put(element * 2, 2) and len(buffer) == 2
    assert not buffer.put(element * 3, 3) and len(buffer) == 2


@pytest.mark.parametrize("bundle", [True, False])
def test_same_datagrams_through_real_sockets(bundle: bool) -> None:
    """16 ticks of EEG, pow and mot at max_datagram 1472 (a datagram ends inside a
    sample now and then): the same datagrams with and without frame encoders."""
    headset = HEADSETS[0]
    received = []
    for frames in (True, False):
        with RawReceiver() as raw:
            out = output(f"127.0.0.1:{raw.port}", bundle=bundle, max_datagram=1472)
            sinks = {s: out.sinks_for(plan_for(s, headset), headset)[0]
                     for s in ("eeg", "pow", "mot")}
            if not frames:
                for sink in sinks.values():
                    assert isinstance(sink, StreamSender)
                    sink._frame = None
            rows = {s: samples(plan_for(s, headset), 64, seed=1) for s in sinks}

            async def main() -> None:
                for tick in range(16):
                    for k in range(4):
                        for stream, sink in sinks.items():  # noqa: B023
                            sink(rows[stream][tick * 4 + k], 10.0 + tick)  # noqa: B023
                    await asyncio.sleep(0.005)

            asyncio.run(main())
            out.close()
            sent = sum(s.messages for s in sinks.values() if isinstance(s, StreamSender))
            deadline = time.monotonic() + 10.0
            while len(raw.elements) < sent and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)  # the labels, too
            received.append(list(raw.datagrams))
    assert received[0] and received[0] == received[1]
