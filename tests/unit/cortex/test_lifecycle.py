"""The lifecycle tables and the streaming watch, on plain data."""

from __future__ import annotations

import pytest

from bridge.cortex.lifecycle import (
    CONNECTION_TRANSITIONS,
    HEADSET_TRANSITIONS,
    ConnectionEvent,
    ConnectionState,
    Counters,
    HeadsetEvent,
    HeadsetState,
    LifecycleError,
    Verdict,
    Watch,
    WatchPolicy,
    connection_machine,
    decide,
    headset_machine,
)

C, CE = ConnectionState, ConnectionEvent
H, HE = HeadsetState, HeadsetEvent


# ---- the connection ------------------------------------------------------------------


def test_the_way_to_ready_and_out() -> None:
    seen: list[tuple[str, str, str]] = []
    machine = connection_machine(lambda old, new, event: seen.append((old, new, event)))
    for event in (CE.CONNECT, CE.ACCESS_PENDING, CE.ACCESS_GRANTED, CE.AUTHORIZED):
        machine.handle(event)
    assert machine.state is C.READY
    assert [new for _, new, _ in seen] == [
        C.CONNECTING, C.AWAITING_APPROVAL, C.AUTHORIZING, C.READY]
    assert machine.handle(CE.FAILED) is C.BACKING_OFF
    assert machine.handle(CE.BACKOFF_ELAPSED) is C.CONNECTING
    assert machine.handle(CE.STOP) is C.STOPPING
    assert machine.handle(CE.CLOSED) is C.STOPPED


def test_an_undeclared_event_raises_and_changes_nothing() -> None:
    machine = connection_machine()
    with pytest.raises(LifecycleError, match="'authorized' is not declared in state"):
        machine.handle(CE.AUTHORIZED)  # no token before a connection
    assert machine.state is C.DISCONNECTED
    machine.handle(CE.CONNECT)
    machine.handle(CE.FAILED)
    with pytest.raises(LifecycleError):
        machine.handle(CE.RECONNECT)  # backing off: only the backoff's end or a stop


@pytest.mark.parametrize("state", [C.CONNECTING, C.AWAITING_APPROVAL, C.AUTHORIZING, C.READY])
def test_every_live_state_can_fail_reconnect_be_refused_and_stop(state: ConnectionState) -> None:
    for event, target in ((CE.FAILED, C.BACKING_OFF), (CE.RECONNECT, C.CONNECTING),
                          (CE.REFUSED, C.FATAL), (CE.STOP, C.STOPPING)):
        assert CONNECTION_TRANSITIONS[(state, event)] is target


def test_fatal_and_stopped_are_ends() -> None:
    outgoing = {source for source, _ in CONNECTION_TRANSITIONS}
    assert C.STOPPED not in outgoing
    assert {event for source, event in CONNECTION_TRANSITIONS if source is C.FATAL} == {CE.CLOSED}


def test_every_connection_state_is_reachable() -> None:
    reached = {C.DISCONNECTED} | set(CONNECTION_TRANSITIONS.values())
    assert reached == set(ConnectionState)


# ---- a headset -----------------------------------------------------------------------


def test_a_headset_from_waiting_to_streaming_and_back() -> None:
    machine = headset_machine()
    for event in (HE.START, HE.CONNECTED, HE.SESSION_OPENED, HE.CLOCK_SYNCED, HE.SUBSCRIBED):
        machine.handle(event)
    assert machine.state is H.STREAMING
    assert machine.handle(HE.RETRY_STREAMS) is H.SUBSCRIBING
    assert machine.handle(HE.SUBSCRIBED) is H.STREAMING
    assert machine.handle(HE.END) is H.ENDED
    assert machine.handle(HE.RESTART) is H.WAITING


@pytest.mark.parametrize("state", [H.WAITING, H.CONNECTING, H.OPENING_SESSION,
                                   H.SYNCING_CLOCK, H.SUBSCRIBING, H.STREAMING])
def test_a_headset_can_end_from_every_state_but_ended(state: HeadsetState) -> None:
    assert HEADSET_TRANSITIONS[(state, HE.END)] is H.ENDED


def test_no_shortcuts_to_streaming() -> None:
    into_streaming = {source for (source, _), target in HEADSET_TRANSITIONS.items()
                      if target is H.STREAMING}
    assert into_streaming == {H.SUBSCRIBING}
    machine = headset_machine()
    machine.handle(HE.START)
    with pytest.raises(LifecycleError):
        machine.handle(HE.SUBSCRIBED)  # not before a session and a clock
    with pytest.raises(LifecycleError):
        headset_machine().handle(HE.RESTART)  # only an ended headset restarts


# ---- decide: stalls ------------------------------------------------------------------


def watch_at(now: float, **policy: float) -> Watch:
    watch = Watch(WatchPolicy(stall_timeout=policy.pop("stall_timeout", 2.0), **policy))
    watch.start(now)
    return watch


def eeg(received: int, samples: int | None = None, lag: float | None = 0.2) -> Counters:
    return Counters(received, 256.0, received if samples is None else samples, lag)


def test_silence_beyond_the_timeout_is_a_stall() -> None:
    watch = watch_at(100.0)
    assert decide(watch, 100.0, eeg(5)).verdict is Verdict.CONTINUE
    assert decide(watch, 101.9, eeg(5)).verdict is Verdict.CONTINUE
    assert decide(watch, 102.0, eeg(6)).verdict is Verdict.CONTINUE  # a frame came
    decision = decide(watch, 104.5, eeg(6))
    assert decision.verdict is Verdict.STALLED and decision.amount == pytest.approx(2.5)


def test_a_slow_stream_stalls_only_after_three_periods() -> None:
    watch = watch_at(0.0, stall_timeout=1.0)
    slow = Counters(1, 0.5, 1, None)  # 2 s between samples
    assert decide(watch, 0.0, slow).verdict is Verdict.CONTINUE
    assert decide(watch, 5.9, slow).verdict is Verdict.CONTINUE
    assert decide(watch, 6.1, slow).verdict is Verdict.STALLED


def test_no_regular_stream_never_stalls() -> None:
    watch = watch_at(0.0)
    assert decide(watch, 59.0, Counters(0, 0.0, 0, None)).verdict is Verdict.CONTINUE


def test_start_forgets_the_old_session() -> None:
    watch = watch_at(0.0)
    decide(watch, 0.0, eeg(5))
    watch.start(200.0)
    assert decide(watch, 201.0, eeg(5)).verdict is Verdict.CONTINUE  # any count is news


# ---- decide: clock steps ---------------------------------------------------------------


def feed(watch: Watch, lags: list[float], start: int = 1, now: float = 1.0) -> list[Verdict]:
    """Fresh samples, one per look, with these lags; returns the verdicts."""
    return [decide(watch, now, eeg(start + i, lag=lag)).verdict for i, lag in enumerate(lags)]


def test_steady_lag_with_jitter_and_drift_is_no_step() -> None:
    watch = watch_at(0.0, stall_timeout=10.0)
    lags = [0.2 + 0.05 * ((i * 7) % 5 - 2) + 0.001 * i for i in range(200)]
    assert set(feed(watch, lags)) == {Verdict.CONTINUE}


def test_a_forward_step_counts_at_once() -> None:
    watch = watch_at(0.0, stall_timeout=10.0)
    assert set(feed(watch, [0.2] * 6)) == {Verdict.CONTINUE}
    decision = decide(watch, 1.0, eeg(7, lag=0.2 - 5.3))  # sample times 5.3 s later
    assert decision.verdict is Verdict.CLOCK_STEP and decision.amount == pytest.approx(5.3)
    assert set(feed(watch, [0.2 - 5.3] * 3, start=8)) == {Verdict.CONTINUE}  # re-learned


def test_a_backward_step_needs_a_second_look() -> None:
    watch = watch_at(0.0, stall_timeout=10.0)
    feed(watch, [0.2] * 6)
    assert decide(watch, 1.0, eeg(7, lag=3.2)).verdict is Verdict.CONTINUE  # a backlog?
    decision = decide(watch, 1.0, eeg(8, lag=3.21))
    assert decision.verdict is Verdict.CLOCK_STEP and decision.amount == pytest.approx(-3.01,
                                                                                      abs=0.02)


def test_a_pause_is_not_a_step() -> None:
    watch = watch_at(0.0, stall_timeout=10.0)
    feed(watch, [0.2] * 6)
    assert set(feed(watch, [0.85, 0.21, 0.2], start=7)) == {Verdict.CONTINUE}


def test_an_old_lag_is_not_looked_at_twice() -> None:
    watch = watch_at(0.0, stall_timeout=10.0)
    feed(watch, [0.2] * 6)
    # The same sample count: nothing fresh, however odd the lag looks by now.
    assert decide(watch, 1.0, eeg(7, samples=6, lag=-9.0)).verdict is Verdict.CONTINUE


def test_jitter_widens_the_threshold_for_slow_streams() -> None:
    slow = watch_at(0.0, stall_timeout=10.0)
    assert decide(slow, 1.0, Counters(1, 2.0, 1, 0.2)).verdict is Verdict.CONTINUE
    assert decide(slow, 1.0, Counters(2, 2.0, 2, 0.2)).verdict is Verdict.CONTINUE
    # 2 Hz: a sample can be 0.5 s old, so a 0.8 s jump is within threshold + jitter.
    assert decide(slow, 1.0, Counters(3, 2.0, 3, -0.6)).verdict is Verdict.CONTINUE
    fast = watch_at(0.0, stall_timeout=10.0)
    feed(fast, [0.2, 0.2])
    assert decide(fast, 1.0, eeg(3, lag=-0.6)).verdict is Verdict.CLOCK_STEP


# ---- decide: re-sync and refused streams -----------------------------------------------


def test_resync_is_due_by_the_interval_and_rescheduled() -> None:
    watch = watch_at(0.0, stall_timeout=10.0, resync_interval=60.0)
    assert decide(watch, 59.0, eeg(1)).verdict is Verdict.CONTINUE
    assert decide(watch, 60.0, eeg(2)).verdict is Verdict.RESYNC
    watch.resynced(60.5)
    assert decide(watch, 61.0, eeg(3)).verdict is Verdict.CONTINUE
    assert decide(watch, 120.5, eeg(4)).verdict is Verdict.RESYNC


def test_refused_streams_are_retried_on_their_interval_only_when_there_are_some() -> None:
    watch = watch_at(0.0, stall_timeout=10.0, retry_interval=30.0, resync_interval=1e9)
    watch.subscribed(0.0, retry_later=False)
    assert decide(watch, 500.0, Counters(0, 0.0, 0, None)).verdict is Verdict.CONTINUE
    watch.subscribed(500.0, retry_later=True)
    assert decide(watch, 529.0, Counters(0, 0.0, 0, None)).verdict is Verdict.CONTINUE
    assert decide(watch, 530.0, Counters(0, 0.0, 0, None)).verdict is Verdict.RETRY_STREAMS


def test_a_stall_comes_before_anything_else() -> None:
    watch = watch_at(0.0, stall_timeout=1.0, resync_interval=1.0, retry_interval=1.0)
    watch.subscribed(0.0, retry_later=True)
    decide(watch, 0.0, eeg(1))
    assert decide(watch, 5.0, eeg(1)).verdict is Verdict.STALLED
