"""Scenario 3: latency from the simulator's send to the LSL inlet and to the OSC receiver.

One EPOC X at 256 Hz with every stream (real-time load). The simulator notes when each
EEG frame leaves (:mod:`bridge.bench.simproc` ``record_sends``); the bench process
notes when each sample arrives at a pylsl inlet and when each EEG OSC message arrives
at a local UDP socket. All three processes read CLOCK_MONOTONIC (``time.monotonic()``
= ``pylsl.local_clock()`` on Linux), so the differences need no clock translation.
Baselines: the same simulator's frames' arrival at the limit client
(:mod:`bridge.bench.limitproc` ``stamp``, picows + orjson: the fastest receiver) and at a
websockets + json client (:mod:`bridge.bench.clientproc` ``stamp``), each on a headset
of its own, and liblsl alone: an outlet in this process pushing 256 Hz samples
stamped ``local_clock()`` to an inlet here (what the LSL hop alone costs).
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pylsl

from bridge.bench.common import (
    EPOC_X_STREAMS,
    Options,
    Row,
    ScenarioResult,
    UdpSink,
    bridge_env,
    epoc_x_specs,
    headset_ids,
    osc_output_available,
    percentile,
    ratio,
)
from bridge.bench.cost import wait_all_streaming
from bridge.bench.inlet import InletRecorder
from bridge.bench.procs import Child
from bridge.outputs.lsl import source_id_for

NAME = "latency"
TITLE = "Latency, simulator send -> receiver (1 EPOC X, every stream)"
EEG_RATE = 256
TARGET_P99_OVER_LIMIT_MS = 1.0  # the bridge's LSL p99 at most this much over the limit's


def headset_clock(state: dict[str, Any], hid: str) -> dict[str, float]:
    clock: dict[str, float] = next(h for h in state["headsets"] if h["id"] == hid)["clock"]
    return clock


def send_times(sends: list[list[Any]], hid: str, epoch_anchor: float) -> dict[int, float]:
    """Sample index -> send time, for one headset's EEG frames."""
    return {round((t - epoch_anchor) * EEG_RATE): mono for h, t, mono in sends if h == hid}


def osc_counter(datagram: bytes) -> float:
    """The first float argument of an OSC message (COUNTER in the EEG vector)."""
    end = datagram.find(b"\0")
    address_len = (end // 4 + 1) * 4
    tags_end = datagram.find(b"\0", address_len)
    args = ((tags_end - address_len) // 4 + 1) * 4 + address_len
    value: float = struct.unpack_from(">f", datagram, args)[0]
    return value


def index_from_counter(counter: float, arrival: float, mono_anchor: float, delay_s: float) -> int:
    """The sample index k (k % rate == COUNTER) of the newest sample due by ``arrival``."""
    latest = int((arrival - mono_anchor - delay_s) * EEG_RATE)
    return latest - (latest - round(counter)) % EEG_RATE


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values_s]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else float("nan")}


def lsl_hop(seconds: float) -> list[float]:
    """push -> inlet latencies (s) of a bare liblsl outlet at 256 Hz, 19 float32 channels."""
    ids = headset_ids(1)
    info = pylsl.StreamInfo("cortex-bridge-bench-hop", "EEG", 19, EEG_RATE, "float32",
                            f"cortex-bridge-bench:{ids[0]}")
    outlet = pylsl.StreamOutlet(info, chunk_size=0)
    sample = [4200.0] * 19
    with InletRecorder(info.source_id()) as inlet:
        time.sleep(0.5)
        inlet.recording = True
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            outlet.push_sample(sample, pylsl.local_clock(), True)
            n += 1
            time.sleep(max(0.0, start + n / EEG_RATE - time.monotonic()))
        time.sleep(0.2)
        inlet.recording = False
    del outlet
    return [arrival - stamp for stamp, arrival, _ in inlet.samples]


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    seconds = options.seconds(10.0, 2.0)
    osc = osc_output_available()
    ours_id, base_id, limit_id = headset_ids(3)
    sim_config = {"headsets": epoc_x_specs([ours_id, base_id, limit_id], EEG_RATE), "seed": 3,
                  "record_sends": True}
    with UdpSink(keep=b"/eeg") as sink, Child("simproc", sim_config) as sim:
        url, ca = sim.ready["url"], sim.ready["ca"]
        env = bridge_env(url, ca, [ours_id], EPOC_X_STREAMS, sink.port if osc else None)
        with Child("bridgeproc", {"env": env}) as bridge:
            if not bridge.ask("streaming"):
                raise RuntimeError("the bridge did not start streaming")
            wait_all_streaming(bridge, [ours_id])
            client_params = {"url": url, "ca": ca, "headset": base_id, "mode": "stamp",
                             "seconds": seconds + 1.0}
            limit_params = {**client_params, "headset": limit_id}
            with (
                InletRecorder(source_id_for(ours_id, "eeg")) as inlet,
                Child("clientproc", client_params) as client,
                Child("limitproc", limit_params) as limit_client,
            ):
                time.sleep(0.5)
                sim.ask("sends")  # forget the start-up
                sink.kept.clear()
                inlet.recording = True
                time.sleep(seconds)
                inlet.recording = False
                kept = list(sink.kept)
                arrivals = client.ask("result", timeout=seconds + 30)["arrivals"]
                limit_arrivals = limit_client.ask("result", timeout=seconds + 30)["arrivals"]
            sends = sim.ask("sends")
            state = sim.ask("state")
    ours_clock, base_clock = headset_clock(state, ours_id), headset_clock(state, base_id)
    limit_clock = headset_clock(state, limit_id)
    ours_sent = send_times(sends, ours_id, ours_clock["epochAnchor"])
    base_sent = send_times(sends, base_id, base_clock["epochAnchor"])
    limit_sent = send_times(sends, limit_id, limit_clock["epochAnchor"])
    to_lsl = [arrival - ours_sent[k] for stamp, arrival, _ in inlet.samples
              if (k := round((stamp - ours_clock["monotonicAnchor"]) * EEG_RATE)) in ours_sent]
    to_osc = [arrival - ours_sent[k] for arrival, dgram in kept
              if (k := index_from_counter(osc_counter(dgram), arrival,
                                          ours_clock["monotonicAnchor"], 0.0)) in ours_sent]
    baseline = [arrival - base_sent[k] for t, arrival in arrivals
                if (k := round((t - base_clock["epochAnchor"]) * EEG_RATE)) in base_sent]
    at_limit = [arrival - limit_sent[k] for t, arrival in limit_arrivals
                if (k := round((t - limit_clock["epochAnchor"]) * EEG_RATE)) in limit_sent]
    hop = summary(lsl_hop(options.seconds(5.0, 1.0)))
    lsl, osc_fig, base = summary(to_lsl), summary(to_osc), summary(baseline)
    lim = summary(at_limit)
    result.figures = {"lsl": lsl, "osc": osc_fig if osc else None, "bare_client": base,
                      "limit_client": lim, "lsl_hop_alone": hop, "seconds": seconds}
    within = lsl["p99_ms"] - lim["p99_ms"]
    result.rows += [
        Row("-> LSL inlet p50 (baseline: limit client)", lsl["p50_ms"], lim["p50_ms"], "ms",
            ratio(lsl["p50_ms"], lim["p50_ms"])),
        Row("-> LSL inlet p99 (baseline: limit client)", lsl["p99_ms"], lim["p99_ms"], "ms",
            ratio(lsl["p99_ms"], lim["p99_ms"]), f"<= limit + {TARGET_P99_OVER_LIMIT_MS:g} ms",
            within <= TARGET_P99_OVER_LIMIT_MS),
        Row("websockets + json client p50 / p99", base["p50_ms"], base["p99_ms"], "ms",
            note="p50 in ours, p99 in baseline"),
        Row("liblsl hop alone, outlet -> inlet p50 / p99", hop["p50_ms"], hop["p99_ms"], "ms",
            note="p50 in ours, p99 in baseline"),
    ]
    if osc:
        result.rows += [
            Row("-> OSC receiver p50 (baseline: limit client)", osc_fig["p50_ms"],
                lim["p50_ms"], "ms", ratio(osc_fig["p50_ms"], lim["p50_ms"])),
            Row("-> OSC receiver p99 (baseline: limit client)", osc_fig["p99_ms"],
                lim["p99_ms"], "ms", ratio(osc_fig["p99_ms"], lim["p99_ms"])),
        ]
    else:
        result.rows.append(Row("-> OSC receiver", None, None, "ms", note="n/a: no OSC output"))
    result.notes.append(
        "baselines: the same simulator's frames (other headsets) at the limit client "
        "(picows + orjson) and at a websockets + json client; "
        f"{lsl['n']} LSL / {osc_fig['n']} OSC / {lim['n']} limit / {base['n']} websockets "
        f"EEG samples over {seconds:g} s"
    )
    return result
