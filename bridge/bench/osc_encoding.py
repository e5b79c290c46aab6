"""Scenario 5: OSC encoding, ours against python-osc's ``OscMessageBuilder``.

Two messages: an EEG vector (14 floats, one message per sample at 256 Hz) and a mental
command (action name and power, ``sf``). Ours is measured twice: the general
:func:`~bridge.outputs.osc_codec.encode_message` (tags inferred per call) and the hot
path's :class:`~bridge.outputs.osc_codec.MessageEncoder` (address and tags encoded once
per stream). python-osc is used as its users use it: a builder per message.
Each figure is the best of several timed rounds (the least disturbed by other load).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.bench.common import Options, Row, ScenarioResult, ratio

NAME = "osc_encoding"
TITLE = "OSC encoding (messages/s)"
TARGET_RATIO = 3.0

EEG_ADDRESS = "/emotiv/EPOCX-12345678/eeg"
EEG_ARGS: tuple[Any, ...] = (
    4201.5, 4187.25, 4230.0, 4195.75, 4210.5, 4175.0, 4199.25,
    4222.75, 4190.5, 4205.0, 4214.25, 4183.5, 4208.75, 4196.0,
)  # fmt: skip
COM_ADDRESS = "/emotiv/EPOCX-12345678/com"
COM_ARGS: tuple[Any, ...] = ("push", 0.73)
MESSAGES = {"eeg (14 floats)": (EEG_ADDRESS, EEG_ARGS), "com (action, power)": (COM_ADDRESS, COM_ARGS)}


def python_osc(address: str, args: Sequence[Any]) -> bytes:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    dgram: bytes = builder.build().dgram
    return dgram


def rate(encode: Callable[[], bytes], rounds: int, n: int) -> float:
    """Messages per second: the best of ``rounds`` timings of ``n`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            encode()
        best = min(best, time.perf_counter() - start)
    return n / best


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    rounds, n = (3, 2_000) if options.quick else (5, 10_000)
    try:
        codec: Any = importlib.import_module("bridge.outputs.osc_codec")
    except ModuleNotFoundError:
        codec = None
    for label, (address, args) in MESSAGES.items():
        theirs = rate(partial(python_osc, address, args), rounds, n)
        figures: dict[str, Any] = {"python_osc": theirs}
        if codec is None:
            result.rows.append(Row(f"{label}: ours", None, theirs, "msg/s", note="n/a: no osc_codec"))
            result.figures[label] = figures
            continue
        general = rate(partial(codec.encode_message, address, args), rounds, n)
        tags = codec.type_tags(args)
        encoder = codec.MessageEncoder(address, tags)
        assert encoder.encode(args) == python_osc(address, args), "encodings differ"
        hot = rate(partial(encoder.encode, args), rounds, n)
        figures.update(encode_message=general, message_encoder=hot)
        result.figures[label] = figures
        r = ratio(hot, theirs)
        result.rows.append(
            Row(f"{label}: MessageEncoder (hot path)", hot, theirs, "msg/s", r,
                f">= {TARGET_RATIO:g}x", r is not None and r >= TARGET_RATIO)
        )
        # The general encoder (tags inferred per call) sends nothing in the bridge; it is
        # shown for scale, without the hot path's target.
        result.rows.append(Row(f"{label}: encode_message (not on the hot path)", general,
                               theirs, "msg/s", ratio(general, theirs)))
    result.notes.append("baseline: python-osc OscMessageBuilder, one builder per message")
    return result
