"""Scenario 2: what real time costs: 1, 4 and 16 EPOC X at 256 Hz with every stream.

The simulator runs in its own process, so its CPU is not counted; the bridge (the real
daemon, LSL on, OSC on to a local UDP sink when the OSC output exists) in another. After
every headset is streaming and a warm-up, the bridge's CPU time (all threads, from
``/proc/<pid>/stat``) over a fixed window gives % of one core; ``VmHWM`` gives its peak
RSS. Baselines: a bare client (:mod:`bridge.bench.clientproc` ``consume``: the same
TLS WebSocket and JSON decoding, nothing else) under the same load and window, and "real
time", i.e. every EEG sample of the window bridged. The simulator's own cost for the
same load is printed too (it used to be a timed test).
"""

from __future__ import annotations

import time
from typing import Any

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
    ratio,
)
from bridge.bench.procs import Child, cpu_percent, cpu_sample, peak_rss_mb

NAME = "cost"
TITLE = "Real-time cost, EPOC X at 256 Hz, every stream"
EEG_RATE = 256
HEADSET_COUNTS = (1, 4, 16)
CPU_TARGETS = {1: 3.0, 16: 50.0}  # % of one core
RSS_TARGET_MB = 100.0
REAL_TIME_SHARE = 0.97  # of the EEG samples the window should hold
START_TIMEOUT_S = 60.0


def wait_all_streaming(bridge: Child, ids: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        samples = bridge.ask("stats")["samples"]
        if all(samples.get(f"{hid}/eeg", 0) > 0 for hid in ids):
            return
        time.sleep(0.2)
    raise RuntimeError(f"not every headset of {len(ids)} was streaming after {START_TIMEOUT_S} s")


def eeg_total(stats: dict[str, Any]) -> int:
    return sum(n for key, n in stats["samples"].items() if key.endswith("/eeg"))


def measure(n: int, warmup: float, window: float, osc: bool) -> dict[str, Any]:
    ids = headset_ids(n)
    with (
        UdpSink() as sink,
        Child("simproc", {"headsets": epoc_x_specs(ids, EEG_RATE), "seed": 2}) as sim,
    ):
        env = bridge_env(sim.ready["url"], sim.ready["ca"], ids, EPOC_X_STREAMS,
                         sink.port if osc else None)
        with Child("bridgeproc", {"env": env}) as bridge:
            if not bridge.ask("streaming"):
                raise RuntimeError("the bridge did not start streaming")
            wait_all_streaming(bridge, ids)
            time.sleep(warmup)
            before, sim_before, stats_before = (
                cpu_sample(bridge.pid), cpu_sample(sim.pid), bridge.ask("stats"))
            datagrams_before = sink.count
            time.sleep(window)
            after, sim_after, stats_after = (
                cpu_sample(bridge.pid), cpu_sample(sim.pid), bridge.ask("stats"))
            datagrams = sink.count - datagrams_before
            rss = peak_rss_mb(bridge.pid)
            sim_rss = peak_rss_mb(sim.pid)
    elapsed = stats_after["mono"] - stats_before["mono"]
    got = eeg_total(stats_after) - eeg_total(stats_before)
    frames = sum(stats_after["samples"].values()) - sum(stats_before["samples"].values())
    return {
        "headsets": n,
        "cpu_percent": cpu_percent(before, after),
        "peak_rss_mb": rss,
        "eeg_share": got / (n * EEG_RATE * elapsed),
        "frames_per_s": frames / elapsed,
        "dropped": stats_after["dropped"],
        "simulator_cpu_percent": cpu_percent(sim_before, sim_after),
        "simulator_peak_rss_mb": sim_rss,
        "osc_datagrams_per_s": datagrams / elapsed,
    }


def measure_client(n: int, warmup: float, window: float) -> float:
    """The bare client's CPU (% of one core) for ``n`` headsets with every stream."""
    ids = headset_ids(n)
    with Child("simproc", {"headsets": epoc_x_specs(ids, EEG_RATE), "seed": 2}) as sim:
        params = {"url": sim.ready["url"], "ca": sim.ready["ca"], "mode": "consume",
                  "headsets": ids, "streams": list(EPOC_X_STREAMS)}
        with Child("clientproc", params) as client:
            time.sleep(warmup)
            before = cpu_sample(client.pid)
            time.sleep(window)
            return cpu_percent(before, cpu_sample(client.pid))


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    warmup, window = options.seconds(2.0, 1.0), options.seconds(8.0, 2.0)
    osc = osc_output_available()
    for n in HEADSET_COUNTS:
        m = measure(n, warmup, window, osc)
        m["bare_client_cpu_percent"] = client = measure_client(n, warmup, window)
        result.figures[str(n)] = m
        real_time = m["eeg_share"] >= REAL_TIME_SHARE
        target = CPU_TARGETS.get(n)
        result.rows.append(
            Row(f"{n} headset(s): CPU, bridge vs bare client", m["cpu_percent"], client,
                "% core", ratio(m["cpu_percent"], client), f"< {target:g}%" if target else "",
                (m["cpu_percent"] < target and real_time) if target else None)
        )
        result.rows.append(
            Row(f"{n} headset(s): EEG samples bridged", 100.0 * m["eeg_share"], 100.0, "%",
                m["eeg_share"], "real time", real_time)
        )
        result.rows.append(
            Row(f"{n} headset(s): bridge peak RSS", m["peak_rss_mb"], None, "MiB", None,
                f"< {RSS_TARGET_MB:g}" if n == 16 else "",
                m["peak_rss_mb"] < RSS_TARGET_MB if n == 16 else None)
        )
    if osc:  # what OSC adds: the smallest and the largest case again, LSL only
        for n in (HEADSET_COUNTS[0], HEADSET_COUNTS[-1]):
            lsl_only = measure(n, warmup, window, False)
            result.figures[f"{n}_lsl_only"] = lsl_only
            client = result.figures[str(n)]["bare_client_cpu_percent"]
            result.rows.append(
                Row(f"{n} headset(s), LSL only (OSC off): bridge CPU",
                    lsl_only["cpu_percent"], client, "% core",
                    ratio(lsl_only["cpu_percent"], client))
            )
    sixteen = result.figures[str(HEADSET_COUNTS[-1])]
    result.rows.append(
        Row("16 headsets: simulator CPU (its own process)", sixteen["simulator_cpu_percent"],
            None, "% core")
    )
    result.notes.append(
        "frames/s through the bridge: " + ", ".join(
            f"{n}: {result.figures[str(n)]['frames_per_s']:.0f}" for n in HEADSET_COUNTS)
    )
    if osc:
        result.notes.append(
            "OSC datagrams/s at the sink: " + ", ".join(
                f"{n}: {result.figures[str(n)]['osc_datagrams_per_s']:.0f}"
                for n in HEADSET_COUNTS)
            + " (no rate caps; each EEG sample is one datagram)"
        )
    result.notes.append(
        f"CPU over a {window:g} s window after {warmup:g} s warm-up; "
        f"OSC {'on (local UDP sink)' if osc else 'n/a (no OSC output yet)'}; no LSL consumer"
    )
    return result
