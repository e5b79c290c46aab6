"""The simulator's I/O: a WebSocket server around :class:`CortexService`.

One asyncio task (the pump) ticks the service every ~10 ms, or at once when a timer is
due; one sender task per connection drains that connection's outbox into the socket, so
a slow client slows only itself. Incoming messages are handed to the service as they
arrive. :class:`SimulatorThread` runs all of it on its own event loop in a thread, for
synchronous callers (tests, benchmarks, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import tempfile
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from bridge.simulator import faults, tls
from bridge.simulator.background import BackgroundServer
from bridge.simulator.config import SimulatorConfig
from bridge.simulator.dialects import make_service
from bridge.simulator.model import Clock, ServerAction

log = logging.getLogger("bridge.simulator")

FLOOD_SPIN_S = 0.001  # pump period while a flood is running
SEND_BATCH = 256  # frames per socket write
DRAIN_WAIT_S = 1.0  # a control answer gets this long to leave before connections drop


class Simulator:
    """A Cortex service on a real socket. ``await start()``, use ``url`` and
    ``ca_pem_path``, ``await stop()`` (or ``async with``)."""

    def __init__(self, config: SimulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.service = make_service(self.config, clock)
        self._server: Server | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._conns: dict[int, tuple[ServerConnection, asyncio.Event]] = {}
        self._tmpdir: Path | None = None
        self._ca_pem: Path | None = None
        self._port = 0
        self._kick = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        ssl_context = None
        try:
            if cfg.tls:
                ssl_context = self._prepare_tls()
            self._server = await serve(
                self._handle,
                cfg.host,
                cfg.port,
                ssl=ssl_context,
                compression=None,  # Cortex does not negotiate permessage-deflate [U]; it costs CPU
                process_request=self._refuse_if_asked,
                max_size=2**22,
                logger=logging.getLogger("bridge.simulator.ws"),
            )
        except BaseException:
            self._remove_tmpdir()
            raise
        self._port = self._server.sockets[0].getsockname()[1] if self._server.sockets else cfg.port
        self._schedule_faults()
        self._pump_task = asyncio.create_task(self._pump(), name="cortex-sim-pump")
        log.info(
            "Cortex simulator listening on %s (%d headset(s))", self.url, len(self.service.headsets)
        )

    def _prepare_tls(self) -> ssl.SSLContext:
        cfg = self.config
        if cfg.tls_dir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="cortex-sim-tls-"))
            files = tls.generate(self._tmpdir)
        else:
            files = tls.load_or_generate(cfg.tls_dir)
        self._ca_pem = files.ca_pem
        if cfg.ca_out is not None:
            cfg.ca_out.parent.mkdir(parents=True, exist_ok=True)
            if not (cfg.ca_out.exists() and cfg.ca_out.samefile(files.ca_pem)):
                shutil.copyfile(files.ca_pem, cfg.ca_out)
            self._ca_pem = cfg.ca_out
        return tls.server_context(files)

    def _remove_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)
            self._pump_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._background):
            task.cancel()
        self._remove_tmpdir()
        log.info("Cortex simulator stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.config.tls else 'ws'}://{host}:{self._port}"

    @property
    def ca_pem_path(self) -> Path | None:
        """The CA certificate clients must trust (None when serving plain ws://)."""
        return self._ca_pem

    # ---- control (in-process twins of the simulator.fault kinds) --------------------

    def state(self) -> dict[str, Any]:
        state = self.service.state()
        state["url"] = self.url
        return state

    def fault(self, kind: str, **params: Any) -> dict[str, Any]:
        result = faults.apply(self.service, kind, params)
        self._after_service()
        return result

    def drop_connections(self, mode: str = "abort") -> int:
        count = len(self._conns)
        self.fault("drop_connections", mode=mode)
        return count

    def set_headset_power(self, headset: str | int | None, on: bool) -> None:
        self.fault("headset_power", headset=headset, on=on)

    def expire_tokens(self) -> int:
        return int(self.fault("expire_tokens")["expired"])

    def set_delay_ms(self, ms: float) -> None:
        self.fault("delay", ms=ms)

    def set_clock_offset(self, seconds: float) -> None:
        self.fault("clock_offset", seconds=seconds)

    def drop_samples(self, headset: str | int | None, stream: str = "eeg", n: int = 1) -> None:
        self.fault("drop_samples", headset=headset, stream=stream, count=n)

    def interpolate_samples(
        self, headset: str | int | None, stream: str = "eeg", n: int = 1
    ) -> None:
        self.fault("interpolate_samples", headset=headset, stream=stream, count=n)

    def send_malformed(self, n: int = 4) -> None:
        self.fault("malformed", count=n)

    def bad_frames(self, kinds: list[str], stream: str = "eeg") -> None:
        self.fault("bad_frames", stream=stream, kinds=kinds)

    def stall(self, seconds: float) -> None:
        self.fault("stall", seconds=seconds)

    def mute(self, headset: str | int | None, seconds: float) -> None:
        self.fault("mute", headset=headset, seconds=seconds)

    def lose_answers(self, method: str, count: int = 1) -> None:
        self.fault("lose_answers", method=method, count=count)

    def refuse_connections(self, seconds: float) -> None:
        self.fault("refuse_connections", seconds=seconds)

    def outage(self, seconds: float, mode: str = "abort") -> None:
        """Cortex gone for ``seconds``: connections cut, reconnects refused until then."""
        self.refuse_connections(seconds)
        self.drop_connections(mode)

    # ---- internals -----------------------------------------------------------------

    def _schedule_faults(self) -> None:
        svc = self.service
        start = svc.clock.monotonic()
        for text in self.config.faults:
            spec = faults.parse_fault_spec(text)

            def run(spec: faults.ScheduledFault = spec) -> None:
                try:
                    result = faults.apply(svc, spec.kind, spec.params)
                    log.info("scheduled fault %s", result)
                except Exception as exc:  # a bad scheduled fault must not stop the pump
                    log.warning("scheduled fault %s failed: %s", spec.kind, exc)
                if spec.every_s:
                    svc.at(svc.clock.monotonic() + spec.every_s, run)

            svc.at(start + spec.at_s, run)

    def _refuse_if_asked(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.service.refusing():
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "Cortex simulator: refusing connections (fault)\n"
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        svc = self.service
        cid = svc.open_connection(str(ws.remote_address))
        wake = asyncio.Event()
        self._conns[cid] = (ws, wake)
        log.info("connection %d opened from %s", cid, ws.remote_address)
        sender = asyncio.create_task(self._sender(cid, ws, wake))
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                svc.receive(cid, text)
                self._after_service()
        except ConnectionClosed:
            pass
        finally:
            self._conns.pop(cid, None)
            sender.cancel()
            svc.close_connection(cid)
            log.info("connection %d closed (code %s)", cid, ws.close_code)

    async def _sender(self, cid: int, ws: ServerConnection, wake: asyncio.Event) -> None:
        """Drain the outbox: still one WebSocket message per frame, but the frames of a
        batch go to the TLS layer in one write (one encryption pass, one syscall), which
        is what lets one process serve 16 headsets at 256 Hz in real time."""
        svc = self.service
        queue = svc.outbox(cid)
        protocol = ws.protocol
        try:
            while True:
                await wake.wait()
                wake.clear()
                while queue and not svc.stalled():
                    if protocol.state is not State.OPEN:
                        return
                    for _ in range(min(len(queue), SEND_BATCH)):
                        protocol.send_text(queue.popleft().encode())
                    ws.transport.write(b"".join(protocol.data_to_send()))
                    await ws.drain()
        except ConnectionClosed:
            pass

    def _after_service(self) -> None:
        """Wake senders with something to send and carry out requested I/O actions."""
        svc = self.service
        if not svc.stalled():
            for cid, (_, wake) in self._conns.items():
                conn = svc.conns.get(cid)
                if conn is not None and conn.outbox:
                    wake.set()
        while svc.actions:
            action = svc.actions.pop(0)
            task = asyncio.get_running_loop().create_task(self._drop(action))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._kick.set()

    async def _drop(self, action: ServerAction) -> None:
        if action.after_conn is not None:
            deadline = asyncio.get_running_loop().time() + DRAIN_WAIT_S
            conn = self.service.conns.get(action.after_conn)
            while conn is not None and conn.outbox and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.02)  # let the socket write what the sender handed it
        targets = [
            ws for cid, (ws, _) in list(self._conns.items()) if action.only_conn in (None, cid)
        ]
        log.info("dropping %d connection(s) (%s)", len(targets), action.mode)
        for ws in targets:
            if action.mode == "abort":
                ws.transport.abort()
            else:
                await ws.close(1001, "going away")

    async def _pump(self) -> None:
        svc = self.service
        while True:
            started = svc.clock.monotonic()
            try:
                svc.tick()
                self._after_service()
            except Exception:  # keep serving; a bug here must not freeze every client
                log.exception("simulator tick failed")
            wake = started + FLOOD_SPIN_S if svc.flooding else svc.next_wake(started)
            delay = max(0.0, wake - svc.clock.monotonic())
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=delay)


class SimulatorThread(BackgroundServer[Simulator]):
    """A :class:`Simulator` on its own event loop in a background thread.

    ``with SimulatorThread(cfg) as sim: sim.url ...``; ``sim.call(fn)`` runs
    ``fn(simulator)`` on the simulator's loop (awaiting it if it returns an awaitable)
    and returns the result, which is how control actions are made thread-safely.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        super().__init__(lambda: Simulator(self.config), "cortex-simulator")

    @property
    def url(self) -> str:
        return self._sim().url

    @property
    def port(self) -> int:
        return self._sim().port

    @property
    def ca_pem_path(self) -> Path | None:
        return self._sim().ca_pem_path
