"""Test-wide set-up.

The loopback-only liblsl config is installed at import time, before any test (or any
library a test imports) makes its first LSL call, and it is inherited by every
subprocess a test starts. Nothing in the test suite may multicast on the LAN.
"""

from __future__ import annotations

import logging
import os
import uuid

import pytest

from bridge.lslconfig import use_loopback_config

LSL_CONFIG_PATH = use_loopback_config("cortex-bridge-test")


@pytest.fixture
def unique_id() -> str:
    """A short random token for stream names and source ids unique to one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def lsl_config_path() -> str:
    return os.environ["LSLAPICFG"]


@pytest.fixture(params=["v2", "v1"])
def dialect(request: pytest.FixtureRequest) -> str:
    """The Cortex API a test's simulator speaks: a test (or fixture) that asks for it
    runs once against Cortex 2+ and once against the Cortex 1.x dialect. Pass it to
    ``SimulatorConfig(dialect=...)`` and build the bridge's settings with
    ``bridge_harness.settings_for`` (the bridge detects the dialect itself)."""
    return str(request.param)


# ---- Cortex simulator fixtures (tests/test_simulator_*.py) ----------------------------

import contextlib as _contextlib  # noqa: E402
import json as _json  # noqa: E402
import time as _time  # noqa: E402
from collections.abc import Callable as _Callable  # noqa: E402
from collections.abc import Iterator as _Iterator  # noqa: E402
from typing import Any as _Any  # noqa: E402

from bridge_harness import threaded_client_tls  # noqa: E402
from websockets.sync.client import ClientConnection as _ClientConnection  # noqa: E402
from websockets.sync.client import connect as _ws_connect  # noqa: E402

from bridge.simulator import SimulatorConfig, SimulatorThread  # noqa: E402

SIM_CLIENT_ID = "cortex-bridge-demo"
SIM_CLIENT_SECRET = "cortex-bridge-demo-secret"

# Fast versions of the real service's delays so that tests do not wait 20 s for a scan.
FAST_SIM: dict[str, _Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "seed": 7,
    "scan_delay_s": 0.3,
    "connect_delay_s": 0.1,
    "approval_delay_s": 0.2,
    "power_off_timeout_s": 0.6,
    "training_duration_s": 0.3,
}


class CortexTestClient:
    """A plain JSON-RPC client over a real WebSocket, for conformance tests.

    It knows nothing of the simulator's code: it sends what the Cortex docs describe and
    keeps every unsolicited message (data samples and warnings) it reads while waiting
    for a response, in arrival order, with the arrival time."""

    def __init__(self, url: str, ca_pem: str | None) -> None:
        ctx = None
        if url.startswith("wss://"):
            ctx = threaded_client_tls(ca_pem)
        # Entered as a context manager (websockets >= 17.1 warns otherwise); close() exits.
        # close_timeout: a test that leaves the simulator streaming need not wait 10 s for
        # its closing handshake (one did, behind a backlog of data frames).
        self.ws: _ClientConnection = _ws_connect(
            url, ssl=ctx, compression=None, max_size=2**24, close_timeout=2
        ).__enter__()
        self.inbox: list[tuple[float, _Any]] = []  # (arrival epoch time, decoded message)
        self.raw: list[str] = []  # messages that were not JSON
        self._next_id = 0
        self.token: str | None = None

    def close(self) -> None:
        self.ws.close()

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def _read(self, timeout: float) -> _Any:
        text = self.ws.recv(timeout=timeout)
        arrived = _time.time()
        try:
            msg = _json.loads(text)
        except ValueError:
            self.raw.append(str(text))
            return None
        return arrived, msg

    def request(
        self,
        method: str,
        params: dict[str, _Any] | None = None,
        rid: _Any = None,
        timeout: float = 5.0,
    ) -> dict[str, _Any]:
        """Send a request and return the whole response object matching its id."""
        if rid is None:
            self._next_id += 1
            rid = self._next_id
        body: dict[str, _Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        self.ws.send(_json.dumps(body))
        return self.wait_response(rid, timeout)

    def wait_response(self, rid: _Any, timeout: float = 5.0) -> dict[str, _Any]:
        deadline = _time.monotonic() + timeout
        while True:
            got = self._read(max(0.01, deadline - _time.monotonic()))
            if got is None:
                continue
            arrived, msg = got
            if (
                isinstance(msg, dict)
                and "id" in msg
                and ("result" in msg or "error" in msg)
                and msg["id"] == rid
            ):
                return msg
            self.inbox.append((arrived, msg))

    def result(self, method: str, **params: _Any) -> _Any:
        msg = self.request(method, params)
        assert "result" in msg, f"{method} failed: {msg}"
        return msg["result"]

    def error(self, method: str, **params: _Any) -> dict[str, _Any]:
        msg = self.request(method, params)
        assert "error" in msg, f"{method} unexpectedly succeeded: {msg}"
        return msg["error"]

    def pump(self, seconds: float) -> None:
        """Read everything that arrives during ``seconds`` into the inbox."""
        deadline = _time.monotonic() + seconds
        while (left := deadline - _time.monotonic()) > 0:
            try:
                got = self._read(left)
            except TimeoutError:
                return
            if got is not None:
                self.inbox.append(got)

    def wait_for(self, pred: _Callable[[_Any], bool], timeout: float = 5.0) -> _Any:
        """The first message (already read or arriving) for which ``pred`` is true."""
        for _, msg in self.inbox:
            if pred(msg):
                return msg
        deadline = _time.monotonic() + timeout
        while (left := deadline - _time.monotonic()) > 0:
            try:
                got = self._read(left)
            except TimeoutError:
                break
            if got is None:
                continue
            self.inbox.append(got)
            if pred(got[1]):
                return got[1]
        raise AssertionError(f"nothing matched within {timeout} s")

    def wait_warning(self, code: int, timeout: float = 5.0) -> _Any:
        return self.wait_for(
            lambda m: isinstance(m, dict) and m.get("warning", {}).get("code") == code, timeout
        )

    def frames(self, stream: str, sid: str | None = None) -> list[tuple[float, dict[str, _Any]]]:
        return [
            (t, m)
            for t, m in self.inbox
            if isinstance(m, dict)
            and stream in m
            and "sid" in m
            and (sid is None or m["sid"] == sid)
        ]

    # -- the documented happy path ------------------------------------------------------

    def authorize(self) -> str:
        self.token = self.result(
            "authorize", clientId=SIM_CLIENT_ID, clientSecret=SIM_CLIENT_SECRET
        )["cortexToken"]
        return self.token

    def connect_headset(self, headset: str) -> None:
        status = next(h["status"] for h in self.result("queryHeadsets", id=headset))
        if status != "connected":
            self.result("controlDevice", command="connect", headset=headset)
            self.wait_warning(104)

    def open_session(self, headset: str, status: str = "active") -> dict[str, _Any]:
        if self.token is None:
            self.authorize()
        self.connect_headset(headset)
        session: dict[str, _Any] = self.result(
            "createSession", cortexToken=self.token, headset=headset, status=status
        )
        return session


@pytest.fixture
def sim_factory() -> _Iterator[_Callable[..., SimulatorThread]]:
    """Start simulators (fast timings, free port, seed 7) with field overrides; all are
    stopped at the end of the test."""
    started: list[SimulatorThread] = []

    def make(**overrides: _Any) -> SimulatorThread:
        cfg = SimulatorConfig(**{**FAST_SIM, **overrides})
        sim = SimulatorThread(cfg).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def cortex_client() -> _Iterator[_Callable[[SimulatorThread], CortexTestClient]]:
    """Open test clients on a simulator; ``wss://localhost`` so the certificate's
    DNS name is checked. All are closed at the end of the test."""
    clients: list[CortexTestClient] = []

    def make(sim: SimulatorThread, host: str = "localhost") -> CortexTestClient:
        url = sim.url.replace("127.0.0.1", host)
        client = CortexTestClient(url, str(sim.ca_pem_path) if sim.ca_pem_path else None)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with _contextlib.suppress(Exception):
            client.close()


@pytest.fixture(scope="session")
def cortex_test_client_class() -> type[CortexTestClient]:
    """The client class itself, for module-scoped fixtures that build their own."""
    return CortexTestClient


@pytest.fixture(scope="session")
def fast_sim_settings() -> dict[str, _Any]:
    """The fast simulator timings used by ``sim_factory``."""
    return dict(FAST_SIM)


@pytest.fixture
def clean_bridge_environment(monkeypatch: pytest.MonkeyPatch) -> _Iterator[None]:
    """No stray CORTEX_BRIDGE_* or systemd credentials from the caller's shell, and no
    CLI log handler left behind for the next test."""
    from bridge import cli

    for name in list(os.environ):
        if name.upper().startswith("CORTEX_BRIDGE_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, cli._StderrHandler)]:
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def no_wait_for_bridges_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bridge listens 1 s (``PUBLISHED_LOOKUP_S``) for another bridge's outlets of a
    headset before its first session on it. In the suite's private LSL session there is
    none, except where a test makes one (and sets the time back); the second per bridge
    start would cost the suite minutes. Bridges run as processes still listen."""
    from bridge.outputs import lsl

    monkeypatch.setattr(lsl, "PUBLISHED_LOOKUP_S", 0.0)
