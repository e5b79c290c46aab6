"""Samples pushed into an :class:`~bridge.outputs.osc.OscOutput` from inside a running
asyncio loop, the way the bridge's frame callbacks push them (all pushed in one callback
are one tick), and the messages that must arrive, in order: for the bundle tests with
python-osc, oscdump, a raw socket and Pure Data.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.config import OscSettings
from bridge.outputs.osc import OscOutput
from bridge.simulator.headsets import EPOC_SENSORS, MOTION_QUATERNION, stream_cols
from bridge.streams import HeadsetInfo, StreamPlan, build_plan

EPOCX = HeadsetInfo("EPOCX-0A0B0C0D", "EPOCX", sensors=EPOC_SENSORS, eeg_rate=128.0,
                    mems_rate=64.0)


def plan_for(stream: str) -> StreamPlan:
    return build_plan(stream, stream_cols(stream, EPOCX.sensors, MOTION_QUATERNION, "current"),
                      EPOCX)


def output(*targets: str | dict[str, Any], **keys: Any) -> OscOutput:
    settings = OscSettings(enabled=True, targets=targets, **keys)  # type: ignore[arg-type]
    out = OscOutput(settings, multi_headset=False)
    out.open()
    return out


def eeg(k: int, width: int) -> list[float]:
    """An EEG sample whose COUNTER is ``k``: the order check reads it back."""
    return [float(k), 0.0, *[4000.0 + i for i in range(width - 2)]]


def run_ticks(out: OscOutput, ticks: int, per_tick: int, pause: float = 0.005) -> int:
    """In a running loop, ``per_tick`` EEG samples in each of ``ticks`` callbacks (with a
    status message in the middle of each); returns the number of messages sent. Each EEG
    sample is two messages: the vector and its electrodes."""
    plan = plan_for("eeg")
    (sink,) = out.sinks_for(plan, EPOCX)  # its labels: the first tick's first message

    async def main() -> None:
        await asyncio.sleep(0)  # the labels' tick ends
        for t in range(ticks):
            for k in range(per_tick):
                sink(eeg(t * per_tick + k, len(plan.labels)), 1.0 + (t * per_tick + k) / 128)
                if k == per_tick // 2:
                    out.send_status(EPOCX.id, True)
            await asyncio.sleep(pause)  # the tick ends here: one datagram per target

    asyncio.run(main())
    return LABELS + ticks * (2 * per_tick + 1)


LABELS = 2
"""eeg/labels and eeg/electrodes/labels: the first tick's messages."""


def sent_order(count: int, per_tick: int) -> list[tuple[str, float]]:
    """(address, first argument) of every data message run_ticks sends, in order."""
    order: list[tuple[str, float]] = []
    for k in range(count):
        order += [("/emotiv/eeg", float(k)), ("/emotiv/eeg/electrodes", 4000.0)]
        if k % per_tick == per_tick // 2:
            order.append(("/emotiv/status", 1))
    return order


def data(messages: list[Any]) -> list[tuple[str, float]]:
    """(address, first argument) of what arrived, the labels left out."""
    return [(m.address, m.args[0]) for m in messages if not m.address.endswith("/labels")]
