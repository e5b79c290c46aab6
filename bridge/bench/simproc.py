"""The simulator in its own process, for the benchmark (``python -m bridge.bench.simproc``).

Argument: a JSON object of :class:`~bridge.simulator.SimulatorConfig` fields (``port``
is always 0, TLS on as with real Cortex), plus ``record_sends``: when true, every EEG
frame's send time (``time.monotonic()`` when the sender takes it from the connection's
outbox, right before the batch is encrypted and written) is logged, so latency can be
measured from the moment a frame leaves the simulator. ``time.monotonic()`` and
``pylsl.local_clock()`` read the same clock (CLOCK_MONOTONIC), in every process of
the machine.

Commands: ``state`` (the simulator's truth: headset clocks, frames sent) and ``sends``
(the EEG send log: ``[[headset id, frame time, send time], ...]``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from dataclasses import fields
from typing import Any

from bridge.bench.childproc import Command, emit, serve_commands
from bridge.simulator import CortexService, Simulator, SimulatorConfig

EEG_PREFIX = '{"eeg":'


class SendLog(deque[str]):
    """An outbox that notes when each EEG frame is taken out to be sent."""

    def __init__(self, log: list[tuple[float, str]]) -> None:
        super().__init__()
        self._log = log

    def popleft(self) -> str:
        text = super().popleft()
        if text.startswith(EEG_PREFIX):
            self._log.append((time.monotonic(), text))
        return text


class RecordingService(CortexService):
    """The simulator's service with a :class:`SendLog` outbox on every connection."""

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self.send_log: list[tuple[float, str]] = []

    def open_connection(self, peer: str = "") -> int:
        cid = super().open_connection(peer)
        self.conns[cid].outbox = SendLog(self.send_log)
        return cid


def sends(service: RecordingService) -> list[list[Any]]:
    """The send log as ``[headset id, frame time, send time]`` (frames parsed only now)."""
    headset_of = {sid: s.headset.id for sid, s in service.sessions.items()}
    out: list[list[Any]] = []
    for mono, text in service.send_log:
        frame = json.loads(text)
        out.append([headset_of.get(frame["sid"], "?"), frame["time"], mono])
    service.send_log.clear()
    return out


def make_config(params: dict[str, Any]) -> SimulatorConfig:
    known = {f.name for f in fields(SimulatorConfig)}
    values = {k: v for k, v in params.items() if k in known}
    values.update(port=0, tls=True)
    return SimulatorConfig(**values)


async def main(params: dict[str, Any]) -> None:
    config = make_config(params)
    sim = Simulator(config)
    service: CortexService = sim.service
    if params.get("record_sends"):
        service = sim.service = RecordingService(config)
    await sim.start()
    try:
        emit(
            {
                "url": sim.url,
                "ca": str(sim.ca_pem_path),
                "headsets": [h.id for h in service.headsets],
            }
        )
        commands: dict[str, Command] = {"state": sim.state}
        if isinstance(service, RecordingService):
            recording = service
            commands["sends"] = lambda: sends(recording)
        await serve_commands(commands)
    finally:
        await sim.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
