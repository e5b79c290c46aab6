"""The status server on its own: HTTP routes and headers, the WebSocket's first messages
and pushes, loopback by default."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect

from bridge.config import StatusSettings
from bridge.status import EventHub, EventName
from bridge.status.server import StatusServer, parse_listen


def test_listen_is_loopback_by_default_and_empty_is_off() -> None:
    assert parse_listen(StatusSettings().listen) == ("127.0.0.1", 7380)
    assert parse_listen("") is None
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError):
        parse_listen("7380")


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_routes_headers_and_pushes() -> None:
    snapshot = {"schema": 1, "headsets": [{"id": "EPOCX-1"}]}
    hub = EventHub(lambda: 12.5)
    server = StatusServer("127.0.0.1", 0, lambda: snapshot,
                          lambda: [{"type": "status", "data": snapshot}])
    counts: list[int] = []
    server.on_clients = counts.append
    await server.start()
    hub.subscribe(server.push_event)
    try:
        host, port = server.bound
        base = f"http://{host}:{port}"
        status, headers, body = await asyncio.to_thread(_get, base + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        # Works offline: nothing loaded from elsewhere (the SVG namespace is only a name).
        assert b"<script" in body
        assert not re.search(rb"(src|href)\s*=\s*[\"']?(https?:)?//|@import|url\(", body)
        status, headers, body = await asyncio.to_thread(_get, base + "/status.json")
        assert status == 200 and json.loads(body) == snapshot
        assert (await asyncio.to_thread(_get, base + "/nope"))[0] == 404

        async with connect(f"ws://{host}:{port}/ws") as ws:
            first: dict[str, Any] = json.loads(await ws.recv())
            assert first == {"type": "status", "data": snapshot}
            hub.emit(EventName.GAP, "EPOCX-1", stream="eeg", missing=3)
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert pushed["type"] == "event" and pushed["severity"] == "warning"
            assert pushed["data"]["missing"] == 3 and pushed["data"]["time"] == 12.5
            await ws.send(json.dumps({"type": "control", "id": 4, "action": "record_stop"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply == {"ok": False, "type": "control", "id": 4,
                             "error": "remote control is off (status.control = false)"}
        for _ in range(50):
            if counts[-1:] == [0]:
                break
            await asyncio.sleep(0.02)
        assert counts == [1, 0]  # the tap keeps traces only while a page is connected
    finally:
        await server.close()
