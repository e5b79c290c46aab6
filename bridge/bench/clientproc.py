"""A bare Cortex client in its own process: the benchmarks' baseline.

It does what every bridge must do and nothing more: receive the WebSocket frames with
websockets and parse them with the standard ``json`` module: the stack the bridge was
first built on, kept as a fixed reference between runs. ``"json": "orjson"`` in the
argument parses with orjson instead (websockets + orjson: what the transport alone costs,
beside the limit client of :mod:`bridge.bench.limitproc`). Modes, given in the JSON
argument:

- ``drain``: count EEG frames as fast as they come (the throughput baseline);
  the rate is taken between the 10% and the 90% mark of ``frames``, so connection
  set-up and the tail do not count.
- ``stamp``: note ``time.monotonic()`` (= ``pylsl.local_clock()``) when each EEG frame
  arrives: the timestamp other bridges give a sample ("stamping on arrival").
- ``consume``: subscribe ``streams`` of every headset in ``headsets`` and decode every
  frame until told to quit (the real-time cost baseline; its CPU is read from outside).

Command ``result`` waits for the run to finish and answers with its figures.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bridge.bench.childproc import serve_result
from bridge.cortex.connection import MAX_MESSAGE_BYTES
from bridge.cortex.protocol import RequestBuilder, is_data
from bridge.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

decode: Callable[[str | bytes], Any] = json.loads


async def call(ws: ClientConnection, ids: RequestBuilder, method: str, **params: Any) -> Any:
    """One request; data frames that arrive meanwhile are dropped."""
    rid, text = ids.build(method, params)
    await ws.send(text)
    while True:
        msg = decode(await ws.recv())
        if isinstance(msg, dict) and msg.get("id") == rid:
            if "error" in msg:
                raise RuntimeError(f"{method}: {msg['error']}")
            return msg["result"]


async def subscribe(ws: ClientConnection, headsets: list[str], streams: list[str]) -> None:
    ids = RequestBuilder()
    token = (await call(ws, ids, "authorize", clientId=DEFAULT_CLIENT_ID,
                        clientSecret=DEFAULT_CLIENT_SECRET))["cortexToken"]
    for headset in headsets:
        session = await call(ws, ids, "createSession", cortexToken=token, headset=headset,
                             status="active")
        await call(ws, ids, "subscribe", cortexToken=token, session=session["id"],
                   streams=streams)


async def consume(ws: ClientConnection) -> dict[str, Any]:
    frames = 0
    async for message in ws:
        if is_data(decode(message)):
            frames += 1
    return {"frames": frames}


async def drain(ws: ClientConnection, frames: int, timeout: float) -> dict[str, Any]:
    low, high = frames // 10, frames - frames // 10
    count = 0
    t_low = t_high = 0.0
    cpu_low = cpu_high = 0.0
    deadline = time.monotonic() + timeout
    async for message in ws:
        obj = decode(message)
        if is_data(obj) and "eeg" in obj:
            count += 1
            if count == low:
                t_low, cpu_low = time.monotonic(), time.process_time()
            elif count == high:
                t_high, cpu_high = time.monotonic(), time.process_time()
                break
        if time.monotonic() > deadline:
            break
    elapsed = t_high - t_low
    rate = (high - low) / elapsed if elapsed > 0 else 0.0
    cpu = 100.0 * (cpu_high - cpu_low) / elapsed if elapsed > 0 else 0.0
    return {"frames": count, "rate": rate, "cpu": cpu}


async def stamp(ws: ClientConnection, seconds: float) -> dict[str, Any]:
    arrivals: list[tuple[float, float]] = []
    end = time.monotonic() + seconds
    async for message in ws:
        now = time.monotonic()
        obj = decode(message)
        if is_data(obj) and "eeg" in obj:
            arrivals.append((obj["time"], now))
        if now > end:
            break
    return {"arrivals": arrivals}


async def main(params: dict[str, Any]) -> None:
    global decode
    if params.get("json") == "orjson":
        decode = orjson.loads
    context = ssl.create_default_context(cafile=params["ca"])
    async with connect(params["url"], ssl=context, compression=None,
                       max_size=MAX_MESSAGE_BYTES) as ws:
        mode = params["mode"]
        if mode == "consume":
            await subscribe(ws, list(params["headsets"]), list(params["streams"]))
            run = asyncio.create_task(consume(ws))
        else:
            await subscribe(ws, [params["headset"]], ["eeg"])
        if mode == "drain":
            run = asyncio.create_task(drain(ws, int(params["frames"]), float(params["timeout"])))
        elif mode == "stamp":
            run = asyncio.create_task(stamp(ws, float(params["seconds"])))

        await serve_result(run)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
