"""Scenario 4: timestamp truth, with Cortex's 200 ms delivery delay and a clock offset.

The simulator delivers every sample 200 ms after its birth and runs its headset clocks
12.345 s away from the system clock. Sample ``k`` of a headset was born at
``monotonicAnchor + k/rate`` (the simulator's truth, on CLOCK_MONOTONIC, which is LSL
time on Linux). Ours: the timestamps a pylsl inlet reads from our outlet. Baseline:
what other bridges do, stamping each frame with ``local_clock()`` when it arrives
(a bare client on a second headset of the same simulator).
"""

from __future__ import annotations

import time

from bridge.bench.common import (
    EPOC_X_STREAMS,
    Options,
    Row,
    ScenarioResult,
    bridge_env,
    epoc_x_specs,
    headset_ids,
    percentile,
)
from bridge.bench.cost import wait_all_streaming
from bridge.bench.inlet import InletRecorder
from bridge.bench.latency import headset_clock
from bridge.bench.procs import Child
from bridge.outputs.lsl import source_id_for

NAME = "timestamps"
TITLE = "Timestamp truth, 200 ms delivery delay + 12.345 s clock offset"
EEG_RATE = 256
DELAY_MS = 200.0
CLOCK_OFFSET_S = 12.345
TARGET_P99_MS = 1.0


def errors_summary(errors_s: list[float]) -> dict[str, float]:
    ms = [abs(e) * 1e3 for e in errors_s]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else float("nan"),
            "mean_signed_ms": 1e3 * sum(errors_s) / len(errors_s) if errors_s else float("nan")}


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    seconds = options.seconds(8.0, 2.0)
    ours_id, base_id = headset_ids(2)
    sim_config = {"headsets": epoc_x_specs([ours_id, base_id], EEG_RATE), "seed": 4,
                  "delay_ms": DELAY_MS, "clock_offset_s": CLOCK_OFFSET_S}
    with Child("simproc", sim_config) as sim:
        url, ca = sim.ready["url"], sim.ready["ca"]
        env = bridge_env(url, ca, [ours_id], EPOC_X_STREAMS, None)
        with Child("bridgeproc", {"env": env}) as bridge:
            if not bridge.ask("streaming"):
                raise RuntimeError("the bridge did not start streaming")
            wait_all_streaming(bridge, [ours_id])
            client_params = {"url": url, "ca": ca, "headset": base_id, "mode": "stamp",
                             "seconds": seconds + 0.5}
            with (
                InletRecorder(source_id_for(ours_id, "eeg")) as inlet,
                Child("clientproc", client_params) as client,
            ):
                time.sleep(0.5)
                inlet.recording = True
                time.sleep(seconds)
                inlet.recording = False
                arrivals = client.ask("result", timeout=seconds + 30)["arrivals"]
            state = sim.ask("state")
    ours_clock, base_clock = headset_clock(state, ours_id), headset_clock(state, base_id)
    ours_errors: list[float] = []
    mismatched = 0
    anchor = ours_clock["monotonicAnchor"]
    for stamp, _arrival, counter in inlet.samples:
        # The sample the stamp points at must be the one whose COUNTER came with it;
        # if not, the error is measured against the nearest sample with that COUNTER.
        k = round((stamp - anchor) * EEG_RATE)
        c = round(counter) % EEG_RATE
        if k % EEG_RATE != c:
            mismatched += 1
            below = k - (k - c) % EEG_RATE
            k = min((below, below + EEG_RATE), key=lambda j: abs(anchor + j / EEG_RATE - stamp))
        ours_errors.append(stamp - (anchor + k / EEG_RATE))
    base_errors = []
    for t, arrival in arrivals:
        k = round((t - base_clock["epochAnchor"]) * EEG_RATE)
        base_errors.append(arrival - (base_clock["monotonicAnchor"] + k / EEG_RATE))
    ours, base = errors_summary(ours_errors), errors_summary(base_errors)
    result.figures = {"ours": ours, "arrival_stamping": base, "counter_mismatches": mismatched,
                      "delay_ms": DELAY_MS, "clock_offset_s": CLOCK_OFFSET_S}
    result.rows += [
        Row("|error| p50: ours vs stamping on arrival", ours["p50_ms"], base["p50_ms"], "ms"),
        Row("|error| p99: ours vs stamping on arrival", ours["p99_ms"], base["p99_ms"], "ms",
            None, f"< {TARGET_P99_MS:g} ms", ours["p99_ms"] < TARGET_P99_MS and not mismatched),
        Row("|error| max: ours vs stamping on arrival", ours["max_ms"], base["max_ms"], "ms"),
    ]
    result.notes.append(
        f"{ours['n']} of our EEG samples (COUNTER mismatches: {mismatched}), "
        f"{base['n']} stamped on arrival, over {seconds:g} s"
    )
    return result
