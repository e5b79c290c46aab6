"""Faults on demand: each one observed from a real client, the way a bridge would see it.

Expected behaviour comes from cortex_api.md where Cortex has one (warnings 0/1 on headset
loss and 103 after the data timeout, §6; -32015 for an expired token, §9.1; sessions closed
when the app disconnects, §4.1; COUNTER gaps and INTERPOLATED, §5.4, §10.8) and from
docs/simulator.md for the simulator's own control interface.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time

import pytest
from websockets.exceptions import ConnectionClosed


def _first(client, prefix: str) -> str:
    return next(h["id"] for h in client.result("queryHeadsets") if h["id"].startswith(prefix))


def _streaming(client, prefix="INSIGHT", streams=("eeg",)):
    session = client.open_session(_first(client, prefix))
    client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=list(streams)
    )
    return session


def _eeg(client, sid=None):
    return [(t, m["time"], m["eeg"]) for t, m in client.frames("eeg", sid)]


@pytest.fixture
def sim(sim_factory):
    return sim_factory(
        headsets=["insight:status=connected", "epocx:rate=256,status=connected"], control=True
    )


@pytest.mark.parametrize(("mode", "code"), [("abort", 1006), ("close", 1001)])
def test_drop_connections(sim, cortex_client, mode, code):
    """The socket goes away; sessions close as on any disconnect (§4.1); a new
    connection starts from scratch."""
    client = cortex_client(sim)
    _streaming(client)
    client.pump(0.2)
    assert sim.call(lambda s: s.drop_connections(mode)) == 1
    with pytest.raises(ConnectionClosed) as info:
        while True:
            client.ws.recv(timeout=3)
    assert info.value.rcvd is None if mode == "abort" else info.value.rcvd.code == code
    again = cortex_client(sim)
    again.authorize()
    deadline = time.monotonic() + 2
    while again.result("querySessions", cortexToken=again.token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert again.result("querySessions", cortexToken=again.token) == []
    assert again.open_session(_first(again, "INSIGHT"))["status"] == "activated"


def test_drop_connections_over_the_wire_answers_first(sim, cortex_client):
    client = cortex_client(sim)
    result = client.result("simulator.fault", kind="drop_connections", mode="close")
    assert result == {"kind": "drop_connections", "connections": 1, "mode": "close"}
    with pytest.raises(ConnectionClosed):
        client.ws.recv(timeout=3)


def test_headset_off_and_on(sim, cortex_client):
    """Off: warnings 0 and 1 to the session's app, no more data, "connecting" until the
    timeout, then warning 103 and the headset is gone. On: discovered, connectable."""
    client = cortex_client(sim)
    session = _streaming(client)
    hid = session["headset"]["id"]
    client.pump(0.3)
    sim.call(lambda s: s.set_headset_power(hid, False))
    w0 = client.wait_warning(0)
    w1 = client.wait_warning(1)
    assert (
        w0["warning"]["message"]["sessionId"]
        == session["id"]
        == w1["warning"]["message"]["sessionId"]
    )
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "connecting"
    cut = max(t for t, m in client.inbox if m is w1)
    w103 = client.wait_warning(103, timeout=3)["warning"]["message"]
    assert w103["headsetId"] == hid and isinstance(w103["behavior"], str)
    assert [t for t, _, _ in _eeg(client) if t > cut] == []
    assert client.result("queryHeadsets", id=hid) == []
    assert client.error("controlDevice", command="connect", headset=hid)["code"] == -32004
    sim.call(lambda s: s.set_headset_power(hid, True))
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "discovered"
    client.inbox.clear()
    client.result("controlDevice", command="connect", headset=hid)
    client.wait_warning(104)
    again = client.result("createSession", cortexToken=client.token, headset=hid, status="active")
    client.result("subscribe", cortexToken=client.token, session=again["id"], streams=["eeg"])
    client.wait_for(lambda m: isinstance(m, dict) and m.get("sid") == again["id"])
    state = next(h for h in sim.state()["headsets"] if h["id"] == hid)
    assert state["connectCount"] == 2 and state["status"] == "connected"


def test_headset_back_on_before_the_timeout_sends_no_103(sim, cortex_client):
    client = cortex_client(sim)
    hid = _streaming(client)["headset"]["id"]
    sim.call(lambda s: s.set_headset_power(hid, False))
    client.wait_warning(1)
    sim.call(lambda s: s.set_headset_power(hid, True))
    client.pump(1.0)
    assert not [
        m
        for _, m in client.inbox
        if isinstance(m, dict) and m.get("warning", {}).get("code") == 103
    ]
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "discovered"


def test_token_expiry(sim, cortex_client):
    client = cortex_client(sim)
    old = client.authorize()
    assert sim.call(lambda s: s.expire_tokens()) == 1
    assert client.error("querySessions", cortexToken=old)["code"] == -32015
    new = client.authorize()
    assert new != old
    assert client.result("querySessions", cortexToken=new) == []
    assert client.error("querySessions", cortexToken=old)["code"] == -32015


def test_delay_makes_frames_arrive_late_by_the_delay(sim, cortex_client):
    """Real Cortex delivers ~200 ms after the sample time; --delay-ms emulates it."""
    client = cortex_client(sim)
    _streaming(client)
    client.pump(0.5)
    base = statistics.median(t - ts for t, ts, _ in _eeg(client))
    assert 0 <= base < 0.05
    sim.call(lambda s: s.set_delay_ms(300))
    client.inbox.clear()
    client.pump(0.5)  # the switch: no new frames for 0.3 s
    client.inbox.clear()
    client.pump(1.0)
    lags = [t - ts for t, ts, _ in _eeg(client)]
    assert statistics.median(lags) == pytest.approx(0.3 + base, abs=0.03)
    assert min(lags) >= 0.29


def test_delay_flag_at_start(sim_factory, cortex_client):
    client = cortex_client(sim_factory(headsets=["insight:status=connected"], delay_ms=200))
    _streaming(client)
    client.pump(1.0)
    lags = [t - ts for t, ts, _ in _eeg(client)]
    assert statistics.median(lags) == pytest.approx(0.2, abs=0.04)


def test_clock_offset_steps_running_headsets(sim, cortex_client):
    """The headset clock jumps by the offset: sample times, the sync adjustment and the
    marker window all follow; samples themselves continue without a gap."""
    client = cortex_client(sim)
    session = _streaming(client)
    hid = session["headset"]["id"]
    before = client.result(
        "syncWithHeadsetClock", headset=hid, monotonicTime=time.monotonic(), systemTime=time.time()
    )
    client.pump(0.3)
    sim.call(lambda s: s.set_clock_offset(3600.0))
    client.inbox.clear()
    client.pump(0.5)
    frames = _eeg(client)
    assert statistics.median(ts - t for t, ts, _ in frames) == pytest.approx(3600.0, abs=0.05)
    counters = [v[0] for _, _, v in frames]
    assert all((b - a) % 128 == 1 for a, b in itertools.pairwise(counters))
    after = client.result(
        "syncWithHeadsetClock", headset=hid, monotonicTime=time.monotonic(), systemTime=time.time()
    )
    assert after["adjustment"] - before["adjustment"] == pytest.approx(3600.0, abs=1e-6)
    clock = next(h for h in sim.state()["headsets"] if h["id"] == hid)["clock"]
    assert clock["offset"] == 3600.0
    client.result("createRecord", cortexToken=client.token, session=session["id"], title="offset")
    stale = client.error(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=time.time() * 1000,
        value=1,
        label="x",
    )
    assert stale["code"] == -32115  # wall-clock markers are now an hour "in the past"
    synced_ms = (time.monotonic() + after["adjustment"]) * 1000
    assert client.result(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=synced_ms,
        value=1,
        label="x",
    )


def test_clock_offset_flag_at_start(sim_factory, cortex_client):
    client = cortex_client(
        sim_factory(headsets=["insight:status=connected"], clock_offset_s=-120.0)
    )
    hid = _first(client, "INSIGHT")
    sync = client.result(
        "syncWithHeadsetClock", headset=hid, monotonicTime=time.monotonic(), systemTime=time.time()
    )
    assert sync["adjustment"] == pytest.approx(time.time() - time.monotonic() - 120.0, abs=0.01)


def test_dropped_samples_leave_a_counter_gap(sim, cortex_client):
    client = cortex_client(sim)
    _streaming(client, "EPOCX", ("eeg", "mot"))
    client.pump(0.3)
    sim.call(lambda s: s.drop_samples("1", "eeg", 10))
    client.pump(0.5)
    frames = _eeg(client)
    gaps = [
        (round((b[1] - a[1]) * 256), (b[2][0] - a[2][0]) % 256)
        for a, b in itertools.pairwise(frames)
        if round((b[1] - a[1]) * 256) != 1
    ]
    assert gaps == [(11, 11)]  # ten samples missing: COUNTER and time jump together
    state = next(h for h in sim.state()["headsets"] if h["model"] == "epocx")
    assert state["samplesDropped"]["eeg"] == 10


def test_interpolated_samples_are_flagged(sim, cortex_client):
    client = cortex_client(sim)
    _streaming(client, "EPOCX", ("eeg", "mot"))
    client.pump(0.3)
    sim.call(lambda s: s.interpolate_samples(1, "eeg", 5))
    sim.call(lambda s: s.interpolate_samples(1, "mot", 2))
    client.pump(0.5)
    flags = [v[1] for _, _, v in _eeg(client)]
    first = flags.index(1)
    assert flags[first : first + 5] == [1] * 5 and sum(flags) == 5
    counters = [v[0] for _, _, v in _eeg(client)]
    assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(counters))
    assert sum(m["mot"][1] for _, m in client.frames("mot")) == 2


def test_malformed_frames(sim, cortex_client):
    client = cortex_client(sim)
    session = _streaming(client)
    sim.call(lambda s: s.send_malformed(4))
    client.pump(0.3)
    assert any(not r.strip().endswith("}") for r in client.raw)  # not JSON
    odd = [
        m
        for _, m in client.inbox
        if isinstance(m, dict) and "eeg" in m and not isinstance(m["eeg"], list)
    ]
    assert any(m["eeg"] is None and m["time"] is None and m["sid"] == session["id"] for m in odd)
    assert any(isinstance(m["eeg"], str) and not isinstance(m["sid"], str) for m in odd)
    unknown = [
        m
        for _, m in client.inbox
        if isinstance(m, dict) and isinstance(m.get("eeg"), list) and m["sid"] != session["id"]
    ]
    assert len(unknown) == 1
    assert client.result("getCortexInfo")  # the connection is still usable


def test_stall_holds_everything_then_catches_up(sim, cortex_client):
    """Nothing (data, answers) leaves for the stall; then every due frame is sent with
    its original time, so there are no COUNTER gaps, only a delivery gap."""
    client = cortex_client(sim)
    _streaming(client)
    client.pump(0.3)
    sim.call(lambda s: s.stall(1.0))
    started = time.time()
    answer = client.request("getCortexInfo")
    assert "result" in answer and time.time() - started >= 0.9
    client.pump(0.5)
    frames = _eeg(client)
    arrivals = [t for t, _, _ in frames]
    assert max(b - a for a, b in itertools.pairwise(arrivals)) >= 0.9
    counters = [v[0] for _, _, v in frames]
    assert all((b - a) % 128 == 1 for a, b in itertools.pairwise(counters))


def test_mute_stops_one_headsets_data_for_good_while_answers_go_on(sim, cortex_client):
    """A muted session sends nothing for the time given and never sends what fell due
    then (a COUNTER gap afterwards), while requests are answered at once."""
    client = cortex_client(sim)
    _streaming(client)
    client.pump(0.3)
    sim.call(lambda s: s.mute(None, 1.0))
    client.pump(0.05)
    before = len(_eeg(client))
    started = time.time()
    assert "result" in client.request("getCortexInfo")
    assert time.time() - started < 0.5  # answers are not held
    client.pump(0.6)
    assert len(_eeg(client)) - before <= 2  # at most what was on the wire
    client.pump(1.0)
    times = [t for _, t, _ in _eeg(client)]
    assert max(b - a for a, b in itertools.pairwise(times)) >= 0.9  # never sent
    assert len(times) > before + 20  # data again


def test_stall_over_the_wire_answers_before_stalling(sim, cortex_client):
    """Asked for on the wire, the stall starts just after its own answer has left."""
    client = cortex_client(sim)
    started = time.time()
    result = client.result("simulator.fault", kind="stall", seconds=0.8)
    assert result == {"kind": "stall", "seconds": 0.8}
    answered = time.time()
    assert answered - started < 0.5
    time.sleep(0.1)
    client.result("getCortexInfo")
    assert time.time() - answered >= 0.7


def test_wire_control_state_and_errors(sim, cortex_client):
    client = cortex_client(sim)
    state = client.result("simulator.state")
    assert {"headsets", "sessions", "records", "delayMs", "clockOffset"} <= set(state)
    headset = state["headsets"][0]
    assert {
        "id",
        "model",
        "status",
        "eegRate",
        "memsRate",
        "clock",
        "framesSent",
        "markers",
    } <= set(headset)
    assert set(headset["clock"]) == {"epochAnchor", "monotonicAnchor", "offset"}
    assert client.result("simulator.fault", kind="delay", ms=50) == {"kind": "delay", "delayMs": 50}
    assert client.result("simulator.state")["delayMs"] == 50
    assert client.error("simulator.fault", kind="meteor")["code"] == -32602
    assert client.error("simulator.fault", kind="stall")["code"] == -32018
    assert client.error("simulator.fault")["code"] == -32018


def test_scheduled_fault_from_config(sim_factory, cortex_client):
    sim = sim_factory(
        headsets=["insight:status=connected"], faults=["headset_power:headset=0,on=false@0.8"]
    )
    client = cortex_client(sim)
    session = _streaming(client)
    assert client.wait_warning(1, timeout=3)["warning"]["message"]["sessionId"] == session["id"]


def test_flood_sends_the_first_frames_at_once(sim_factory, cortex_client):
    """--flood N: the first N eeg frames of a subscription go out as fast as the socket
    takes them, stamped k/rate apart; after that, frames wait for their own time."""
    flood = 512
    client = cortex_client(sim_factory(headsets=["epocx:rate=256,status=connected"], flood=flood))
    session = client.open_session(_first(client, "EPOCX"))
    started = time.time()
    client.result("subscribe", cortexToken=client.token, session=session["id"], streams=["eeg"])
    deadline = time.monotonic() + 5
    while len(_eeg(client)) < flood and time.monotonic() < deadline:
        client.pump(0.05)
    first = _eeg(client)[:flood]
    assert len(first) == flood
    assert first[-1][0] - started < 1.0  # 2 s of data in well under a second
    times = [ts for _, ts, _ in first]
    assert all(
        b - a == pytest.approx(1 / 256, abs=2e-4) for a, b in itertools.pairwise(times)
    )
    client.pump(2.5)
    after = _eeg(client)[flood:]
    assert after, "frames resume after the flood"
    assert after[0][1] == pytest.approx(times[-1] + 1 / 256, abs=2e-4)  # no gap in samples
    assert after[0][0] >= after[0][1] - 0.002  # ...and no frame before its time
    counters = [v[0] for _, _, v in _eeg(client)]
    assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(counters))


def test_json_text_of_data_frames(sim, cortex_client):
    """Data frames are compact JSON objects with exactly three keys, one per message."""
    client = cortex_client(sim)
    _streaming(client)
    text = ""
    for _ in range(20):
        text = client.ws.recv(timeout=2)
        if '"eeg"' in text:
            break
    frame = json.loads(text)
    assert list(frame) == ["eeg", "sid", "time"]
