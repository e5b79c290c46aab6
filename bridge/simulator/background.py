"""A simulator on its own event loop in a background thread.

Tests, the demo and the benchmarks drive a simulator from blocking code (pylsl inlets,
subprocesses) while it serves on its own loop; :class:`BackgroundServer` is that loop and
thread, shared by the Cortex and the Emogg simulators so both start, stop and take
thread-safe control calls the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

T = TypeVar("T")


class Servable(Protocol):
    """What a simulator offers its thread: start, stop and a snapshot of its state."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def state(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=Servable)


class BackgroundServer(Generic[S]):
    """``with Sub(config) as sim:`` runs ``make()`` until the block ends;
    ``sim.call(fn)`` runs ``fn(simulator)`` on the simulator's loop (awaiting it if it
    returns an awaitable) and returns the result: how control actions stay thread-safe."""

    def __init__(self, make: Callable[[], S], thread_name: str) -> None:
        self._make = make
        self._thread_name = thread_name
        self.simulator: S | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> Self:
        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                sim = self._make()
                await sim.start()
            except BaseException as exc:
                self._error = exc
                ready.set()
                return
            self.simulator = sim
            ready.set()
            try:
                await self._stop.wait()
            finally:
                await sim.stop()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=self._thread_name, daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _sim(self) -> S:
        if self.simulator is None:
            raise RuntimeError(f"the simulator ({self._thread_name}) is not running")
        return self.simulator

    def call(self, fn: Callable[[S], T | Awaitable[T]], timeout: float = 10.0) -> T:
        """Run ``fn(simulator)`` on the simulator's event loop and return its result."""
        sim = self._sim()
        assert self._loop is not None

        async def runner() -> T:
            result = fn(sim)
            if inspect.isawaitable(result):
                return await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout)

    def state(self) -> dict[str, Any]:
        return self.call(lambda sim: sim.state())
