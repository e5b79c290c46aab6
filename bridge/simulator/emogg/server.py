"""The Emogg simulator's I/O: a small HTTP/1.1 server for REST, a WebSocket server for
the real-time API, and a pump that ticks :class:`EmoggService`.

REST needs request bodies (``POST /v1/sessions``), which the ``websockets`` HTTP parser
refuses, so REST is served by a minimal HTTP/1.1 reader on asyncio streams: one request
per connection (``Connection: close``), ``Content-Length`` bodies only, which is what
every ordinary client sends. The WebSocket API is served by ``websockets`` on a second
port [U]; its ``process_request`` hook refuses wrong paths (404) and connections over
the documented per-IP limit (429) before the handshake.

:class:`EmoggSimulatorThread` runs all of it on its own event loop in a thread, for
synchronous callers (tests, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bridge.simulator.background import BackgroundServer
from bridge.simulator.emogg.config import EmoggSimulatorConfig
from bridge.simulator.emogg.model import Clock, SimSession
from bridge.simulator.emogg.service import EmoggService

log = logging.getLogger("bridge.simulator.emogg")
# Frames are logged at DEBUG by the WebSocket library, and auth frames carry the token.
_ws_log = logging.getLogger("bridge.simulator.emogg.ws")
_ws_log.addFilter(lambda record: record.levelno > logging.DEBUG)

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
HTTP_READ_TIMEOUT_S = 10.0


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class EmoggSimulator:
    """Emogg's REST and WebSocket APIs on two loopback ports. ``await start()``, use
    ``api_url`` and ``ws_url``, ``await stop()`` (or ``async with``)."""

    def __init__(
        self, config: EmoggSimulatorConfig | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config or EmoggSimulatorConfig()
        self.service = EmoggService(self.config, clock or SystemClock())
        self._http: asyncio.Server | None = None
        self._ws: Server | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._conns: dict[int, tuple[ServerConnection, asyncio.Event]] = {}
        self._http_port = 0
        self._ws_port = 0

    async def start(self) -> None:
        cfg = self.config
        self._http = await asyncio.start_server(self._serve_http, cfg.host, cfg.http_port)
        try:
            self._ws = await serve(
                self._serve_ws, cfg.host, cfg.ws_port,
                process_request=self._process_request,
                compression=None, max_size=2**20,
                logger=_ws_log,
            )  # fmt: skip
        except BaseException:
            self._http.close()
            raise
        self._http_port = self._http.sockets[0].getsockname()[1]
        self._ws_port = self._ws.sockets[0].getsockname()[1] if self._ws.sockets else cfg.ws_port
        self._pump_task = asyncio.create_task(self._pump(), name="emogg-sim-pump")
        log.info("Emogg simulator: REST %s, WebSocket %s", self.api_url, self.ws_url)

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)
            self._pump_task = None
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        if self._http is not None:
            self._http.close()
            await self._http.wait_closed()
            self._http = None

    async def __aenter__(self) -> EmoggSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _host(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def api_url(self) -> str:
        return f"http://{self._host()}:{self._http_port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host()}:{self._ws_port}/ws/v1"

    # ---- control (faults and truth) -------------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.service.state() | {"api_url": self.api_url, "ws_url": self.ws_url}

    def drop_connections(self) -> int:
        """Abort every WebSocket (no close frame), as a network failure would."""
        targets = list(self._conns.values())
        for ws, _ in targets:
            ws.transport.abort()
        return len(targets)

    def fail_next_creates(self, n: int) -> None:
        """The next ``n`` ``POST /v1/sessions`` answer 503 Server is overloaded."""
        self.service.unavailable_creates = n

    def set_worker_state(self, state: str, session_id: str | None = None) -> None:
        for session in self._sessions(session_id):
            self.service.set_worker_state(session, state)
        self._wake_all()

    def set_token(self, token: str) -> None:
        """Accept only ``token`` from now on (a revoked token answers 401)."""
        self.service.token = token

    def _sessions(self, session_id: str | None) -> list[SimSession]:
        sessions = self.service.sessions
        if session_id is not None:
            return [sessions[session_id]]
        return [s for s in sessions.values() if s.state == "active"]

    # ---- REST ------------------------------------------------------------------------

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        try:
            status, headers, body = await asyncio.wait_for(
                self._read_http(reader, host), HTTP_READ_TIMEOUT_S
            )
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        except ValueError as exc:
            status, headers, body = 400, [], (
                f'{{"error":true,"status":400,"message":"{exc}"}}'.encode()
            )
        reason = HTTPStatus(status).phrase
        head = [f"HTTP/1.1 {status} {reason}", "Connection: close",
                f"Content-Length: {len(body)}"]
        if body:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in headers]
        with contextlib.suppress(ConnectionError):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _read_http(
        self, reader: asyncio.StreamReader, peer: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ValueError("Request header too large") from None
        if len(head) > MAX_HEAD:
            raise ValueError("Request header too large")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            raise ValueError("Bad request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise ValueError("Transfer-Encoding is not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise ValueError("Bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise ValueError("Request body too large")
        body = await reader.readexactly(length) if length else b""
        response = self.service.http(method, target, headers, body, peer)
        log.debug("%s %s -> %d", method, target.split("?")[0], response.status)
        self._wake_all()
        return response.status, response.headers, response.encode()

    # ---- WebSocket -------------------------------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        peer = str(ws.remote_address[0]) if ws.remote_address else "?"
        refusal = self.service.ws_refusal(peer, request.path)
        if refusal is None:
            return None
        texts = {404: "Not found\n", 429: "Too many connections\n"}
        return ws.respond(HTTPStatus(refusal), texts.get(refusal, ""))

    async def _serve_ws(self, ws: ServerConnection) -> None:
        svc = self.service
        peer = str(ws.remote_address[0]) if ws.remote_address else "?"
        cid = svc.ws_open(peer)
        wake = asyncio.Event()
        self._conns[cid] = (ws, wake)
        sender = asyncio.create_task(self._sender(cid, ws, wake))
        log.info("WebSocket %d opened from %s", cid, peer)
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                svc.ws_receive(cid, text)
                wake.set()
        except ConnectionClosed:
            pass
        finally:
            self._conns.pop(cid, None)
            sender.cancel()
            svc.ws_closed(cid)
            log.info("WebSocket %d closed (code %s)", cid, ws.close_code)

    async def _sender(self, cid: int, ws: ServerConnection, wake: asyncio.Event) -> None:
        svc = self.service
        try:
            while True:
                await wake.wait()
                wake.clear()
                conn = svc.conns.get(cid)
                if conn is None:
                    return
                while conn.outbox:
                    await ws.send(conn.outbox.popleft())
                if conn.close is not None:
                    code, reason = conn.close
                    await ws.close(code, reason)
                    return
        except ConnectionClosed:
            pass

    def _wake_all(self) -> None:
        for cid, (_, wake) in self._conns.items():
            conn = self.service.conns.get(cid)
            if conn is not None and (conn.outbox or conn.close is not None):
                wake.set()

    async def _pump(self) -> None:
        while True:
            try:
                self.service.tick()
                self._wake_all()
            except Exception:  # keep serving; a bug here must not freeze every client
                log.exception("Emogg simulator tick failed")
            await asyncio.sleep(self.config.tick_s)


class EmoggSimulatorThread(BackgroundServer[EmoggSimulator]):
    """An :class:`EmoggSimulator` on its own event loop in a background thread.

    ``with EmoggSimulatorThread(cfg) as sim: sim.api_url, sim.ws_url``;
    ``sim.call(fn)`` runs ``fn(simulator)`` on the simulator's loop and returns the result.
    """

    def __init__(self, config: EmoggSimulatorConfig | None = None) -> None:
        self.config = config or EmoggSimulatorConfig()
        super().__init__(lambda: EmoggSimulator(self.config), "emogg-simulator")

    @property
    def api_url(self) -> str:
        return self._sim().api_url

    @property
    def ws_url(self) -> str:
        return self._sim().ws_url
