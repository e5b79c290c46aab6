"""Scenario 2: what real time costs: 1, 16 and 64 EPOC X at 256 Hz with every stream.

The simulator runs in its own process, so its CPU is not counted; the bridge (the real
daemon, LSL on, OSC on to a local UDP sink when the OSC output exists) in another. After
every headset is streaming and a warm-up, the bridge's CPU time (all threads, from
``/proc/<pid>/stat``) over a fixed window gives % of one core; ``VmHWM`` gives its peak
RSS. Baselines: a bare client (:mod:`bridge.bench.clientproc` ``consume``: the same
TLS WebSocket and JSON decoding, nothing else), the limit (:mod:`bridge.bench.limitproc`,
picows + orjson: the cheapest receive-and-parse) under the same load and window, and
"real time", i.e. every EEG sample of the window bridged and no COUNTER gap. The simulator's own cost for the
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
TITLE = "Real-time cost, 1 / 16 / 64 EPOC X at 256 Hz, every stream"
EEG_RATE = 256
HEADSET_COUNTS = (1, 16, 64)
# Up to this many headsets the bridge runs with OSC on (and again with it off); beyond,
# LSL only: 64 EPOC X send 27 000 OSC datagrams/s, and receiving them in the bench process
# would take the CPU the two processes measured need (the machine has 2 cores).
OSC_UP_TO = 16
LIMIT_RATIO_TARGETS = {16: 3.0}  # bridge CPU / the limit client's CPU
CPU_TARGETS = {64: 100.0}  # % of one core: 64 EPOC X on one core
RSS_TARGET_MB = 80.0
RSS_TARGET_AT = 16
REAL_TIME_SHARE = 0.99  # of the EEG samples the window should hold
START_TIMEOUT_S = 120.0


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
            datagrams_before, messages_before = sink.count, sink.messages
            time.sleep(window)
            after, sim_after, stats_after = (
                cpu_sample(bridge.pid), cpu_sample(sim.pid), bridge.ask("stats"))
            datagrams = sink.count - datagrams_before
            messages = sink.messages - messages_before
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
        "osc_messages_per_s": messages / elapsed,
    }


def measure_client(n: int, warmup: float, window: float, module: str = "clientproc") -> float:
    """A baseline client's CPU (% of one core) for ``n`` headsets with every stream:
    ``clientproc`` (websockets + json) or ``limitproc`` (the limit: picows + orjson)."""
    ids = headset_ids(n)
    with Child("simproc", {"headsets": epoc_x_specs(ids, EEG_RATE), "seed": 2}) as sim:
        params = {"url": sim.ready["url"], "ca": sim.ready["ca"], "mode": "consume",
                  "headsets": ids, "streams": list(EPOC_X_STREAMS)}
        with Child(module, params) as client:
            time.sleep(warmup)
            before = cpu_sample(client.pid)
            time.sleep(window)
            return cpu_percent(before, cpu_sample(client.pid))


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    warmup, window = options.seconds(3.0, 1.0), options.seconds(8.0, 2.0)
    osc = osc_output_available()
    for n in HEADSET_COUNTS:
        with_osc = osc and n <= OSC_UP_TO
        m = measure(n, warmup, window, with_osc)
        m["bare_client_cpu_percent"] = client = measure_client(n, warmup, window)
        m["limit_cpu_percent"] = limit = measure_client(n, warmup, window, "limitproc")
        result.figures[str(n)] = m
        every = m["eeg_share"] >= REAL_TIME_SHARE and m["dropped"] == 0
        r = ratio(m["cpu_percent"], limit)
        ratio_target, cpu_target = LIMIT_RATIO_TARGETS.get(n), CPU_TARGETS.get(n)
        target, met = "", None
        if ratio_target is not None:
            target, met = f"<= {ratio_target:g}x limit", r is not None and r <= ratio_target
        elif cpu_target is not None:
            target, met = f"< {cpu_target:g}%", m["cpu_percent"] < cpu_target and every
        label = "LSL + OSC" if with_osc else "LSL only"
        result.rows.append(Row(f"{n} headset(s), {label}: CPU, bridge vs limit",
                               m["cpu_percent"], limit, "% core", r, target, met))
        result.rows.append(Row(f"{n} headset(s): CPU, websockets + json client vs limit",
                               client, limit, "% core", ratio(client, limit)))
        result.rows.append(
            Row(f"{n} headset(s): EEG samples bridged in the window, COUNTER gaps "
                f"{m['dropped']}", 100.0 * m["eeg_share"], 100.0, "%", m["eeg_share"],
                "every sample", every)
        )
        result.rows.append(
            Row(f"{n} headset(s): bridge peak RSS", m["peak_rss_mb"], None, "MiB", None,
                f"< {RSS_TARGET_MB:g}" if n == RSS_TARGET_AT else "",
                m["peak_rss_mb"] < RSS_TARGET_MB if n == RSS_TARGET_AT else None)
        )
        result.rows.append(Row(f"{n} headset(s): simulator CPU (its own process)",
                               m["simulator_cpu_percent"], None, "% core"))
    if osc:  # what OSC adds: LSL only, up to 16 headsets
        for n in (c for c in HEADSET_COUNTS if c <= OSC_UP_TO):
            lsl_only = measure(n, warmup, window, False)
            result.figures[f"{n}_lsl_only"] = lsl_only
            limit = result.figures[str(n)]["limit_cpu_percent"]
            r = ratio(lsl_only["cpu_percent"], limit)
            ratio_target = LIMIT_RATIO_TARGETS.get(n)
            result.rows.append(
                Row(f"{n} headset(s), LSL only (OSC off): CPU, bridge vs limit",
                    lsl_only["cpu_percent"], limit, "% core", r,
                    f"<= {ratio_target:g}x limit" if ratio_target else "",
                    (r is not None and r <= ratio_target) if ratio_target else None)
            )
    result.notes.append(
        "frames/s through the bridge: " + ", ".join(
            f"{n}: {result.figures[str(n)]['frames_per_s']:.0f}" for n in HEADSET_COUNTS)
    )
    if osc:
        result.notes.append(
            "OSC datagrams/s (messages/s) at the sink: " + ", ".join(
                f"{n}: {result.figures[str(n)]['osc_datagrams_per_s']:.0f} "
                f"({result.figures[str(n)]['osc_messages_per_s']:.0f})"
                for n in HEADSET_COUNTS if n <= OSC_UP_TO)
            + " (no rate caps; the messages of one loop tick are one bundle datagram)"
        )
    result.notes.append(
        f"CPU over a {window:g} s window after {warmup:g} s warm-up; "
        f"OSC {f'on (local UDP sink) up to {OSC_UP_TO} headsets' if osc else 'n/a'}; "
        "no LSL consumer; "
        "limit = picows + orjson client parsing every frame (bridge.bench.limitproc)"
    )
    return result
