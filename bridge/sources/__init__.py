"""Data sources beside Cortex, and how the daemon runs them.

A source turns some outside service into samples for the shared outputs (the daemon's
:class:`~bridge.outputs.lsl.OutletRegistry`, its :class:`~bridge.status.StatusBoard`
and the OSC sinks). It owns its connection logic; the outputs are handed to it. The
daemon only needs :class:`Source`: a name for logs and ``run(stop)``, which returns
when ``stop`` is set (after cleaning up, e.g. stopping a session it created) and raises
a :class:`~bridge.errors.BridgeError` for a fatal problem (a refused token), which must
end the whole daemon with that error's exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from bridge.pipeline import Sink
from bridge.streams import HeadsetInfo, StreamPlan

__all__ = ["SinkFactory", "Source", "run_sources"]

log = logging.getLogger("bridge.sources")


@runtime_checkable
class Source(Protocol):
    """A second (third ...) data source run next to the Cortex daemon."""

    name: str

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until ``stop`` is set; raise ``BridgeError`` only for fatal problems."""
        ...


class SinkFactory(Protocol):
    """Outputs besides LSL, per stream (``OscOutput`` satisfies it)."""

    def sinks_for(self, plan: StreamPlan, headset: HeadsetInfo) -> Sequence[Sink]: ...


async def run_sources(
    sources: Sequence[Source],
    stop: asyncio.Event,
    on_fatal: Callable[[], None] | None = None,
) -> None:
    """Run every source until ``stop``; a source that fails stops all of them.

    The first exception of any source sets ``stop``, calls ``on_fatal`` (e.g.
    ``daemon.stop``) and is re-raised once every source has finished its clean-up, so
    that the CLI reports it with its exit code.
    """
    if not sources:
        return
    tasks = [asyncio.create_task(source.run(stop), name=f"source-{source.name}")
             for source in sources]
    first: BaseException | None = None
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if exc is not None and first is None:
                first = exc
                log.debug("source %s failed: %r", task.get_name(), exc)
                stop.set()
                if on_fatal is not None:
                    with contextlib.suppress(Exception):
                        on_fatal()
    if first is not None:
        raise first
