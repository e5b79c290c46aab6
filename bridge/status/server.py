"""The status page: HTTP and a WebSocket on one port, served by ``websockets``.

``GET /`` is the page (one file, no external assets: it works offline), ``GET
/status.json`` the latest snapshot, and ``/ws`` the WebSocket that pushes updates:
``{"type": "status"}`` once a second, ``{"type": "traces"}`` (new EEG points) twice a
second, ``{"type": "event"}`` as diagnostics happen, ``{"type": "fleet"}`` every two
seconds. ``websockets`` answers plain HTTP through ``process_request``, so the daemon
needs no second server library.

It binds where ``status.listen`` says (loopback by default); the pushes are built once
for all pages and sent with ``broadcast``, which never waits for a slow page (it skips a
page whose buffer is full) so the event loop, which also carries the data, never blocks
on a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bridge.status.control import is_loopback
from bridge.status.events import Event

log = logging.getLogger(__name__)

PAGE_PATHS: Final = frozenset({"/", "/index.html"})
WS_PATH: Final = "/ws"
JSON_PATH: Final = "/status.json"
SECURITY_HEADERS: Final = (
    ("Cache-Control", "no-store"),
    # Nothing from anywhere else: the page is self-contained and must stay so.
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
     "connect-src 'self'; img-src 'self' data:"),
    ("X-Content-Type-Options", "nosniff"),
)


def parse_listen(listen: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port`` too); ``""`` means off."""
    if not listen:
        return None
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"status.listen {listen!r}: use host:port, e.g. 127.0.0.1:7380")
    return host.strip("[]") or "127.0.0.1", int(port)


def page_html() -> bytes:
    return (resources.files("bridge.status") / "page.html").read_bytes()


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       *SECURITY_HEADERS])
    return Response(status.value, status.phrase, headers, body)


ControlFn = Callable[[dict[str, Any], bool], Awaitable[dict[str, Any]]]


class StatusServer:
    """The HTTP + WebSocket server of the status page."""

    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Callable[[], dict[str, Any]],
        hello: Callable[[], list[dict[str, Any]]],
        control: ControlFn | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._snapshot = snapshot
        self._hello = hello
        self._control = control
        self._page = page_html()
        self.clients: set[ServerConnection] = set()
        self._server: Server | None = None
        self.on_clients: Callable[[int], None] = lambda n: None
        self.fleet_watchers: set[ServerConnection] = set()
        self.on_fleet: Callable[[int], None] = lambda n: None

    @property
    def bound(self) -> tuple[str, int]:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        name = sock.getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._http,
            max_size=64 * 1024, ping_interval=20, ping_timeout=20,
            # Compression costs CPU on the data path's loop for small gains here.
            compression=None,
        )
        host, port = self.bound
        log.info("status page on http://%s:%d/", host if ":" not in host else f"[{host}]", port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None  # the WebSocket handshake goes on
        if path in PAGE_PATHS:
            return _response(http.HTTPStatus.OK, self._page, "text/html; charset=utf-8")
        if path == JSON_PATH:
            body = json.dumps(self._snapshot(), separators=(",", ":")).encode()
            return _response(http.HTTPStatus.OK, body, "application/json")
        return _response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    async def _handler(self, connection: ServerConnection) -> None:
        self.clients.add(connection)
        self.on_clients(len(self.clients))
        try:
            for message in self._hello():
                await connection.send(json.dumps(message, separators=(",", ":")))
            async for raw in connection:
                await self._on_message(connection, raw)
        finally:
            self.clients.discard(connection)
            self._watch_fleet(connection, False)
            self.on_clients(len(self.clients))

    def _watch_fleet(self, connection: ServerConnection, on: bool) -> None:
        """The fleet is read (resolving LSL streams costs every outlet on the network
        an answer) only while some page shows the fleet tab."""
        before = len(self.fleet_watchers)
        if on:
            self.fleet_watchers.add(connection)
        else:
            self.fleet_watchers.discard(connection)
        if len(self.fleet_watchers) != before:
            self.on_fleet(len(self.fleet_watchers))

    async def _on_message(self, connection: ServerConnection, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "fleet":
            self._watch_fleet(connection, bool(message.get("on")))
            return
        if message.get("type") != "control":
            return
        if self._control is None:
            reply = {"ok": False, "error": "remote control is off (status.control = false)"}
        else:
            peer = connection.remote_address[0] if connection.remote_address else ""
            reply = await self._control(message, is_loopback(str(peer)))
        reply["type"] = "control"
        reply["id"] = message.get("id")
        await connection.send(json.dumps(reply))

    def push(self, message: dict[str, Any]) -> None:
        """Send to every page without waiting (a page that cannot keep up misses it)."""
        if self.clients:
            broadcast(self.clients, json.dumps(message, separators=(",", ":")))

    def push_event(self, event: Event) -> None:
        self.push({"type": "event", "data": event.as_dict(), "severity": event.severity})

