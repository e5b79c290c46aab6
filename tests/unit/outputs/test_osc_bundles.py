"""One bundle datagram per event-loop tick and target, measured at real sockets: a raw UDP
socket counts datagrams, python-osc's server and liblo's ``oscdump`` check that every
message arrives, in order, with bundles on and off. (Pure Data: tests/e2e/test_osc_patches.py.)

Samples are pushed into the sinks from inside a running asyncio loop, the way the
bridge's frame callbacks push them: all pushed in one callback are one tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from osc_receivers import OscDump, PythonOscReceiver, RawReceiver
from osc_ticks import LABELS, data, output, run_ticks, sent_order
from pythonosc.osc_message import OscMessage

from bridge.outputs.osc_codec import (
    IMMEDIATELY,
    BundleBuffer,
    encode_bundle,
    encode_message,
)


@pytest.fixture
def raw() -> Iterator[RawReceiver]:
    with RawReceiver() as running:
        yield running


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ------------------------------------------------------------------------- datagrams


def test_one_tick_to_one_target_is_one_datagram() -> None:
    """Two targets of one output, one with bundles and one without: per tick the first
    gets one datagram holding every message, the second one datagram per message; both
    in the order sent."""
    with RawReceiver() as bundled, RawReceiver() as plain:
        out = output(f"127.0.0.1:{bundled.port}",
                     {"target": f"127.0.0.1:{plain.port}", "bundle": False})
        try:
            messages = run_ticks(out, ticks=5, per_tick=12)
            wait_until(lambda: len(bundled.elements) >= messages
                       and len(plain.elements) >= messages)
        finally:
            out.close()
    assert len(bundled.datagrams) == 1 + 5  # the labels' tick, then one per tick
    assert [b.num_contents for b in bundled.bundles] == [LABELS] + [2 * 12 + 1] * 5
    assert len(plain.datagrams) == messages
    want = sent_order(5 * 12, 12)
    for receiver in (bundled, plain):
        assert data(receiver.snapshot()) == want


def test_a_tick_larger_than_max_datagram_leaves_as_several_bundles_in_order(
    raw: RawReceiver,
) -> None:
    """40 EEG vectors (~120 bytes each) in one tick with max_datagram = 1472: as few
    bundles as fit, each within the limit, nothing lost, order kept."""
    out = output(f"127.0.0.1:{raw.port}", max_datagram=1472)
    try:
        messages = run_ticks(out, ticks=2, per_tick=40)
        wait_until(lambda: len(raw.elements) >= messages)
    finally:
        out.close()
    assert all(len(d) <= 1472 for d in raw.datagrams)
    # As few as fit: what a greedy packer makes of the same messages, tick by tick.
    tick = 2 * 40 + 1
    expected = 1  # the labels
    for start in range(LABELS, messages, tick):
        packer = BundleBuffer(1472)
        full = [packer.add(m) for m in raw.elements[start:start + tick]]
        expected += sum(d is not None for d in full) + 1
    assert len(raw.datagrams) == expected >= 1 + 2 * 3  # several per tick
    assert data(raw.snapshot()) == sent_order(80, 40)


def test_sample_time_nests_each_samples_bundle_in_the_ticks(raw: RawReceiver) -> None:
    out = output(f"127.0.0.1:{raw.port}", bundle="sample_time")
    try:
        messages = run_ticks(out, ticks=3, per_tick=4)
        wait_until(lambda: len(raw.elements) >= messages)
    finally:
        out.close()
    assert len(raw.datagrams) == 1 + 3
    assert all(bundle.timestamp == 0 for bundle in raw.bundles)  # outer: immediately
    samples = [b for b in raw.inner_bundles
               if OscMessage(b.content(0).dgram).address == "/emotiv/eeg"]
    assert [b.num_contents for b in samples] == [2] * 12  # vector and electrodes
    assert all(b.timestamp > 1e9 for b in samples)  # the sample's Unix time
    assert data(raw.snapshot()) == sent_order(12, 4)


def test_refused_bundles_are_counted_per_datagram() -> None:
    """Nobody listens: each tick's bundle is one send, so one failure at most per tick
    (Linux reports the refusal of one datagram on the next send)."""
    with RawReceiver() as probe:
        port = probe.port  # closed again when the block ends
    out = output(f"127.0.0.1:{port}")
    try:
        run_ticks(out, ticks=20, per_tick=10)
        (stats,) = out.target_stats()
    finally:
        out.close()
    assert stats.bundles and stats.failing
    assert 10 <= stats.failed <= 1 + 20 and stats.sent <= 1 + 20  # 221 messages


def test_bundle_buffer_splits_at_the_limit_and_refuses_what_never_fits() -> None:
    buffer = BundleBuffer(64)
    small = encode_message("/a", [1.0])  # 12 bytes: 16 per element
    done = [d for d in (buffer.add(small) for _ in range(5)) if d is not None]
    assert done == [encode_bundle(IMMEDIATELY, [small] * 3)]  # 16 + 3 * 16 = 64
    assert len(buffer) == 2 and buffer.take() == encode_bundle(IMMEDIATELY, [small] * 2)
    assert buffer.take() is None
    with pytest.raises(ValueError, match="does not fit"):
        buffer.add(b"\0" * 48)


# ------------------------------------------------------------------------- receivers


@pytest.mark.parametrize("bundle", [True, False])
def test_python_osc_server_gets_every_message_in_order(bundle: bool) -> None:
    with PythonOscReceiver() as receiver:
        out = output(f"127.0.0.1:{receiver.port}", bundle=bundle)
        try:
            messages = run_ticks(out, ticks=20, per_tick=10)
            wait_until(lambda: len(receiver.snapshot()) >= messages)
        finally:
            out.close()
        assert data(receiver.snapshot()) == sent_order(200, 10)


@pytest.mark.parametrize("bundle", [True, False])
def test_oscdump_gets_every_message_in_order(bundle: bool) -> None:
    with OscDump() as dump:
        out = output(f"127.0.0.1:{dump.port}", bundle=bundle)
        try:
            run_ticks(out, ticks=20, per_tick=10)
            wait_until(lambda: len(dump.of("/emotiv/eeg")) >= 200)
            time.sleep(0.1)
        finally:
            out.close()
        lines = [line for line in dump.snapshot() if line.address.startswith("/emotiv/")
                 and not line.address.endswith("/labels")]
    got = [(line.address, float(line.args[0])) for line in lines]
    assert got == [(a, float(v)) for a, v in sent_order(200, 10)]
    assert all(line.tags == "f" * 18 for line in lines if line.address == "/emotiv/eeg")


# ------------------------------------------------------------------------- check's list


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"layout": "split"},
        {"timestamps": "lsl"},
        {"layout": "split", "timestamps": "epoch", "bundle": "sample_time"},
        {"preset": "emotivbci"},
        {"preset": "mindmonitor"},
    ],
    ids=["vector", "split", "vector-timestamps", "split-timestamps", "emotivbci", "mindmonitor"],
)
def test_every_address_sent_is_in_checks_list(raw: RawReceiver, keys: dict[str, Any]) -> None:
    """A short run of every stream, the addresses that arrive (data, labels, electrodes,
    bands, per-action numbers) against ``planned_addresses``, which ``check`` prints:
    both come from the sender's own table, so neither can list what the other lacks."""
    from osc_ticks import EPOCX, plan_for

    from bridge.outputs.osc_stream import planned_addresses
    from bridge.streams import CATALOG

    out = output(f"127.0.0.1:{raw.port}", **keys)
    planned: dict[str, list[str]] = {}
    try:
        for stream in CATALOG:
            plan = plan_for(stream)
            planned[stream] = planned_addresses(out.settings, plan, EPOCX,
                                                out.base_address(EPOCX.id))
            sinks = out.sinks_for(plan, EPOCX)
            width = len(plan.labels)
            samples: list[list[Any]] = (
                [["a", "b"], ["c", "d"]] if plan.channel_format == "string" else
                [[0.0] * width, [1.0] * width, [float(i % 3) for i in range(width)]])
            for k, sample in enumerate(samples):
                for sink in sinks:
                    sink(sample, 1_700_000_000.0 + 1.5 * k)
        time.sleep(0.2)
    finally:
        out.close()
    every = {a for addresses in planned.values() for a in addresses}
    arrived = {m.address for m in raw.snapshot()}
    assert arrived, "nothing arrived"
    assert arrived - every == set()
    if not keys.get("preset"):
        assert {"/emotiv/pow/alpha", "/emotiv/com/push"} <= every
        if keys.get("layout") != "split":
            assert {"/emotiv/eeg/labels", "/emotiv/eeg/electrodes"} <= every
        # What the sender sends and check lists are the same set (status is not a stream's).
        assert every - arrived == set()
