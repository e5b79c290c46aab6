"""A third-party Cortex client, written the way Emotiv's official Python example is,
runs against the simulator unchanged.

The client below follows ``Emotiv/cortex-example/python/cortex.py`` (cortex_api.md §2.1,
§1.3): ``websocket-client``'s ``WebSocketApp`` with ``sslopt={'ca_certs': CA,
'cert_reqs': ssl.CERT_REQUIRED}``, one fixed integer id per method, dispatch of every
incoming message on the keys ``sid`` -> data, ``result`` -> response, ``error`` -> error,
``warning`` -> warning, and the prepare steps hasAccessRight -> authorize ->
controlDevice refresh + queryHeadsets -> controlDevice connect -> (warning 104) ->
queryHeadsets -> createSession -> subscribe. It connects to ``wss://localhost:PORT`` so the
certificate's DNS name is verified.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
import time
from typing import Any

import websocket  # websocket-client, as in Emotiv's example

QUERY_HEADSET_ID = 1
CONNECT_HEADSET_ID = 2
REQUEST_ACCESS_ID = 3
AUTHORIZE_ID = 4
CREATE_SESSION_ID = 5
SUB_REQUEST_ID = 6
HAS_ACCESS_RIGHT_ID = 20
REFRESH_HEADSET_ID = 25

WARNING_ACCESS_GRANTED = 9
WARNING_HEADSET_CONNECTED = 104
WARNING_SCAN_FINISHED = 142


class ExampleStyleCortex:
    """The official example's client shape, trimmed to the prepare steps and data."""

    def __init__(
        self, url: str, ca_certs: str, client_id: str, client_secret: str, streams: list[str]
    ) -> None:
        self.url = url
        self.ca_certs = ca_certs
        self.client_id = client_id
        self.client_secret = client_secret
        self.streams = streams
        self.headset_id = ""
        self.session_id = ""
        self.auth = ""
        self.labels: dict[str, Any] = {}
        self.data: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.warnings: list[int] = []
        self.ws: websocket.WebSocketApp | None = None

    # -- socket plumbing, as in the example --------------------------------------------

    def open(self) -> threading.Thread:
        self.ws = websocket.WebSocketApp(self.url, on_message=self.on_message, on_open=self.on_open)
        sslopt = {"ca_certs": self.ca_certs, "cert_reqs": ssl.CERT_REQUIRED}
        thread = threading.Thread(target=self.ws.run_forever, args=(None, sslopt), daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def send(self, request_id: int, method: str, params: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        )

    def on_open(self, *args: Any) -> None:
        self.send(
            HAS_ACCESS_RIGHT_ID,
            "hasAccessRight",
            {"clientId": self.client_id, "clientSecret": self.client_secret},
        )

    def on_message(self, *args: Any) -> None:
        message = json.loads(args[1])
        if "sid" in message:
            self.handle_stream_data(message)
        elif "result" in message:
            self.handle_result(message)
        elif "error" in message:
            self.errors.append(message["error"])
        elif "warning" in message:
            self.handle_warning(message["warning"])
        else:
            raise KeyError(message)

    # -- the prepare steps -------------------------------------------------------------

    def authorize(self) -> None:
        self.send(
            AUTHORIZE_ID,
            "authorize",
            {
                "clientId": self.client_id,
                "clientSecret": self.client_secret,
                "license": "",
                "debit": 10,
            },
        )

    def query_headset(self) -> None:
        self.send(QUERY_HEADSET_ID, "queryHeadsets", {})

    def handle_result(self, message: dict[str, Any]) -> None:
        request_id, result = message["id"], message["result"]
        if request_id == HAS_ACCESS_RIGHT_ID:
            if result["accessGranted"]:
                self.authorize()
            else:
                self.send(
                    REQUEST_ACCESS_ID,
                    "requestAccess",
                    {"clientId": self.client_id, "clientSecret": self.client_secret},
                )
        elif request_id == REQUEST_ACCESS_ID:
            if result["accessGranted"]:
                self.authorize()
        elif request_id == AUTHORIZE_ID:
            self.auth = result["cortexToken"]
            self.send(REFRESH_HEADSET_ID, "controlDevice", {"command": "refresh"})
            self.query_headset()
        elif request_id == QUERY_HEADSET_ID:
            headsets = result
            if not headsets:
                return
            if self.headset_id == "":
                self.headset_id = headsets[0]["id"]
            status = next(h["status"] for h in headsets if h["id"] == self.headset_id)
            if status == "connected":
                if self.session_id == "":
                    self.send(
                        CREATE_SESSION_ID,
                        "createSession",
                        {"cortexToken": self.auth, "headset": self.headset_id, "status": "active"},
                    )
            elif status == "discovered":
                self.send(
                    CONNECT_HEADSET_ID,
                    "controlDevice",
                    {"command": "connect", "headset": self.headset_id},
                )
            elif status == "connecting":
                time.sleep(0.5)
                self.query_headset()
        elif request_id == CREATE_SESSION_ID:
            self.session_id = result["id"]
            self.send(
                SUB_REQUEST_ID,
                "subscribe",
                {"cortexToken": self.auth, "session": self.session_id, "streams": self.streams},
            )
        elif request_id == SUB_REQUEST_ID:
            for stream in result["success"]:
                name, cols = stream["streamName"], stream["cols"]
                if name == "eeg":
                    self.labels[name] = cols[:-1]  # the example strips MARKERS
                elif name == "dev":
                    self.labels[name] = cols[2]  # the nested sensor array
                else:
                    self.labels[name] = cols

    def handle_warning(self, warning: dict[str, Any]) -> None:
        code = warning["code"]
        self.warnings.append(code)
        if code == WARNING_ACCESS_GRANTED:
            self.authorize()
        elif code == WARNING_HEADSET_CONNECTED:
            self.query_headset()
        elif code == WARNING_SCAN_FINISHED and self.session_id == "":
            self.send(REFRESH_HEADSET_ID, "controlDevice", {"command": "refresh"})

    def handle_stream_data(self, message: dict[str, Any]) -> None:
        for key in ("eeg", "mot", "dev", "met", "pow"):
            if key in message:
                values = list(message[key])
                if key == "eeg":
                    values.pop()  # the example removes MARKERS
                self.data.setdefault(key, []).append({key: values, "time": message["time"]})


def test_emotiv_example_style_client_runs_unchanged(sim_factory):
    sim = sim_factory(headsets=["epocx"], access="prompt")
    streams = ["eeg", "mot", "met", "pow", "dev"]
    client = ExampleStyleCortex(
        sim.url.replace("127.0.0.1", "localhost"),
        str(sim.ca_pem_path),
        "cortex-bridge-demo",
        "cortex-bridge-demo-secret",
        streams,
    )
    thread = client.open()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(client.data.get("eeg", [])) >= 128 and all(s in client.data for s in streams):
                break
            time.sleep(0.05)
    finally:
        client.close()
        thread.join(timeout=5)
    assert client.errors == []
    assert (
        WARNING_ACCESS_GRANTED in client.warnings and WARNING_HEADSET_CONNECTED in client.warnings
    )
    assert client.session_id and set(client.labels) == set(streams)
    assert client.labels["dev"][-1] == "OVERALL"
    for stream in streams:
        assert client.data.get(stream), f"no {stream} data"
    eeg = client.data["eeg"]
    assert all(len(row["eeg"]) == len(client.labels["eeg"]) for row in eeg)
    counters = [row["eeg"][0] for row in eeg]
    assert all((b - a) % 128 == 1 for a, b in itertools.pairwise(counters))
