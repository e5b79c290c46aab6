"""The WebSocket to Cortex: TLS, requests awaited by id, unsolicited frames handed on.

One reader task owns the socket's receive side. Data samples go straight to
``on_data`` (the hot path: no classification beyond the ``sid`` check); responses resolve
the future of their request id; warnings and malformed frames go to their callbacks.
A callback that raises is logged and counted, never allowed to stop the reader.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

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
    is_data,
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
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.callback_errors = 0

    async def open(self, timeout: float | None = None) -> None:
        """Connect; raises ``OSError``/``TimeoutError``/websockets errors if Cortex is unreachable."""
        self._ws = await connect(
            self.url,
            ssl=self._ssl,
            open_timeout=timeout if timeout is not None else self._timeout,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            ping_interval=10.0,
            ping_timeout=10.0,
            close_timeout=CLOSE_HANDSHAKE_SECONDS,
        )
        self._reader = asyncio.create_task(self._read(self._ws), name="cortex-reader")

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
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._closed.set()

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send a request and wait for its result; raises :class:`CortexError` on an error."""
        if self._ws is None or self.closed:
            raise ConnectionLost(f"{method}: not connected to Cortex")
        rid, text = self._requests.build(method, params)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (method, future)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("-> %s #%s %s", method, rid, redact(params))
        try:
            await self._ws.send(text)
            async with asyncio.timeout(timeout if timeout is not None else self._timeout):
                return await future
        except ConnectionClosed as exc:
            raise ConnectionLost(f"{method}: connection to Cortex lost") from exc
        except TimeoutError:
            raise TimeoutError(f"{method}: no answer from Cortex within the timeout") from None
        finally:
            self._pending.pop(rid, None)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self.handle_message(message)
        except ConnectionClosed:
            pass
        finally:
            self._closed.set()
            for method, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionLost(f"{method}: connection to Cortex lost"))

    def handle_message(self, message: str | bytes) -> None:
        """One WebSocket message, whatever it holds: to its callback or request. Never
        raises (a callback that raises is logged and counted)."""
        obj = decode(message)
        if is_data(obj):
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
            if error is not None and rid is None:
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
