"""OSC end to end: simulator over real TLS -> daemon with [osc] on -> real receivers.

Every test runs against the Cortex 2+ simulator and its Cortex 1.x dialect (the
``dialect`` fixture): OSC looks the same with either, but for the eq stream, which 1.x
does not have.

Rates are measured on the sample clock (``osc.timestamps = "lsl"`` puts each sample's
time into its message), so they do not depend on how late a loaded machine delivers;
arrival counts over several seconds are checked with wide tolerances only.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest
from bridge_harness import BridgeThread, settings_for
from osc_receivers import (
    OscDump,
    PythonOscReceiver,
    Received,
    free_udp_port,
    receiver_path,
)

from bridge.outputs.osc import ACTION_REFRESH_SECONDS
from bridge.simulator import SimulatorConfig, SimulatorThread

EEG_RATE = 128


@pytest.fixture
def headset_id(unique_id: str) -> str:
    return f"EPOCX-{unique_id[:8].upper()}"


@pytest.fixture
def sim(headset_id: str, dialect: str) -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        port=0,
        dialect=dialect,
        headsets=[f"epocx:id={headset_id},status=connected"],
        seed=5,
        delay_ms=200.0,
    )
    with SimulatorThread(config) as running:
        yield running


def sample_rate(messages: list[Received]) -> tuple[float, float]:
    """(rate, completeness) on the sample clock: the first three int args are the time.

    The rate is 1 / the median interval, so a datagram the receiver's buffer dropped on a
    loaded machine (UDP) does not bend it; completeness is messages received / messages
    the time span implies.
    """
    times = np.array([m.args[0] * 86400 + m.args[1] + m.args[2] / 1e6 for m in messages])
    intervals = np.diff(times)
    assert np.all(intervals > 0)
    rate = 1.0 / float(np.median(intervals))
    return rate, len(times) / (1 + (times[-1] - times[0]) * rate)


def test_every_stream_arrives_with_its_shape_and_rate(
    sim: SimulatorThread, headset_id: str, dialect: str
) -> None:
    with PythonOscReceiver() as receiver, OscDump() as dump:
        settings = settings_for(
            sim,
            osc__enabled="true",
            osc__targets=f"127.0.0.1:{receiver.port},127.0.0.1:{dump.port}",
            osc__rate_caps="eeg=32",
            osc__timestamps="lsl",
        )
        with BridgeThread(settings) as bridge:
            bridge.wait_streaming()
            receiver.wait_for(lambda m: m.address == "/emotiv/met", timeout=15)
            start = time.monotonic()
            time.sleep(6.0)
            end = time.monotonic()
            time.sleep(0.5)
        assert bridge.error is None
    arrived = receiver.counts(start, end)
    expected = {
        "/emotiv/eeg": 32.0,
        "/emotiv/mot": 64.0,
        "/emotiv/pow": 8.0,
        "/emotiv/com": 8.0,
        "/emotiv/fac": 32.0,
        "/emotiv/dev": 2.0,
        "/emotiv/eq": 2.0,
        "/emotiv/met": 2.0,
    }
    if dialect == "v1":
        del expected["/emotiv/eq"]  # Cortex 1.x has no eq stream
        assert not receiver.of("/emotiv/eq")
    seconds = end - start
    report = []
    for address, rate in expected.items():
        messages = [m for m in receiver.of(address) if start <= m.at < end]
        on_sample_clock, complete = sample_rate(receiver.of(address))
        report.append(
            f"{address} {on_sample_clock:.2f} Hz, {complete:.1%} "
            f"({arrived[address] / seconds:.1f}/s)"
        )
        assert on_sample_clock == pytest.approx(rate, rel=0.02), address
        assert complete > 0.9, address
        assert 0.6 * rate * seconds - 2 <= len(messages) <= 1.4 * rate * seconds + 2, address
    print("\n" + "; ".join(report))
    # The action name at the com rate (+-1: a sample's messages may straddle the end of
    # the window); each per-action number when it changes, and all of them on the first
    # com sample at least a second after the last refresh (so <= 1 s + 1/8 s apart).
    assert abs(arrived["/emotiv/com/action"] - arrived["/emotiv/com"]) <= 1
    refreshes = int(seconds / (ACTION_REFRESH_SECONDS + 1 / expected["/emotiv/com"]))
    assert refreshes <= arrived["/emotiv/com/push"] <= arrived["/emotiv/com"] + 1
    # ... so what a receiver holds is the truth: the last action's power on its own
    # address, 0 on every other action's.
    name, power = receiver.of("/emotiv/com/action")[-1].args
    held = {m.address.rsplit("/", 1)[1]: m.args for m in receiver.snapshot()
            if m.address.startswith("/emotiv/com/")
            and m.address not in ("/emotiv/com/action", "/emotiv/com/labels")}
    assert len(held) >= 10 and held[name] == (power,)
    assert all(args == (0.0,) for action, args in held.items() if action != name)
    # Status once a second, flowing.
    statuses = [m for m in receiver.of("/emotiv/status") if start <= m.at < end]
    assert 3 <= len(statuses) <= 9 and all(m.args == (1,) for m in statuses)
    # Values: EEG around Emotiv's ~4200 uV offset (args: day, s, us, COUNTER, INTERPOLATED,
    # AF3...).
    eeg = receiver.of("/emotiv/eeg")[-1].args
    assert 3000 < eeg[5] < 5500
    # liblo's oscdump decodes the same stream with our tags.
    line = dump.of("/emotiv/eeg")[-1]
    assert line.tags == "iii" + "f" * (len(eeg) - 3)
    assert dump.of("/emotiv/com/push")[-1].tags == "f"
    assert dump.of("/emotiv/com/action")[-1].tags == "sf"
    assert dump.of("/emotiv/fac/eye/action")[-1].tags == "sf"
    assert dump.of("/emotiv/status")[-1].tags == "i"
    assert dump.of("/emotiv/met")[-1].tags.startswith("iiif")
    assert abs(len(dump.of("/emotiv/eeg")) - len(receiver.of("/emotiv/eeg"))) <= 10
    assert not dump.errors


# OSC targets behave alike whichever dialect the Cortex speaks: Cortex 2+ only.
@pytest.mark.parametrize("dialect", ["v2"], indirect=True)
def test_closed_port_and_full_receiver_do_not_touch_lsl(
    sim: SimulatorThread, headset_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody listens on one target, the other never reads (1 KiB buffer): LSL keeps its
    full rate for 10 s, and the refused target is logged once, not per message."""
    closed = free_udp_port()
    clogged = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    clogged.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    clogged.bind(("127.0.0.1", 0))
    clogged_port = clogged.getsockname()[1]
    settings = settings_for(
        sim,
        osc__enabled="true",
        # The closed port takes bundles (one datagram per tick), the clogged one each
        # message alone: the most datagrams, 18 per EEG sample in the split layout.
        osc__targets=f'["127.0.0.1:{closed}", '
                     f'{{"target": "127.0.0.1:{clogged_port}", "bundle": false}}]',
        osc__layout="split",
    )
    try:
        with caplog.at_level(logging.INFO, logger="bridge"), BridgeThread(settings) as bridge:
            bridge.wait_streaming()
            # A generous wait: on a loaded machine liblsl's resolve can take a while.
            found = pylsl.resolve_byprop("source_id", f"cortex-bridge:{headset_id}:eeg", 1, 30)
            assert found
            inlet = pylsl.StreamInlet(found[0], max_buflen=60)
            inlet.open_stream(5)
            labels = inlet.info(5).get_channel_labels()
            counters: list[float] = []
            stamps: list[float] = []
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                chunk, chunk_stamps = inlet.pull_chunk(timeout=0.2)
                counters.extend(row[labels.index("COUNTER")] for row in chunk)
                stamps.extend(chunk_stamps)
            inlet.close_stream()
            assert bridge.app is not None and bridge.app.osc is not None
            stats = {s.target: s for s in bridge.app.osc.target_stats()}
        assert bridge.error is None
    finally:
        clogged.close()
    sent = next(h for h in sim.state()["headsets"] if h["id"] == headset_id)["framesSent"]
    bridged = bridge.app.board.stream(headset_id, "eeg").samples
    steps = np.diff(np.asarray(counters, dtype=int)) % EEG_RATE
    span = stamps[-1] - stamps[0]
    print(
        f"\nLSL inlet: {len(counters)} EEG samples in 10 s ({len(counters) / 10:.1f} Hz, "
        f"{(len(counters) - 1) / span:.2f} Hz on the sample clock), "
        f"simulator sent {sent['eeg']}, bridge pushed {bridged}; OSC refused target: "
        f"{stats[f'127.0.0.1:{closed}'].failed} failed sends"
    )
    assert bridged == sent["eeg"]  # nothing lost between Cortex and the outlet
    gaps = np.flatnonzero(steps != 1)
    assert gaps.size == 0, f"the LSL stream has gaps at {gaps[:10]} of {len(counters)}"
    # Full rate: contiguous samples (no COUNTER gap) covering most of the 10 s.
    assert span > 8.0 and (len(counters) - 1) / span == pytest.approx(EEG_RATE, rel=0.01)
    refused = stats[f"127.0.0.1:{closed}"]
    assert refused.bundles and refused.failed > 100  # counted per datagram
    warnings = [
        r for r in caplog.records if r.name == "bridge.osc" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"127.0.0.1:{closed}" in warnings[0].getMessage()
    full = stats[f"127.0.0.1:{clogged_port}"]
    assert not full.bundles and full.sent > 1000  # the kernel drops what does not fit; we never wait for it


def test_several_headsets_get_their_own_addresses(unique_id: str, dialect: str) -> None:
    ids = [f"EPOCX-{unique_id[:8].upper()}", f"INSIGHT-{unique_id[:8].upper()}"]
    config = SimulatorConfig(
        port=0,
        dialect=dialect,
        headsets=[f"epocx:id={ids[0]},status=connected", f"insight:id={ids[1]},status=connected"],
        seed=9,
    )
    with SimulatorThread(config) as sim, PythonOscReceiver() as receiver:
        settings = settings_for(
            sim,
            cortex__headsets="EPOCX-*,INSIGHT-*",
            cortex__streams="pow,met",
            osc__enabled="true",
            osc__targets=f"127.0.0.1:{receiver.port}",
        )
        with BridgeThread(settings) as bridge:
            bridge.wait_streaming()
            for hid in ids:
                receiver.wait_for(lambda m, h=hid: m.address == f"/emotiv/{h}/pow", timeout=15)
                receiver.wait_for(
                    lambda m, h=hid: m.address == f"/emotiv/{h}/status" and m.args == (1,),
                    timeout=15,
                )
        # On shutdown every headset is reported as not flowing.
        receiver.wait_for(lambda m: m.address == f"/emotiv/{ids[0]}/status" and m.args == (0,))
    assert not receiver.of("/emotiv/pow") and not receiver.of("/emotiv/status")
    insight_pow = receiver.of(f"/emotiv/{ids[1]}/pow")[-1]
    epocx_pow = receiver.of(f"/emotiv/{ids[0]}/pow")[-1]
    assert len(insight_pow.args) == 5 * 5 and len(epocx_pow.args) == 14 * 5


def test_labels_electrodes_bands_and_a_request_from_oscsend(
    sim: SimulatorThread, headset_id: str
) -> None:
    """The bridge against the simulator: every vector's names arrive on start, liblo's
    ``oscsend`` asks for them again, and the electrode and band addresses carry what the
    labels say (oscdump reads the same)."""
    oscsend = receiver_path("oscsend", "liblo-tools")
    request_port = free_udp_port()
    with PythonOscReceiver() as receiver, OscDump() as dump:
        settings = settings_for(
            sim,
            cortex__streams="eeg,pow,met",
            osc__enabled="true",
            osc__targets=f"127.0.0.1:{receiver.port},127.0.0.1:{dump.port}",
            osc__listen=f"127.0.0.1:{request_port}",
        )
        with BridgeThread(settings) as bridge:
            bridge.wait_streaming()
            receiver.wait_for(lambda m: m.address == "/emotiv/pow/alpha", timeout=15)
            before = len(receiver.of("/emotiv/eeg/labels"))
            subprocess.run([oscsend, "127.0.0.1", str(request_port), "/emotiv/labels/request"],
                           check=True, timeout=10)
            receiver.wait_for(lambda m: len(receiver.of("/emotiv/eeg/labels")) > before)
        assert bridge.error is None
    eeg_labels = receiver.of("/emotiv/eeg/labels")[-1].args
    electrodes = receiver.of("/emotiv/eeg/electrodes/labels")[-1].args
    assert eeg_labels[:2] == ("COUNTER", "INTERPOLATED") and "RAW_CQ" in eeg_labels
    assert electrodes == tuple(a for a in eeg_labels if a in electrodes) and len(electrodes) == 14
    assert not {"COUNTER", "INTERPOLATED", "RAW_CQ", "MARKER_HARDWARE"} & set(electrodes)
    full = receiver.of("/emotiv/eeg")[-1].args
    assert len(full) == len(eeg_labels)
    assert all(len(m.args) == 14 for m in receiver.of("/emotiv/eeg/electrodes"))
    assert all(3000 < v < 5500 for v in receiver.of("/emotiv/eeg/electrodes")[-1].args)
    met_labels = receiver.of("/emotiv/met/labels")[-1].args
    assert "int" in met_labels and len(receiver.of("/emotiv/met")[-1].args) == len(met_labels)
    pow_labels = receiver.of("/emotiv/pow/labels")[-1].args
    assert len(pow_labels) == 70 and pow_labels[1] == "AF3/alpha"
    for band in ("theta", "alpha", "betaL", "betaH", "gamma"):
        assert receiver.of(f"/emotiv/pow/{band}")
    assert dump.of("/emotiv/met/labels")[-1].tags == "s" * len(
        receiver.of("/emotiv/met/labels")[-1].args)
    assert not dump.errors


def test_emotivbci_preset_end_to_end(sim: SimulatorThread) -> None:
    """Only EmotivBCI's addresses leave the bridge, with EmotivBCI's tags (oscdump)."""
    with OscDump() as dump:
        settings = settings_for(
            sim,
            osc__enabled="true",
            osc__targets=f"127.0.0.1:{dump.port}",
            osc__preset="emotivbci",
        )
        with BridgeThread(settings) as bridge:
            bridge.wait_streaming()
            deadline = time.monotonic() + 15
            while not (dump.of("/met/att") and dump.of("/fac/lAct/smile")
                       and dump.of("/com/push")):
                assert time.monotonic() < deadline, sorted(dump.counts())
                time.sleep(0.1)
        assert bridge.error is None
    addresses = set(dump.counts()) - {"/cortex_bridge_test/probe"}
    allowed = re.compile(r"^/(com/\w+|fac/(eyeAct|uAct|lAct)/\w+|met/(att|int|rel|str|exc|eng))$")
    assert addresses and all(allowed.match(a) for a in addresses), sorted(addresses)
    assert all(line.tags == "f" for a in addresses for line in dump.of(a))
    assert not dump.errors
