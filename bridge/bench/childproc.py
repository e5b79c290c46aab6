"""A child process the benchmark drives over a line protocol on stdin/stdout.

The simulator, the bridge and the baseline clients each run in their own process so
that their CPU is theirs alone (and no two share a GIL). A child prints one JSON line
when it is ready, then answers each command line on stdin with one JSON line; the
command ``quit`` (or end of input) stops it. Commands are answered on the child's event
loop, between frames, so an answer never races the data it describes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Command = Callable[[], Any]


def emit(obj: Mapping[str, Any]) -> None:
    """One JSON line on stdout (the parent reads it)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def serve_commands(commands: Mapping[str, Command]) -> None:
    """Answer command lines from stdin until ``quit`` or end of input.

    stdin is read by a thread (asyncio has no portable pipe reader for stdin); each line
    is handed to the loop, which runs the command and prints its JSON answer.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, "quit")

    threading.Thread(target=reader, name="bench-stdin", daemon=True).start()
    while True:
        line = await lines.get()
        if line == "quit":
            return
        command = commands.get(line)
        if command is None:
            emit({"error": f"unknown command {line!r}"})
            continue
        result = command()
        if asyncio.iscoroutine(result):
            result = await result
        emit({"ok": line, "result": result})


async def serve_result(run: Awaitable[Any]) -> None:
    """Say the child is subscribed, then answer ``result`` with what ``run`` returns (the
    parent asks when its measuring window ends) until ``quit``."""

    async def result() -> Any:
        return await run

    emit({"subscribed": True})
    await serve_commands({"result": result})
