"""The WebSocket to Cortex: TLS, requests awaited by id, unsolicited frames handed on.

The transport is picows (a WebSocket client written in Cython). Each frame is handed to
:meth:`CortexConnection.handle_message` from picows' ``on_ws_frame`` callback as a view
of the receive buffer, which orjson parses in place: no message queue, no future and no
task switch per frame (README, Performance: the figures behind this choice). Data
samples go straight to ``on_data`` (the hot path: no classification beyond the ``sid``
check); responses resolve the future of their request id; warnings and malformed frames
go to their callbacks. A callback that raises is logged and counted, never allowed to
stop the reader.

What can go wrong while connecting is raised as websockets' exceptions (a handshake
refused with a status, a malformed answer, an invalid URI), so the retry table
(:mod:`bridge.supervise`) and the hints (:mod:`bridge.cortex.hints`) read one set of
types, the same as for the Emogg source, which stays on websockets.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSHandshakeError,
    WSInvalidStatusError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI
from websockets.http11 import Response as HttpResponse

from bridge.cortex.protocol import (
    ConnectionLost,
    CortexError,
    CortexWarning,
    ErrorResponse,
    Malformed,
    RequestBuilder,
    Response,
    classify,
    decode,
    redact,
)

log = logging.getLogger(__name__)

DataHandler = Callable[[dict[str, Any]], None]
WarningHandler = Callable[[CortexWarning], None]
MalformedHandler = Callable[[str], None]

# How long a close waits for the peer's close frame: a frozen Cortex never sends one, and a
# stop must end within the service's stop timeout (issue 16: 2 s whatever Cortex does).
CLOSE_HANDSHAKE_SECONDS = 0.3
# Real frames are a few hundred bytes; a large bound still stops a runaway peer.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# A ping when nothing arrived for this long; the connection is dropped when its pong
# does not come within as long again (Cortex answers pings, as websockets did here).
ABANDONED_KEPT = 1024  # request ids given up on whose late answers are recognised
PING_IDLE_S = 10.0
PING_REPLY_S = 10.0


def make_ssl_context(url: str, tls_verify: bool, ca_file: str | Path | None) -> ssl.SSLContext | None:
    """The TLS context for ``url``: verification on unless explicitly turned off.

    With ``ca_file`` the chain must lead to that CA (Emotiv's ``rootCA.pem`` or the
    simulator's); without it, to the system trust store (where Emotiv's installer puts
    its CA). There is no silent fallback to an unverified connection.
    """
    if urlsplit(url).scheme != "wss":
        return None
    if not tls_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def handshake_error(exc: WSError, url: str) -> Exception:
    """picows' exception for a failed connection attempt, as websockets would raise it."""
    if isinstance(exc, WSInvalidURL):
        return InvalidURI(url, str(exc).rpartition(": ")[2])
    if isinstance(exc, WSInvalidStatusError) and exc.response is not None:
        answer = exc.response
        headers = Headers(list(answer.headers.items()))
        status = int(answer.status)
        reason = getattr(answer.status, "phrase", "") or ""
        return InvalidStatus(HttpResponse(status, reason, headers, answer.body or b""))
    if isinstance(exc, WSHandshakeError):
        return InvalidMessage(str(exc))
    return InvalidHandshake(str(exc))


class _Listener(WSListener):
    """picows' callbacks for one connection: each complete message to the connection."""

    def __init__(self, conn: CortexConnection) -> None:
        self.conn = conn
        self.parts: list[bytes] | None = None  # a fragmented message being gathered
        self.size = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                # a view of picows' buffer: parsed now, never kept
                self.conn.handle_message(frame.get_payload_as_memoryview())
            else:
                self.parts, self.size = [frame.get_payload_as_bytes()], 0
        elif kind is WSMsgType.CONTINUATION:
            if self.parts is None:
                return
            payload = frame.get_payload_as_bytes()
            self.size += len(payload)
            if self.size > MAX_MESSAGE_BYTES:
                transport.send_close(WSCloseCode.MESSAGE_TOO_BIG)
                transport.disconnect()
                return
            self.parts.append(payload)
            if frame.fin:
                message, self.parts = b"".join(self.parts), None
                self.conn.handle_message(message)
        elif kind is WSMsgType.CLOSE:
            self.conn.close_code = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.conn.connection_lost()


class CortexConnection:
    """A JSON-RPC connection to Cortex over one WebSocket."""

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        on_data: DataHandler,
        on_warning: WarningHandler,
        on_malformed: MalformedHandler,
        request_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._ssl = ssl_context
        self._on_data = on_data
        self._on_warning = on_warning
        self._on_malformed = on_malformed
        self._timeout = request_timeout
        self._requests = RequestBuilder()
        self._pending: dict[int | str, tuple[str, asyncio.Future[Any]]] = {}
        # Requests given up on (timed out, cancelled): their answers may still come, late
        # (after a stall), and are no stranger's. The oldest are forgotten.
        self._abandoned: collections.OrderedDict[int | str, str] = collections.OrderedDict()
        self.late_answers = 0
        self._transport: WSTransport | None = None
        self._closed = asyncio.Event()
        self.close_code: int | None = None  # what the server's close frame said
        self.callback_errors = 0

    async def open(self, timeout: float | None = None) -> None:
        """Connect; raises ``OSError``/``TimeoutError``/websockets errors if Cortex is unreachable."""
        limit = timeout if timeout is not None else self._timeout
        try:
            async with asyncio.timeout(limit):
                transport, _ = await ws_connect(
                    lambda: _Listener(self),
                    self.url,
                    ssl_context=self._ssl,
                    websocket_handshake_timeout=limit,
                    enable_auto_ping=True,
                    auto_ping_idle_timeout=PING_IDLE_S,
                    auto_ping_reply_timeout=PING_REPLY_S,
                    max_frame_size=MAX_MESSAGE_BYTES,
                    # asyncio's own TLS: its errors (certificate checks) are what the
                    # hints read, and the measured difference is small (README)
                    use_aiofastnet=False,
                )
        except WSError as exc:
            raise handshake_error(exc, self.url) from exc
        if transport.is_disconnected:
            # picows returns a closed transport when the server hangs up before it
            # answers the upgrade (a TLS server asked in plain text): as websockets says it
            raise InvalidMessage("did not receive a valid HTTP response") from EOFError(
                "connection closed while reading HTTP status line")
        self._transport = transport

    def filter_data(self, wrap: Callable[[DataHandler], DataHandler]) -> None:
        """Put a step in front of ``on_data``: ``wrap(handler)`` gets the current handler
        and returns the one the reader calls (a dialect normalising its frames)."""
        self._on_data = wrap(self._on_data)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        transport = self._transport
        if transport is not None and not self.closed and not transport.is_disconnected:
            if not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.OK)
            try:
                async with asyncio.timeout(CLOSE_HANDSHAKE_SECONDS):
                    await transport.wait_disconnected()
            except TimeoutError:
                transport.disconnect(graceful=False)
        self.connection_lost()

    def connection_lost(self) -> None:
        """The socket is gone: every waiting request fails with :class:`ConnectionLost`."""
        self._closed.set()
        pending, self._pending = self._pending, {}
        for method, future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost(f"{method}: connection to Cortex lost"))

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send a request and wait for its result; raises :class:`CortexError` on an error."""
        transport = self._transport
        if transport is None or self.closed:
            raise ConnectionLost(f"{method}: not connected to Cortex")
        rid, text = self._requests.build(method, params)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (method, future)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("-> %s #%s %s", method, rid, redact(params))
        try:
            transport.send(WSMsgType.TEXT, text.encode())
            async with asyncio.timeout(timeout if timeout is not None else self._timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"{method}: no answer from Cortex within the timeout") from None
        finally:
            self._pending.pop(rid, None)
            if future.cancelled():  # timed out or cancelled: no answer taken
                self._abandoned[rid] = method
                while len(self._abandoned) > ABANDONED_KEPT:
                    self._abandoned.popitem(last=False)

    def handle_message(self, message: str | bytes | memoryview) -> None:
        """One WebSocket message, whatever it holds: to its callback or request. Never
        raises (a callback that raises is logged and counted)."""
        obj = decode(message)
        if type(obj) is dict and "sid" in obj:  # is_data(obj), inlined: every frame
            try:
                self._on_data(obj)
            except Exception:
                self.callback_errors += 1
                log.exception("error while handling a data frame")
            return
        self._dispatch(classify(obj))

    def _dispatch(self, item: Response | ErrorResponse | CortexWarning | Malformed) -> None:
        try:
            if isinstance(item, Response):
                self._resolve(item.id, item.result, None)
            elif isinstance(item, ErrorResponse):
                self._resolve(item.id, None, item)
            elif isinstance(item, CortexWarning):
                self._on_warning(item)
            else:
                self._on_malformed(item.reason)
        except Exception:
            self.callback_errors += 1
            log.exception("error while handling a Cortex message")

    def _resolve(self, rid: int | str | None, result: Any, error: ErrorResponse | None) -> None:
        entry = self._pending.get(rid) if rid is not None else None
        if entry is None:
            late = self._abandoned.pop(rid, None) if rid is not None else None
            if late is not None:
                self.late_answers += 1
                log.debug("<- %s #%s, late: the request was given up on", late, rid)
            elif error is not None and rid is None:
                self._on_malformed(f"an error without a request id: {error.code} {error.message}")
            else:
                self._on_malformed(f"an answer to an unknown request id {rid!r}")
            return
        method, future = entry
        if future.done():
            return
        if error is None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("<- %s #%s", method, rid)
            future.set_result(result)
        else:
            future.set_exception(CortexError(method, error.code, error.message, error.data))
