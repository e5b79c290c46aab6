"""The bridge in its own process, for the benchmark (``python -m bridge.bench.bridgeproc``).

Argument: a JSON object ``{"env": {"CORTEX_BRIDGE_...": "..."}}``: the settings, exactly
as the bridge reads them from the environment. The process runs the real
:class:`~bridge.app.App` (``cortex-bridge run`` minus signal handling).

Commands: ``streaming`` (waits until the first stream is bridged) and ``stats`` (sample
counts per headset and stream, with the monotonic time they were read at), ``profile``
(start cProfile) and ``profile-stop`` (stop it and write the statistics to the file
named by ``CORTEX_BRIDGE_BENCH_PROFILE``): for finding the hot path by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import os
import sys
import time
from typing import Any

from bridge.app import App
from bridge.bench.childproc import Command, emit, serve_commands
from bridge.config import load_settings, resolve_client_secret

STREAMING_TIMEOUT_S = 30.0


def stats(app: App) -> dict[str, Any]:
    board = app.board
    return {
        "mono": time.monotonic(),
        "samples": {f"{h}/{s}": st.samples for (h, s), st in board.streams.items()},
        "dropped": sum(st.dropped for st in board.streams.values()),
        "malformed": board.malformed_frames + sum(st.malformed for st in board.streams.values()),
        "unrouted": board.unrouted_frames,
    }


async def main(params: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(None, params["env"])
    app = App(settings, resolve_client_secret(settings))
    runner = asyncio.create_task(app.run(), name="app")

    async def streaming() -> bool:
        waiter = asyncio.ensure_future(app.streaming.wait())
        await asyncio.wait({waiter, runner}, timeout=STREAMING_TIMEOUT_S,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return app.streaming.is_set()

    profiler = cProfile.Profile()

    def profile_stop() -> str:
        profiler.disable()
        path = os.environ.get("CORTEX_BRIDGE_BENCH_PROFILE", "bridge.prof")
        profiler.dump_stats(path)
        return path

    commands: dict[str, Command] = {
        "streaming": streaming,
        "stats": lambda: stats(app),
        "profile": profiler.enable,
        "profile-stop": profile_stop,
    }
    emit({"pid_ready": True})
    try:
        await serve_commands(commands)
    finally:
        app.stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await runner


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
