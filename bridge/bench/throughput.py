"""Scenario 1: throughput, the bridge against a client that only receives and parses.

The simulator floods (``SimulatorConfig.flood``: the first N EEG frames of each
subscription as fast as it can) from its own process. Ours: the real daemon in its own
process, LSL on (no consumer attached) and OSC on when the OSC output exists, sending to
a local UDP sink. Baselines, each in ``drain`` mode: :mod:`bridge.bench.clientproc`
(websockets + ``json``, and websockets + orjson) and the limit,
:mod:`bridge.bench.limitproc` (picows + orjson). CPU per frame is the figure to compare
with the limit: the simulator, not the limit client, bounds the limit's rate. Both rates are taken between the 10% and
the 90% mark of the flood, each against a fresh simulator; the two alternate and each keeps its best run.
"""

from __future__ import annotations

import time

from bridge.bench.common import (
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
from bridge.bench.procs import Child, cpu_percent, cpu_sample

NAME = "throughput"
TITLE = "Throughput, simulator flood (EEG frames/s)"
TARGET_RATIO = 0.5
TARGET_CPU_RATIO = 3.0  # CPU per frame, bridge / limit
POLL_S = 0.02
REPEATS = 2


def simulator_config(hid: str, frames: int) -> dict[str, object]:
    return {"headsets": epoc_x_specs([hid]), "flood": frames, "seed": 1}


# The baseline clients: (label, child module, extra arguments).
CLIENTS: dict[str, tuple[str, str, dict[str, object]]] = {
    "drain": ("websockets + json", "clientproc", {}),
    "ws_orjson": ("websockets + orjson", "clientproc", {"json": "orjson"}),
    "sansio": ("websockets sans-I/O, lean protocol + orjson", "sansioproc", {}),
    "picows_asyncio_tls": ("picows on asyncio's TLS + orjson", "limitproc",
                           {"aiofastnet": False}),
    "limit": ("limit: picows + orjson", "limitproc", {}),
}


def per_frame_us(cpu_percent: float, rate: float) -> float:
    """CPU microseconds per EEG frame from % of a core and frames/s."""
    return 1e4 * cpu_percent / rate if rate > 0 else float("nan")


def drain_rate(frames: int, timeout: float, client: str = "drain") -> tuple[float, float, float]:
    """frames/s, the client's CPU and the simulator's (% of a core)."""
    _, module, extra = CLIENTS[client]
    hid = headset_ids(1)[0]
    with Child("simproc", simulator_config(hid, frames)) as sim:
        params = {"url": sim.ready["url"], "ca": sim.ready["ca"], "headset": hid,
                  "mode": "drain", "frames": frames, "timeout": timeout, **extra}
        with Child(module, params) as client_proc:
            sim_before = cpu_sample(sim.pid)
            answer = client_proc.ask("result", timeout=timeout + 10)
            sim_cpu = cpu_percent(sim_before, cpu_sample(sim.pid))
    return float(answer["rate"]), float(answer["cpu"]), sim_cpu


def bridge_rate(
    frames: int, timeout: float, osc: bool
) -> tuple[float, float, float, int, int]:
    """frames/s, the bridge's and the simulator's CPU (% of a core), OSC datagrams and
    the messages in them."""
    hid = headset_ids(1)[0]
    low, high = frames // 10, frames - frames // 10
    with (
        UdpSink() as sink,
        Child("simproc", simulator_config(hid, frames)) as sim,
    ):
        env = bridge_env(sim.ready["url"], sim.ready["ca"], [hid], ["eeg"],
                         sink.port if osc else None)
        with Child("bridgeproc", {"env": env}) as bridge:
            if not bridge.ask("streaming"):
                raise RuntimeError("the bridge did not start streaming")
            key = f"{hid}/eeg"
            first = last = None
            cpu_first = cpu_last = None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                stats = bridge.ask("stats")
                n = stats["samples"].get(key, 0)
                if first is None and n >= low:
                    first, cpu_first = (stats["mono"], n), cpu_sample(bridge.pid)
                    sim_first = cpu_sample(sim.pid)
                if n >= high:
                    last, cpu_last = (stats["mono"], n), cpu_sample(bridge.pid)
                    sim_cpu = cpu_percent(sim_first, cpu_sample(sim.pid))
                    break
                time.sleep(POLL_S)
            if first is None or last is None or cpu_first is None or cpu_last is None:
                raise RuntimeError(f"the bridge did not get through the flood in {timeout:.0f} s")
    rate = (last[1] - first[1]) / (last[0] - first[0])
    return rate, cpu_percent(cpu_first, cpu_last), sim_cpu, sink.count, sink.messages


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    frames = 20_000 if options.quick else 100_000
    timeout = options.seconds(120.0, 60.0)
    osc = osc_output_available()
    # Alternate all of them and keep each one's best run: the least disturbed by other load.
    clients: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CLIENTS}
    bridges = []
    for _ in range(1 if options.quick else REPEATS):
        for name in CLIENTS:
            clients[name].append(drain_rate(frames, timeout, name))
        bridges.append(bridge_rate(frames, timeout, osc))
    best = {name: max(runs) for name, runs in clients.items()}
    drain, drain_cpu, drain_sim_cpu = best["drain"]
    limit, limit_cpu, limit_sim_cpu = best["limit"]
    ours, cpu, sim_cpu, datagrams, messages = max(bridges)
    r = ratio(ours, drain)
    label = "bridge (LSL + OSC)" if osc else "bridge (LSL; OSC n/a)"
    result.rows.append(
        Row(f"{label} vs websockets + json client", ours, drain, "frames/s", r,
            f">= {TARGET_RATIO:.0%} of it", r is not None and r >= TARGET_RATIO)
    )
    result.rows.append(Row(f"{label} vs limit", ours, limit, "frames/s", ratio(ours, limit)))
    ours_us = per_frame_us(cpu, ours)
    limit_us = per_frame_us(limit_cpu, limit)
    r_us = ratio(ours_us, limit_us)
    result.rows.append(
        Row("CPU per EEG frame: bridge vs limit", ours_us, limit_us, "us", r_us,
            f"<= {TARGET_CPU_RATIO:g}x limit", r_us is not None and r_us <= TARGET_CPU_RATIO)
    )
    per_frame = {"bridge": ours_us, "limit": limit_us}
    for name in ("drain", "ws_orjson", "sansio", "picows_asyncio_tls"):
        us = per_frame[name] = per_frame_us(best[name][1], best[name][0])
        result.rows.append(Row(f"CPU per EEG frame: {CLIENTS[name][0]} vs limit", us,
                               limit_us, "us", ratio(us, limit_us)))
    result.rows.append(Row("CPU during the flood: bridge vs limit", cpu, limit_cpu, "% core",
                           ratio(cpu, limit_cpu)))
    result.rows.append(Row("simulator CPU: bridge run vs limit run", sim_cpu, limit_sim_cpu,
                           "% core"))
    result.figures = {"frames": frames, "drain_fps": drain, "bridge_fps": ours,
                      "limit_fps": limit, "ws_orjson_fps": best["ws_orjson"][0],
                      "bridge_cpu_percent": cpu, "drain_cpu_percent": drain_cpu,
                      "limit_cpu_percent": limit_cpu,
                      "ws_orjson_cpu_percent": best["ws_orjson"][1],
                      "cpu_per_frame_us": per_frame,
                      "simulator_cpu_percent": {"bridge_run": sim_cpu, "drain_run": drain_sim_cpu,
                                                "limit_run": limit_sim_cpu},
                      "osc": osc, "osc_datagrams": datagrams,
                      "osc_messages": messages}
    result.figures["runs"] = {**{f"{name}_fps": [d[0] for d in runs]
                                 for name, runs in clients.items()},
                              "bridge_fps": [b[0] for b in bridges]}
    result.notes.append(
        f"{frames} flooded EEG frames per run, rate between the 10% and 90% marks, best of "
        f"{len(bridges)} alternating runs each; no LSL consumer attached; the clients' "
        "rates are bounded by the simulator (see its CPU), so compare CPU per frame"
    )
    return result
