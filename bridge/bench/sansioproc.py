"""A drain client on websockets' sans-I/O protocol under a lean asyncio protocol.

One of the three transports the bridge could use (websockets' asyncio client,
this, picows): the same TLS connection and orjson parsing, with websockets' own frame
parser but none of its asyncio machinery (no message assembler, no future per message,
no async iteration): ``data_received`` feeds the parser and parses each text frame at
once. Used by the throughput scenario to choose the bridge's transport by the numbers.
Only the ``drain`` mode (argument as for :mod:`bridge.bench.clientproc`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from bridge.bench.childproc import serve_result
from bridge.cortex.connection import MAX_MESSAGE_BYTES
from bridge.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


class Lean(asyncio.Protocol):
    def __init__(self, ws: ClientProtocol) -> None:
        self.ws = ws
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending: dict[Any, asyncio.Future[Any]] = {}
        self.on_data: Callable[[dict[str, Any], float], None] = self.ignore

    @staticmethod
    def ignore(obj: dict[str, Any], now: float) -> None:
        return None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        transport.write(b"".join(self.ws.data_to_send()))

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        now = time.monotonic()
        for event in ws.events_received():
            if type(event) is Frame:
                if event.opcode is Opcode.TEXT:
                    self.message(orjson.loads(event.data), now)
            elif isinstance(event, Response) and not self.opened.done():
                if ws.handshake_exc is not None:
                    self.opened.set_exception(ws.handshake_exc)
                else:
                    self.opened.set_result(None)
        out = ws.data_to_send()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def message(self, obj: Any, now: float) -> None:
        if type(obj) is dict and "sid" in obj:
            self.on_data(obj, now)
            return
        future = self.pending.pop(obj.get("id"), None)
        if future is not None and not future.done():
            future.set_result(obj.get("result"))

    def send(self, text: bytes) -> None:
        assert self.transport is not None
        self.ws.send_text(text)
        self.transport.write(b"".join(self.ws.data_to_send()))


async def call(lean: Lean, ids: itertools.count[int], method: str, **params: Any) -> Any:
    rid = next(ids)
    future = asyncio.get_running_loop().create_future()
    lean.pending[rid] = future
    lean.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
    return await asyncio.wait_for(future, 30)


async def main(params: dict[str, Any]) -> None:
    from bridge.bench.limitproc import drain

    context = ssl.create_default_context(cafile=params["ca"])
    uri = parse_uri(params["url"])
    ws = ClientProtocol(uri, max_size=MAX_MESSAGE_BYTES)
    loop = asyncio.get_running_loop()
    transport, lean = await loop.create_connection(lambda: Lean(ws), uri.host, uri.port,
                                                   ssl=context, server_hostname=uri.host)
    await lean.opened
    ids = itertools.count(1)
    token = (await call(lean, ids, "authorize", clientId=DEFAULT_CLIENT_ID,
                        clientSecret=DEFAULT_CLIENT_SECRET))["cortexToken"]
    session = await call(lean, ids, "createSession", cortexToken=token,
                         headset=params["headset"], status="active")
    await call(lean, ids, "subscribe", cortexToken=token, session=session["id"],
               streams=["eeg"])
    run = drain(lean, int(params["frames"]), float(params["timeout"]))  # type: ignore[arg-type]

    try:
        await serve_result(run)
    finally:
        transport.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
