"""Scenario 6: what the status page costs the data path.

The same load as ``cost`` (EPOC X at 256 Hz, every stream, LSL only), measured twice
back to back: with the status page served and nobody watching, and with a page
connected that receives every update (status once a second, EEG traces twice a second,
events). The page client is a WebSocket client in this process, so only the bridge's
side is counted, which is what could slow the data; a browser's rendering is its own
process. The figures: the bridge's CPU (% of one core) and the share of EEG samples
bridged in real time, page off vs page on; and what the page receives (bytes/s).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from bridge.bench.common import (
    EPOC_X_STREAMS,
    Options,
    Row,
    ScenarioResult,
    bridge_env,
    epoc_x_specs,
    headset_ids,
    ratio,
)
from bridge.bench.cost import EEG_RATE, eeg_total, wait_all_streaming
from bridge.bench.procs import Child, cpu_percent, cpu_sample

NAME = "status_page"
TITLE = "Status page cost: EPOC X at 256 Hz, every stream, page watching vs not"
HEADSET_COUNTS = (4, 16)
EXTRA_CPU_TARGET = 0.10  # a watching page may add at most 10 % to the bridge's CPU


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PageClient:
    """Receives everything the status page's WebSocket pushes, in a thread."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None)
        self.bytes = 0
        self.messages = 0
        self._thread = threading.Thread(target=self._run, name="page", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for message in self.ws:
                self.bytes += len(message)
                self.messages += 1
        except Exception:
            return

    def close(self) -> None:
        self.ws.close()
        self._thread.join(5)


def measure(n: int, warmup: float, window: float) -> dict[str, Any]:
    ids = headset_ids(n)
    port = free_port()
    figures: dict[str, Any] = {"headsets": n}
    with Child("simproc", {"headsets": epoc_x_specs(ids, EEG_RATE), "seed": 2}) as sim:
        env = bridge_env(sim.ready["url"], sim.ready["ca"], ids, EPOC_X_STREAMS, None)
        env["CORTEX_BRIDGE_STATUS__LISTEN"] = f"127.0.0.1:{port}"
        with Child("bridgeproc", {"env": env}) as bridge:
            if not bridge.ask("streaming"):
                raise RuntimeError("the bridge did not start streaming")
            wait_all_streaming(bridge, ids)
            time.sleep(warmup)
            for phase in ("off", "on"):
                page = PageClient(f"ws://127.0.0.1:{port}/ws") if phase == "on" else None
                if page is not None:
                    time.sleep(warmup)  # the traces' buffer fills once a page watches
                before, stats_before = cpu_sample(bridge.pid), bridge.ask("stats")
                received = page.bytes if page else 0
                time.sleep(window)
                after, stats_after = cpu_sample(bridge.pid), bridge.ask("stats")
                elapsed = stats_after["mono"] - stats_before["mono"]
                got = eeg_total(stats_after) - eeg_total(stats_before)
                figures[f"cpu_{phase}"] = cpu_percent(before, after)
                figures[f"eeg_share_{phase}"] = got / (n * EEG_RATE * elapsed)
                if page is not None:
                    figures["page_bytes_per_s"] = (page.bytes - received) / elapsed
                    page.close()
    return figures


def run(options: Options) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    warmup, window = options.seconds(2.0, 1.0), options.seconds(10.0, 2.0)
    for n in HEADSET_COUNTS:
        m = measure(n, warmup, window)
        result.figures[str(n)] = m
        extra = ratio(m["cpu_on"], m["cpu_off"])
        met = extra is not None and extra <= 1 + EXTRA_CPU_TARGET and m["eeg_share_on"] >= 0.97
        result.rows.append(Row(f"{n} headset(s): bridge CPU, page watching vs not",
                               m["cpu_on"], m["cpu_off"], "% core", extra,
                               f"<= +{EXTRA_CPU_TARGET:.0%}", met))
        result.rows.append(Row(f"{n} headset(s): EEG samples bridged, page watching",
                               100.0 * m["eeg_share_on"], 100.0 * m["eeg_share_off"], "%",
                               ratio(m["eeg_share_on"], m["eeg_share_off"]), "real time",
                               m["eeg_share_on"] >= 0.97))
    result.notes.append("page traffic: " + ", ".join(
        f"{n} headsets {result.figures[str(n)]['page_bytes_per_s'] / 1024:.0f} KiB/s"
        for n in HEADSET_COUNTS))
    return result
