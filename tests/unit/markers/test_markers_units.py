"""Marker logic with plain data: values, LSL layouts, the queue, the injector, config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pylsl
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.clock import ClockSource, mapping_from_epoch
from bridge.config import load_settings
from bridge.cortex.protocol import ConnectionLost, CortexError, ErrorCode
from bridge.errors import ConfigError
from bridge.markers.decode import Layout, StreamShape, decode, layout_of
from bridge.markers.echo import int32_value
from bridge.markers.injector import (
    RECORDING_STARTED,
    RECORDING_STOPPED,
    Action,
    InjectArgs,
    InjectorStats,
    SessionInjector,
    action_for,
    inject_args,
)
from bridge.markers.lsl_input import effective_predicate, is_own_stream
from bridge.markers.marker import Marker, coerce_value, make_marker
from bridge.markers.osc_input import OscMarkerProtocol
from bridge.markers.queue import MarkerQueue
from bridge.markers.service import record_title
from bridge.pipeline import HeadsetClock


def m(value: Any, t: float = 100.0) -> Marker:
    marker = make_marker(value, t, "lsl:test")
    assert marker is not None
    return marker


# ---- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (7, 7),
        (0, 0),
        (-3, "-3"),
        (768.9, 768),
        ("768", 768),
        (" stim A ", "stim A"),
        ("٣", "٣"),  # a non-ASCII digit is text, not a number
        (b"go", "go"),
        ("", None),
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        (None, None),
    ],
)
def test_coerce_value(raw: object, value: object) -> None:
    assert coerce_value(raw) == value


def test_marker_label_and_port() -> None:
    marker = make_marker(" stim A ", 1.0, "osc:127.0.0.1:5000")
    assert marker == Marker("stim A", "stim A", 1.0, "osc:127.0.0.1:5000")
    assert marker.port == "OSC"
    assert make_marker(12, 1.0, "lsl:x", "twelve") == Marker(12, "twelve", 1.0, "lsl:x")
    assert m(12).label == "12" and m(12).port == "LSL"


# ---- LSL layouts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "count", "layout"),
    [
        (pylsl.cf_string, 1, Layout.TEXT),
        (pylsl.cf_int32, 1, Layout.INTEGER),
        (pylsl.cf_double64, 1, Layout.NUMBER),
        (pylsl.cf_float32, 3, Layout.EMOTIVPRO_TIMED),
        (pylsl.cf_string, 2, Layout.FIRST_CHANNEL),
        (pylsl.cf_int32, 4, Layout.FIRST_CHANNEL),
        (0, 1, None),  # cf_undefined
        (pylsl.cf_string, 0, None),
    ],
)
def test_layout_of(fmt: int, count: int, layout: Layout | None) -> None:
    assert layout_of(StreamShape("s", fmt, count)) == layout


def test_decode_applies_time_correction() -> None:
    got = decode(Layout.TEXT, ["go"], 50.0, 0.25, "lsl:s")
    assert got == Marker("go", "go", 50.25, "lsl:s")
    assert decode(Layout.INTEGER, [769], 50.0, -1.0, "lsl:s") == Marker(769, "769", 49.0, "lsl:s")
    assert decode(Layout.NUMBER, [3.7], 50.0, 0.0, "lsl:s") == Marker(3, "3", 50.0, "lsl:s")
    assert decode(Layout.TEXT, [""], 50.0, 0.0, "lsl:s") is None


def test_decode_emotivpro_three_channels() -> None:
    # Marker at epoch 1000.0, sent at 1000.4: it happened 0.4 s before its LSL stamp.
    got = decode(Layout.EMOTIVPRO_TIMED, [1000.0, 42.0, 1000.4], 80.0, 0.1, "lsl:pro")
    assert got is not None
    assert got.value == 42
    assert got.lsl_time == pytest.approx(80.1 - 0.4)
    # A lag that makes no sense (sent before the event) is ignored.
    odd = decode(Layout.EMOTIVPRO_TIMED, [1000.0, 42.0, 999.0], 80.0, 0.0, "lsl:pro")
    assert odd is not None and odd.lsl_time == 80.0


def test_own_streams_are_excluded() -> None:
    assert is_own_stream("cortex-bridge:EPOCX-1:markers")
    assert not is_own_stream("psychopy-1")
    assert effective_predicate("type='Markers'") == (
        "(type='Markers') and not(starts-with(source_id,'cortex-bridge:'))"
    )


# ---- OSC ---------------------------------------------------------------------------------


def _osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def test_osc_protocol_parses_markers_and_counts_the_rest() -> None:
    got: list[Marker] = []
    proto = OscMarkerProtocol(got.append, clock=lambda: 123.5)
    addr = ("127.0.0.1", 5555)
    proto.datagram_received(_osc("/marker", 42), addr)
    proto.datagram_received(_osc("/marker", "go", "start of block"), addr)
    proto.datagram_received(_osc("/other", 1), addr)
    proto.datagram_received(_osc("/marker"), addr)
    proto.datagram_received(b"\x00garbage", addr)
    proto.datagram_received(b"#bundle\x00\x00", addr)
    assert got == [
        Marker(42, "42", 123.5, "osc:127.0.0.1:5555"),
        Marker("go", "start of block", 123.5, "osc:127.0.0.1:5555"),
    ]
    stats = proto.stats
    assert (stats.datagrams, stats.markers, stats.ignored, stats.unusable) == (6, 2, 1, 1)
    assert stats.malformed == 2


# ---- the queue ---------------------------------------------------------------------------


def test_queue_every_reader_gets_every_marker_in_order() -> None:
    q = MarkerQueue(limit=10)
    for i in range(3):
        q.put(m(i))
    a, b = q.reader("A"), q.reader("B")
    assert q.reader("A") is a
    seen_a = []
    while (x := a.peek()) is not None:
        seen_a.append(x.value)
        a.advance()
    assert seen_a == [0, 1, 2]
    assert len(q) == 3  # B has not read them yet
    assert b.peek() == m(0) and b.pending == 3
    for _ in range(3):
        b.advance()
    assert len(q) == 0 and b.pending == 0
    b.advance()  # past the end: nothing happens
    assert b.pending == 0


def test_queue_overflow_drops_the_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    q = MarkerQueue(limit=3)
    reader = q.reader("A")
    for i in range(5):
        q.put(m(i))
    assert q.dropped == 2 and q.accepted == 5
    assert [r.levelname for r in caplog.records if "queue full" in r.message] == ["ERROR"]
    assert reader.peek() == m(2) and reader.pending == 3


def test_queue_keeps_markers_until_a_reader_exists() -> None:
    q = MarkerQueue(limit=5)
    q.put(m(1))
    assert q.reader("late").peek() == m(1)


def test_reader_next_waits_for_a_marker() -> None:
    async def scenario() -> Marker:
        q = MarkerQueue()
        reader = q.reader("A")
        waiting = asyncio.create_task(reader.next())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        q.put(m(5))
        return await asyncio.wait_for(waiting, 1)

    assert asyncio.run(scenario()) == m(5)


# ---- the injector ------------------------------------------------------------------------


def test_error_table() -> None:
    assert action_for(ErrorCode.MARKER_TOO_OLD, 1) is Action.REJECT
    assert action_for(RECORDING_STOPPED, 1) is Action.WAIT_RECORD
    assert action_for(ErrorCode.SESSION_NOT_FOUND, 1) is Action.END
    assert action_for(-32603, 1) is Action.RETRY
    assert action_for(-32603, 3) is Action.REJECT


def test_the_injector_agrees_with_the_error_table() -> None:
    """The injector's own outcomes say, for a marker, what the protocol table says for
    injectMarker: refused for good where the table drops it, the session's end where the
    table restarts the session, a new record where it retries (-32011)."""
    from bridge.cortex.errors import Action as Rule
    from bridge.cortex.errors import error_rule
    from bridge.markers.injector import ERROR_ACTIONS

    meaning = {Action.REJECT: Rule.DROP_STREAM, Action.END: Rule.RESTART_SESSION,
               Action.WAIT_RECORD: Rule.RETRY}  # fmt: skip
    for code, action in ERROR_ACTIONS.items():
        assert error_rule(code, "injectMarker").action is meaning[action], code


def test_inject_args_use_the_original_time() -> None:
    mapping = mapping_from_epoch(1_700_000_000.0)
    assert mapping.source is ClockSource.EPOCH
    args = inject_args(m("go", t=12.3456789), mapping)
    assert args == InjectArgs(1_700_000_012_345.679, "go", "go", "LSL")


class FakeCortex:
    """Answers injectMarker/createRecord from a script of outcomes (plain data)."""

    def __init__(self, outcomes: list[Exception | None], record_outcomes: list[Exception | None]):
        self.outcomes = outcomes
        self.record_outcomes = record_outcomes
        self.injected: list[InjectArgs] = []
        self.records = 0

    async def inject(self, args: InjectArgs) -> object:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.injected.append(args)
        return {}

    async def open_record(self) -> str:
        self.records += 1
        outcome = self.record_outcomes.pop(0) if self.record_outcomes else None
        if outcome is not None:
            raise outcome
        return f"record-{self.records}"


def _run_injector(
    q: MarkerQueue, cortex: FakeCortex, until: Callable[[], bool],
    stats: InjectorStats | None = None,
) -> SessionInjector:
    """Run one session's injector against ``cortex`` until ``until()`` (or it ends);
    a :class:`LossyCortex` also answers the record look-ups."""
    recorded = cortex.recorded if isinstance(cortex, LossyCortex) else None

    async def scenario() -> SessionInjector:
        clock = HeadsetClock(mapping_from_epoch(1000.0))
        injector = SessionInjector(
            "H", q.reader("H"), clock, cortex.inject, cortex.open_record, stats,
            retry_seconds=0.0, record_retry_seconds=0.0, recorded=recorded,
        )
        task = asyncio.create_task(injector.run())
        for _ in range(500):
            if until() or task.done():
                break
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return injector

    return asyncio.run(scenario())


def test_injector_sends_in_order_and_counts_refusals() -> None:
    q = MarkerQueue()
    for i in range(4):
        q.put(m(i, t=float(i)))
    too_old = CortexError("injectMarker", ErrorCode.MARKER_TOO_OLD, "too far in the past")
    cortex = FakeCortex([None, too_old, None, None], [])
    injector = _run_injector(q, cortex, lambda: len(cortex.injected) == 3)
    assert [a.value for a in cortex.injected] == [0, 2, 3]
    assert [a.time_ms for a in cortex.injected] == [1_000_000.0, 1_002_000.0, 1_003_000.0]
    assert injector.stats.injected == 3 and injector.stats.rejected == 1
    assert q.reader("H").pending == 0


def test_injector_keeps_the_marker_when_the_connection_drops() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    q.put(m("b"))
    cortex = FakeCortex([None, ConnectionLost("gone")], [])
    injector = _run_injector(q, cortex, lambda: False)
    assert [a.value for a in cortex.injected] == ["a"]
    in_flight = injector.reader.peek()
    assert in_flight is not None and in_flight.value == "b", "the marker in flight must stay"
    # The next session's injector sends it.
    cortex2 = FakeCortex([], [])
    _run_injector(q, cortex2, lambda: len(cortex2.injected) == 1)
    assert [a.value for a in cortex2.injected] == ["b"]


class LossyCortex(FakeCortex):
    """Records every marker it is sent, but loses the answer to those listed in
    ``lose`` (by value): the bridge sees a timeout or a lost connection although the
    marker is in the record. ``recorded`` answers from what was recorded."""

    def __init__(self, lose: dict[object, BaseException], can_tell: bool = True) -> None:
        super().__init__([], [])
        self.lose = lose
        self.can_tell = can_tell
        self.record: dict[str, list[str]] = {}
        self.lookups = 0

    async def inject(self, args: InjectArgs) -> object:
        self.injected.append(args)
        self.record.setdefault(f"record-{self.records}", []).append(args.uid)
        failure = self.lose.pop(args.value, None)
        if failure is not None:
            raise failure
        return {}

    async def recorded(self, record_id: str, uid: str) -> bool | None:
        self.lookups += 1
        return uid in self.record.get(record_id, []) if self.can_tell else None


def test_a_marker_whose_answer_was_lost_is_looked_up_not_sent_again() -> None:
    q = MarkerQueue()
    for value in ("a", "b", "c"):
        q.put(m(value))
    cortex = LossyCortex({"b": TimeoutError()})
    injector = _run_injector(q, cortex, lambda: q.reader("H").pending == 0)
    assert [a.value for a in cortex.injected] == ["a", "b", "c"]  # b sent exactly once
    assert cortex.lookups == 1
    stats = injector.stats
    assert (stats.injected, stats.duplicates_avoided, stats.rejected) == (2, 1, 0)
    assert all(a.extras["cortexBridgeId"] for a in cortex.injected)
    assert len({a.uid for a in cortex.injected}) == 3


def test_the_doubt_outlives_the_session_and_the_next_one_asks() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    q.put(m("b"))
    stats = InjectorStats()
    cortex = LossyCortex({"a": ConnectionLost("gone")})
    _run_injector(q, cortex, lambda: False, stats)
    assert stats.in_doubt is not None and stats.in_doubt[1] == "record-1"
    # The next session (a new record) finds "a" in the old record and sends only "b".
    cortex.lose.clear()
    _run_injector(q, cortex, lambda: q.reader("H").pending == 0, stats)
    assert [a.value for a in cortex.injected] == ["a", "b"]
    assert (stats.injected, stats.duplicates_avoided) == (1, 1) and stats.in_doubt is None


def test_a_session_ended_mid_request_leaves_the_marker_in_doubt() -> None:
    """The session ends (headset off) while injectMarker is on its way: Cortex may have
    recorded it, so the next session asks before sending it again (a soak found the
    duplicate)."""
    q = MarkerQueue()
    q.put(m("a"))
    q.put(m("b"))
    stats = InjectorStats()

    class Hanging(LossyCortex):
        async def inject(self, args: InjectArgs) -> object:
            await super().inject(args)  # recorded ...
            await asyncio.sleep(3600)  # ... and the answer never comes before the end
            return {}

    cortex = Hanging({})
    _run_injector(q, cortex, lambda: len(cortex.injected) == 1, stats)
    assert stats.in_doubt is not None and stats.in_doubt[1] == "record-1"
    after = LossyCortex({})
    after.record, after.records = cortex.record, cortex.records
    _run_injector(q, after, lambda: q.reader("H").pending == 0, stats)
    assert [a.value for a in after.injected] == ["b"]  # "a" found in its record
    assert (stats.injected, stats.duplicates_avoided) == (1, 1)


def test_a_marker_cortex_cannot_account_for_is_sent_again_and_counted() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    cortex = LossyCortex({"a": TimeoutError()}, can_tell=False)
    injector = _run_injector(q, cortex, lambda: q.reader("H").pending == 0)
    assert [a.value for a in cortex.injected] == ["a", "a"]
    assert injector.stats.resent_unverified == 1 and injector.stats.injected == 1


def test_a_silent_cortex_is_reported_and_the_marker_kept() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    silent: list[str] = []

    class Silent(LossyCortex):
        async def inject(self, args: InjectArgs) -> object:
            raise TimeoutError

        async def recorded(self, record_id: str, uid: str) -> bool | None:
            return False

    cortex = Silent({})

    async def scenario() -> SessionInjector:
        injector = SessionInjector(
            "H", q.reader("H"), HeadsetClock(mapping_from_epoch(0.0)), cortex.inject,
            cortex.open_record, retry_seconds=0.0, record_retry_seconds=0.0,
            recorded=cortex.recorded, on_silent=silent.append,
        )
        await asyncio.wait_for(injector.run(), 2.0)
        return injector

    injector = asyncio.run(scenario())
    assert silent and "did not answer injectMarker" in silent[0]
    assert injector.stats.rejected == 0 and q.reader("H").pending == 1


def test_injector_waits_for_a_record_and_reopens_it() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    q.put(m("b"))
    not_active = CortexError("createRecord", ErrorCode.SESSION_NOT_ACTIVATED, "not activated")
    no_record = CortexError("injectMarker", RECORDING_STOPPED, "no record")
    cortex = FakeCortex([None, no_record, None], [not_active, None, None])
    injector = _run_injector(q, cortex, lambda: len(cortex.injected) == 2)
    assert [a.value for a in cortex.injected] == ["a", "b"]
    assert cortex.records == 3  # refused, opened, re-opened after "no record"
    assert injector.stats.rejected == 0


def test_injector_accepts_a_record_in_progress() -> None:
    q = MarkerQueue()
    q.put(m("a"))
    in_progress = CortexError("createRecord", RECORDING_STARTED, "in progress")
    cortex = FakeCortex([], [in_progress])
    _run_injector(q, cortex, lambda: len(cortex.injected) == 1)
    assert [a.value for a in cortex.injected] == ["a"]


# ---- echo values, titles, config ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("769", 769), ("-2", -2), (3.0, 3), ("go", None), (2**31, None), (True, None)],
)
def test_int32_value(value: object, expected: int | None) -> None:
    assert int32_value(value) == expected


def test_record_title() -> None:
    title = record_title("run {headset} {date} {time}", "EPOCX-1", now=0.0)
    assert title.startswith("run EPOCX-1 19") and len(title.split()) == 4
    assert len(record_title("x" * 300, "H")) == 200


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("RECORD_TITLE", "run {subject}", "markers.record_title: unknown placeholder {subject}"),
        ("OSC_PORT", "70000", "markers.osc_port: must be at most 65535"),
        ("QUEUE_LIMIT", "0", "markers.queue_limit: must be at least 1"),
        ("LSL_PREDICATE", " ", "markers.lsl_predicate: must not be empty"),
    ],
)
def test_marker_config_errors(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {f"CORTEX_BRIDGE_MARKERS__{key}": value})
    assert err.value.problems[0].startswith(expected)


def test_osc_markers_keep_their_arrival_time_through_a_stalled_event_loop() -> None:
    """The event loop blocks for 0.6 s while three /marker datagrams arrive: each marker
    keeps the moment it arrived (the kernel's receive time), not the moment it was read."""
    import socket
    import time as _time

    from bridge.markers.osc_input import OscMarkerInput

    got: list[Marker] = []
    sent: list[float] = []

    async def scenario() -> bool:
        osc = OscMarkerInput(got.append, "127.0.0.1", 0)
        await osc.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                for i in range(3):
                    sent.append(pylsl.local_clock())
                    out.sendto(_osc("/marker", i), ("127.0.0.1", osc.port))
                    _time.sleep(0.2)  # blocks the loop: nothing is read meanwhile
            for _ in range(100):
                if len(got) == 3:
                    break
                await asyncio.sleep(0.01)
            return osc.kernel_stamps
        finally:
            osc.close()

    kernel = asyncio.run(scenario())
    assert kernel, "SO_TIMESTAMPNS is available on Linux"
    assert [marker.value for marker in got] == [0, 1, 2]
    errors = [marker.lsl_time - t for marker, t in zip(got, sent, strict=True)]
    print("arrival minus send (ms):", [f"{e * 1000:.3f}" for e in errors])
    assert all(-0.002 < e < 0.005 for e in errors), errors  # read 0.2-0.6 s later
