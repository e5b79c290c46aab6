"""The "limit" client in its own process: the fastest receive-and-parse this machine allows.

The other baseline (:mod:`bridge.bench.clientproc`) is built from a pure-Python stack,
so a ratio to it says how far we are from *that* stack, not from what the machine can
do. This client is the floor: picows (a WebSocket client written in Cython, frames
handed over as zero-copy views of the receive buffer, no per-message future) plus orjson
(a JSON parser written in Rust) on the same TLS connection. It parses every frame and
does nothing else, so no bridge can be cheaper. The bridge's CPU, throughput and latency
are printed as ratios to it.

picows uses aiofastnet (its companion package, a TLS transport in C) when it is
installed, as it is with picows; ``"aiofastnet": false`` in the argument runs picows on
asyncio's own TLS transport instead. Same argument and modes as :mod:`bridge.bench.clientproc` (``drain``, ``stamp``,
``consume``); the command ``result`` answers with the same figures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import sys
import time
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bridge.bench.childproc import serve_result
from bridge.cortex.connection import MAX_MESSAGE_BYTES
from bridge.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


class Listener(WSListener):
    """Parses every frame; answers go to their request's future, data to ``on_data``."""

    def __init__(self) -> None:
        self.pending: dict[Any, asyncio.Future[Any]] = {}
        self.on_data = self.ignore
        self.parts: list[bytes] = []

    @staticmethod
    def ignore(obj: dict[str, Any], now: float) -> None:
        return None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.monotonic()
        if frame.msg_type == WSMsgType.CONTINUATION or not frame.fin:
            self.parts.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            obj = orjson.loads(b"".join(self.parts))
            self.parts.clear()
        elif frame.msg_type == WSMsgType.TEXT:
            obj = orjson.loads(frame.get_payload_as_memoryview())
        else:
            return
        if type(obj) is dict and "sid" in obj:
            self.on_data(obj, now)
            return
        future = self.pending.pop(obj.get("id"), None) if type(obj) is dict else None
        if future is not None and not future.done():
            if "error" in obj:
                future.set_exception(RuntimeError(str(obj["error"])))
            else:
                future.set_result(obj.get("result"))


class Client:
    def __init__(self, transport: WSTransport, listener: Listener) -> None:
        self.transport = transport
        self.listener = listener
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> Any:
        rid = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.listener.pending[rid] = future
        self.transport.send(WSMsgType.TEXT, orjson.dumps(
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    async def subscribe(self, headsets: list[str], streams: list[str]) -> None:
        token = (await self.call("authorize", clientId=DEFAULT_CLIENT_ID,
                                 clientSecret=DEFAULT_CLIENT_SECRET))["cortexToken"]
        for headset in headsets:
            session = await self.call("createSession", cortexToken=token, headset=headset,
                                      status="active")
            await self.call("subscribe", cortexToken=token, session=session["id"],
                            streams=streams)


def consume(listener: Listener) -> asyncio.Future[dict[str, Any]]:
    counts = [0]
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_data(obj: dict[str, Any], now: float) -> None:
        counts[0] += 1

    listener.on_data = on_data
    done.set_result({"frames": -1})  # answered at once: its CPU is read from outside
    return done


def drain(listener: Listener, frames: int, timeout: float) -> asyncio.Future[dict[str, Any]]:
    low, high = frames // 10, frames - frames // 10
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    state = {"count": 0, "t_low": 0.0, "cpu_low": 0.0}
    deadline = time.monotonic() + timeout

    def on_data(obj: dict[str, Any], now: float) -> None:
        if "eeg" not in obj or done.done():
            return
        count = state["count"] = state["count"] + 1
        if count == low:
            state["t_low"], state["cpu_low"] = now, time.process_time()
        elif count == high or now > deadline:
            elapsed = now - state["t_low"]
            cpu = time.process_time() - state["cpu_low"]
            done.set_result({"frames": count,
                             "rate": (count - low) / elapsed if elapsed > 0 else 0.0,
                             "cpu": 100.0 * cpu / elapsed if elapsed > 0 else 0.0})

    listener.on_data = on_data
    return done


def stamp(listener: Listener, seconds: float) -> asyncio.Future[dict[str, Any]]:
    arrivals: list[tuple[float, float]] = []
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    end = time.monotonic() + seconds

    def on_data(obj: dict[str, Any], now: float) -> None:
        if "eeg" in obj and not done.done():
            arrivals.append((obj["time"], now))
            if now > end:
                done.set_result({"arrivals": arrivals})

    listener.on_data = on_data
    return done


async def main(params: dict[str, Any]) -> None:
    context = ssl.create_default_context(cafile=params["ca"])
    transport, made = await ws_connect(Listener, params["url"], ssl_context=context,
                                       max_frame_size=MAX_MESSAGE_BYTES,
                                       use_aiofastnet=params.get("aiofastnet"))
    assert isinstance(made, Listener)
    listener = made
    client = Client(transport, listener)
    mode = params["mode"]
    if mode == "consume":
        await client.subscribe(list(params["headsets"]), list(params["streams"]))
        run = consume(listener)
    else:
        await client.subscribe([params["headset"]], ["eeg"])
        if mode == "drain":
            run = drain(listener, int(params["frames"]), float(params["timeout"]))
        else:
            run = stamp(listener, float(params["seconds"]))

    try:
        await serve_result(run)
    finally:
        transport.disconnect()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
