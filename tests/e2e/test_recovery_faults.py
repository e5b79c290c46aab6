"""Fault injection: each simulator fault, one at a time, against the real daemon read by a
real pylsl inlet.

After every fault the bridge must be streaming again through the same outlets (same
outlet objects, same LSL uid, and an inlet opened before the fault keeps receiving
without being re-resolved), and the EEG sample count must account for every frame the
simulator sent: exactly, for faults that lose nothing (token expiry, malformed frames, a
short stall, a clock step, a headset switched off, whose frames all arrived before the
session closed); and for a cut connection, every frame except the few that were on the
wire when it was cut (the simulator counts a frame when it queues it for the socket).

Markers: throughout each case (before, during and after the fault) a sender puts an
OSC ``/marker`` into the bridge every 50 ms; ``Rig.check_markers`` asserts that every one
of them is in a Cortex record in the end (queued while Cortex or the record was away,
injected when it came back). Each case prints its recovery time.

Every case runs against Cortex 2+ and against the Cortex 1.x dialect (the ``dialect``
fixture). 1.x sends no warnings (the bridge finds a closed session or a switched-off
headset by polling and by the stall watch), needs no record for markers (so "in a
record" is "injected into the session" there), and stamps samples in seconds since
Cortex started, which a step of Cortex's wall clock does not touch.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
import pytest
from bridge_harness import BridgeThread, settings_for
from pythonosc.udp_client import SimpleUDPClient

from bridge.outputs.lsl import LslOutlet
from bridge.simulator import Simulator, SimulatorConfig, SimulatorThread

EEG_RATE = 128
STREAMS = '["eeg", "mot", "pow"]'
IN_FLIGHT_LIMIT = EEG_RATE // 2  # at most half a second of EEG on the wire at a cut


class MarkerSender:
    """Sends ``/marker m<n>`` to the bridge's OSC marker port every ``period`` seconds."""

    def __init__(self, port: int, period: float = 0.05) -> None:
        self.client = SimpleUDPClient("127.0.0.1", port)
        self.period = period
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="markers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.period):
            value = f"m{n}"
            self.client.send_message("/marker", [value, "fault-suite"])
            self.sent.append(value)
            n += 1

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(2)
        return self.sent


class InletReader:
    """Pulls an LSL inlet continuously in a thread, as a recorder would."""

    def __init__(self, info: pylsl.StreamInfo) -> None:
        self.inlet = pylsl.StreamInlet(info, max_buflen=60, recover=True)
        self.inlet.open_stream(5)
        self.labels = self.inlet.info(5).get_channel_labels()
        self.samples: list[list[float]] = []
        self.stamps: list[float] = []
        self.arrivals: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inlet", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            chunk, stamps = self.inlet.pull_chunk(timeout=0.05)
            if stamps:
                now = pylsl.local_clock()
                self.samples.extend(chunk)
                self.stamps.extend(stamps)
                self.arrivals.extend([now] * len(stamps))

    def count(self) -> int:
        return len(self.stamps)

    def drain(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Read until nothing came for ``quiet`` seconds (the outlets are closed), then
        stop."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self.count() != seen:
                seen, since = self.count(), time.monotonic()
            elif time.monotonic() - since > quiet:
                break
            time.sleep(0.02)
        self._stop.set()
        self._thread.join(5)
        self.inlet.close_stream()


@dataclass
class Rig:
    dialect: str
    sim: SimulatorThread
    bridge: BridgeThread
    headset: str
    reader: InletReader
    outlets: dict[str, LslOutlet]
    uid: str
    markers: MarkerSender
    restored_at: float = 0.0
    sessions_before: set[str] = field(default_factory=set)
    markers_sent: list[str] = field(default_factory=list)

    @property
    def eeg_stats(self) -> Any:
        assert self.bridge.app is not None
        return self.bridge.app.board.stream(self.headset, "eeg")

    def truth(self) -> dict[str, Any]:
        return next(h for h in self.sim.state()["headsets"] if h["id"] == self.headset)

    def fault(self, fn: Callable[[Simulator], Any]) -> None:
        self.sessions_before = {s["id"] for s in self.sim.state()["sessions"]}
        self.sim.call(fn)

    def closed_by(self) -> set[str]:
        """Who closed the sessions that ran before the fault (the simulator's word)."""
        closed = {s["id"]: s["closedBy"] for s in self.sim.state()["sessions"]}
        return {closed[sid] for sid in self.sessions_before}

    def restored(self) -> None:
        """Mark the moment Cortex is reachable / the headset is back."""
        self.restored_at = time.monotonic()

    def wait_new_session_streaming(self, timeout: float = 15.0) -> float:
        """Seconds from ``restored`` until EEG flows again on a new session."""
        deadline = time.monotonic() + timeout
        new: str | None = None
        samples = 0
        while time.monotonic() < deadline:
            if new is None:
                for s in self.sim.state()["sessions"]:
                    if s["id"] not in self.sessions_before and "eeg" in s["streams"]:
                        new = s["id"]
                        samples = self.eeg_stats.samples
            elif self.eeg_stats.samples > samples:
                return time.monotonic() - self.restored_at
            time.sleep(0.02)
        raise AssertionError("EEG did not resume on a new session")

    def finish(self) -> tuple[int, int]:
        """Stop the bridge (its session closes, so everything sent was read); return
        (frames the simulator sent, samples the bridge pushed) for EEG."""
        self.markers_sent = self.markers.stop()
        deadline = time.monotonic() + 5  # let the injector send what is queued
        while time.monotonic() < deadline and not self._all_markers_recorded():
            time.sleep(0.1)
        self.bridge.stop()
        sent = int(self.truth()["framesSent"]["eeg"])
        pushed = int(self.eeg_stats.samples)
        self.reader.drain()
        return sent, pushed

    def check_same_outlets(self) -> None:
        assert self.bridge.app is not None
        for stream, outlet in self.outlets.items():
            now = self.bridge.app.registry.get(f"cortex-bridge:{self.headset}:{stream}")
            assert now is outlet, f"{stream} outlet was re-created"
        assert resolve(f"cortex-bridge:{self.headset}:eeg").uid() == self.uid

    def check_inlet(self, pushed: int, monotonic_stamps: bool = True) -> None:
        """The inlet opened before the fault got every sample the bridge pushed after
        ``mark`` (samples pushed before an inlet connects are not its to see)."""
        reader = self.reader
        stamps = np.asarray(reader.stamps)
        first = int(np.argmax(stamps > self.mark_time))
        assert stamps[first] > self.mark_time
        assert len(stamps) - first == pushed - self.mark_samples, (len(stamps), first, pushed)
        if monotonic_stamps:
            assert np.all(np.diff(stamps) > 0)

    def _recorded(self) -> list[str]:
        state = self.sim.state()
        if self.dialect == "v1":
            # 1.x injects into the session, no record: what the headset got.
            markers = next(h for h in state["headsets"] if h["id"] == self.headset)["markers"]
        else:
            markers = [m for record in state["records"] for m in record["markers"]]
        return [str(m["value"]) for m in markers if m.get("label") == "fault-suite"]

    def _all_markers_recorded(self) -> bool:
        return set(self.markers_sent) <= set(self._recorded())

    def check_markers(self, in_flight_may_repeat: bool = False) -> int:
        """No marker lost; none twice unless a request could be lost in flight (a cut or
        silent connection: Cortex may have recorded a marker whose answer never came, and
        the bridge sends it again: at least once, never lost). Returns the repeats."""
        recorded = self._recorded()
        missing = [m for m in self.markers_sent if m not in set(recorded)]
        assert len(self.markers_sent) > 20
        assert not missing, f"{len(missing)} of {len(self.markers_sent)} lost: {missing[:10]}"
        repeats = len(recorded) - len(set(recorded))
        if in_flight_may_repeat:
            assert repeats <= 2, f"{repeats} markers injected twice"
        else:
            assert repeats == 0, f"{repeats} markers injected twice"
        print(f"  markers: {len(self.markers_sent)} sent, none lost, {repeats} repeated")
        return repeats

    mark_samples: int = 0
    mark_time: float = 0.0


@pytest.fixture
def rig_factory(unique_id: str, dialect: str) -> Iterator[Callable[..., Rig]]:
    made: list[tuple[SimulatorThread, BridgeThread]] = []

    def make(**bridge_overrides: str) -> Rig:
        headset = f"EPOCX-{unique_id[:8].upper()}"
        config = SimulatorConfig(
            port=0,
            dialect=dialect,
            headsets=[f"epocx:id={headset},status=connected"],
            seed=21,
            control=True,
            connect_delay_s=0.2,
            power_off_timeout_s=0.5,
            scan_delay_s=0.3,
        )
        sim = SimulatorThread(config).start()
        osc_port = _free_udp_port()
        settings = settings_for(
            sim,
            cortex__headsets=headset,
            cortex__streams=STREAMS,
            markers__enabled="true",
            markers__lsl_input="false",
            markers__osc_input="true",
            markers__osc_port=str(osc_port),
            **bridge_overrides,
        )
        bridge = BridgeThread(settings).__enter__()
        made.append((sim, bridge))
        bridge.wait_streaming()
        assert bridge.app is not None
        daemon = bridge.app
        outlets = {}
        for stream in ("eeg", "mot", "pow"):
            deadline = time.monotonic() + 5
            source_id = f"cortex-bridge:{headset}:{stream}"
            while (outlet := daemon.registry.get(source_id)) is None:
                assert time.monotonic() < deadline, stream
                time.sleep(0.05)
            outlets[stream] = outlet
        info = resolve(f"cortex-bridge:{headset}:eeg")
        reader = InletReader(info)
        deadline = time.monotonic() + 10
        while reader.count() == 0:
            assert time.monotonic() < deadline, "the inlet received nothing"
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        # Markers go in once a record is open (Cortex 1.x: once the injector runs, no
        # record needed; the bridge notes "" as its record).
        while not (daemon.markers.records if dialect == "v1" else sim.state()["records"]):
            assert time.monotonic() < deadline, "no record was opened"
            time.sleep(0.05)
        rig = Rig(
            dialect, sim, bridge, headset, reader, outlets, info.uid(), MarkerSender(osc_port)
        )
        # (samples pushed, time of the last one) read on the daemon's loop, where pushes
        # happen, so the two belong together; the inlet is connected by now.
        stats = daemon.board.stream(headset, "eeg")

        async def snapshot() -> tuple[int, float]:
            return stats.samples, stats.last_lsl_time

        rig.mark_samples, rig.mark_time = asyncio.run_coroutine_threadsafe(
            snapshot(), bridge.loop
        ).result(5)
        time.sleep(0.5)
        return rig

    yield make
    for sim, bridge in made:
        try:
            bridge.stop()
        finally:
            sim.stop()


def resolve(source_id: str) -> pylsl.StreamInfo:
    """The stream, asking again if a busy machine made one resolve round miss it."""
    for _ in range(4):
        found = pylsl.resolve_byprop("source_id", source_id, 1, 5)
        if found:
            return found[0]
    raise AssertionError(f"no LSL stream with source_id {source_id}")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report(name: str, **figures: float) -> None:
    print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


# ---- the faults ----------------------------------------------------------------------


def test_connection_drop(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    rig.fault(lambda s: s.drop_connections("abort"))
    rig.restored()  # the simulator accepts connections again at once
    took = rig.wait_new_session_streaming()
    time.sleep(1.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("connection drop", recovery_s=took, lost_on_the_wire=sent - pushed)
    assert took < 2.0
    assert 0 <= sent - pushed <= IN_FLIGHT_LIMIT
    rig.check_inlet(pushed)
    rig.check_markers(in_flight_may_repeat=True)


def test_headset_off_and_on(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    rig.fault(lambda s: s.set_headset_power(rig.headset, False))
    time.sleep(1.0)  # past the power-off timeout: warning 103, gone from queryHeadsets
    assert rig.truth()["status"] == "off"
    rig.sim.call(lambda s: s.set_headset_power(rig.headset, True))
    rig.restored()
    took = rig.wait_new_session_streaming()
    time.sleep(1.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("headset off/on", recovery_s=took)
    assert rig.truth()["connectCount"] >= 2  # reconnected through controlDevice
    assert pushed == sent
    rig.check_inlet(pushed)
    rig.check_markers()


def test_token_expiry_then_reconnect(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    issued = rig.sim.state()["tokensIssued"]
    # Every token is now refused; streaming goes on; the next session needs a new one.
    assert rig.sim.call(lambda s: s.expire_tokens()) >= 1
    time.sleep(0.5)
    rig.fault(lambda s: s.drop_connections("close"))
    rig.restored()
    took = rig.wait_new_session_streaming()
    time.sleep(1.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("token expiry + reconnect", recovery_s=took, lost_on_the_wire=sent - pushed)
    assert rig.sim.state()["tokensIssued"] > issued  # authorized again
    assert took < 2.0
    assert 0 <= sent - pushed <= IN_FLIGHT_LIMIT
    rig.check_inlet(pushed)
    rig.check_markers(in_flight_may_repeat=True)


def test_short_stall_loses_nothing(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(cortex__stall_timeout="3")
    sessions = {s["id"] for s in rig.sim.state()["sessions"]}
    rig.fault(lambda s: s.stall(1.5))
    time.sleep(3.0)
    assert {s["id"] for s in rig.sim.state()["sessions"]} == sessions  # no restart
    gaps = np.diff(np.asarray(rig.reader.arrivals))
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("short stall (1.5 s)", longest_arrival_gap_s=float(gaps.max()))
    assert pushed == sent
    rig.check_inlet(pushed)
    rig.check_markers()


def test_long_stall_keeps_the_backlog(rig_factory: Callable[..., Rig]) -> None:
    """A stall past ``stall_timeout`` while Cortex may still deliver: the session is kept,
    and what Cortex sends late is published with its true times: nothing lost."""
    rig = rig_factory(cortex__stall_timeout="1.5")
    rig.fault(lambda s: s.stall(4.0))
    time.sleep(4.0)
    rig.restored()
    time.sleep(1.0)
    assert {s["id"] for s in rig.sim.state()["sessions"]} == rig.sessions_before  # kept
    rig.check_same_outlets()
    gaps = np.diff(np.asarray(rig.reader.arrivals))
    sent, pushed = rig.finish()
    report("long stall (4 s, stall_timeout 1.5 s)", longest_arrival_gap_s=float(gaps.max()),
           lost=sent - pushed)
    assert gaps.max() > 2.0  # there was a stall
    assert pushed == sent
    assert rig.bridge.app is not None
    assert rig.bridge.app.board.malformed_frames == 0  # late answers are no stranger's
    rig.check_inlet(pushed)
    rig.check_markers()


# Cortex 2+ only: the same session code as the backlog case, which runs on both dialects.
@pytest.mark.parametrize("dialect", ["v2"], indirect=True)
def test_stall_without_answer_reconnects(rig_factory: Callable[..., Rig]) -> None:
    """A stall that outlasts the probe's ``request_timeout``: the connection is dead to
    the bridge, which drops it (and the session with it) and starts again."""
    rig = rig_factory(cortex__stall_timeout="1.5", cortex__request_timeout="1.0")
    rig.fault(lambda s: s.stall(4.0))
    time.sleep(4.0)
    rig.restored()
    took = rig.wait_new_session_streaming()
    assert rig.closed_by() == {"connection"}
    time.sleep(1.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("stall without answer (4 s, probe 1 s)", recovery_after_stall_end_s=took,
           lost_on_the_wire=sent - pushed)
    assert rig.bridge.app is not None
    assert rig.bridge.app.board.malformed_frames == 0
    assert took < 2.0
    assert 0 <= sent - pushed <= IN_FLIGHT_LIMIT
    rig.check_inlet(pushed)
    rig.check_markers(in_flight_may_repeat=True)


# Cortex 2+ only: the same session code as the backlog case, which runs on both dialects.
@pytest.mark.parametrize("dialect", ["v2"], indirect=True)
def test_muted_session_is_restarted(rig_factory: Callable[..., Rig]) -> None:
    """Cortex answers but sends the session nothing: the bridge closes that session and
    opens another; only what Cortex never sent is missing."""
    rig = rig_factory(cortex__stall_timeout="1.5")
    rig.fault(lambda s: s.mute(rig.headset, 3.0))
    rig.restored()
    took = rig.wait_new_session_streaming()
    assert rig.closed_by() == {"client"}
    time.sleep(1.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("muted session (stall_timeout 1.5 s)", new_session_after_s=took)
    assert took < 1.5 + 1.0 + 2.0  # detection, the answer's grace, a new session
    assert pushed == sent  # the simulator counts only what it sent
    rig.check_inlet(pushed)
    rig.check_markers()


def test_malformed_frames_are_counted_not_fatal(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    assert rig.bridge.app is not None
    board = rig.bridge.app.board
    sessions = {s["id"] for s in rig.sim.state()["sessions"]}
    rig.fault(lambda s: s.send_malformed(40))
    time.sleep(1.5)
    assert {s["id"] for s in rig.sim.state()["sessions"]} == sessions
    malformed = board.malformed_frames + board.unrouted_frames + rig.eeg_stats.malformed
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    report("malformed x40", counted=malformed)
    # 10 of each kind: not JSON and wrong types (malformed), unknown sid (unrouted),
    # nulls on our own session (a malformed EEG frame).
    assert malformed == 40
    assert pushed == sent
    rig.check_inlet(pushed)
    rig.check_markers()


def test_clock_step_is_resynced_at_once(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    # Not a whole number of seconds: a whole-second step keeps COUNTER and time in
    # agreement (sample k + 640 has k's counter), which no stamp check could see.
    step = 5.3
    rig.fault(lambda s: s.set_clock_offset(step))
    stepped_at = pylsl.local_clock()
    time.sleep(2.0)
    rig.check_same_outlets()
    sent, pushed = rig.finish()
    rig.check_inlet(pushed, monotonic_stamps=False)
    truth = rig.truth()
    anchor = truth["clock"]["monotonicAnchor"]
    stamps = np.asarray(rig.reader.stamps)
    counters = np.asarray(rig.reader.samples)[:, rig.reader.labels.index("COUNTER")]
    # A stamp is right when it points at the sample the COUNTER says it is, within the
    # dialect's accuracy (1.x: its clock is estimated from arrivals, 1 ms measured; the
    # bound of tests/e2e/test_bridge_e2e.py).
    bound = 2e-3 if rig.dialect == "v2" else 3e-3
    k = np.round((stamps - anchor) * EEG_RATE).astype(int)
    right = ((k % EEG_RATE) == counters.astype(int)) & (
        np.abs(stamps - (anchor + k / EEG_RATE)) < bound
    )
    wrong = np.flatnonzero(~right)
    after = np.asarray(rig.reader.arrivals) > stepped_at
    mis_stamped = float(len(wrong)) / EEG_RATE
    report("clock step +5.3 s", mis_stamped_s=mis_stamped, samples_mis_stamped=len(wrong))
    assert pushed == sent
    if rig.dialect == "v1":
        # 1.x sample times count from Cortex's start, not its wall clock: a step of that
        # clock is not in them, and no sample may be mis-stamped at all.
        assert len(wrong) == 0, f"{len(wrong)} samples mis-stamped"
        rig.check_markers()
        return
    assert len(wrong) > 0, "the step never showed: the test did not test anything"
    assert np.all(after[wrong])  # only samples after the step
    assert mis_stamped < 1.0  # re-synced within a second, not at the 60 s re-sync
    assert right[-EEG_RATE:].all()  # and right again since
    rig.check_markers()


def test_cortex_restart_resumes_within_2_s(unique_id: str, dialect: str, tmp_path: Path) -> None:
    """Cortex goes away for a few seconds (the backoff has grown by then) and comes back
    on the same port with the same CA: streaming resumes within 2 s, through the same
    outlets, with sample times right for the new Cortex. (It comes back with the same
    seed, so the bridge's token still passes, and the sessions are new.)"""
    headset = f"EPOCX-{unique_id[:8].upper()}"

    def start(port: int) -> SimulatorThread:
        return SimulatorThread(
            SimulatorConfig(port=port, dialect=dialect,
                            headsets=[f"epocx:id={headset},status=connected"],
                            seed=4, control=True, tls_dir=tmp_path / "tls")
        ).start()

    sim = start(0)
    port = sim.port
    # The default backoff cap (30 s): a Cortex on this machine is still tried every second.
    bridge = BridgeThread(settings_for(
        sim, cortex__headsets=headset, cortex__streams='["eeg"]',
        cortex__reconnect_max_delay="30"))
    try:
        with bridge:
            bridge.wait_streaming()
            assert bridge.app is not None
            stats = bridge.app.board.stream(headset, "eeg")
            outlet = bridge.app.registry.get(f"cortex-bridge:{headset}:eeg")
            sim.stop()
            time.sleep(4.0)  # several failed attempts: the backoff is at its cap
            before = stats.samples
            sim = start(port)
            back = time.monotonic()
            deadline = back + 10
            while stats.samples == before:
                assert time.monotonic() < deadline, "streaming did not resume"
                time.sleep(0.01)
            took = time.monotonic() - back
            assert bridge.app.registry.get(f"cortex-bridge:{headset}:eeg") is outlet
            # The newest sample was born moments ago (no delivery delay here), not the
            # restart gap away: the clock mapping is the new Cortex's (1.x: its sample times
            # count from its new start, and the origin is estimated afresh).
            time.sleep(0.5)
            lag = pylsl.local_clock() - stats.last_lsl_time
            assert -0.01 < lag < 1.0, f"the newest sample is stamped {lag:.3f} s ago"
    finally:
        sim.stop()
    report("Cortex restart after 4 s away", resumed_after_s=took, newest_sample_lag_s=lag)
    assert took < 2.0
