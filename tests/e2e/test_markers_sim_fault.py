"""The simulator's refuse_connections fault, which the marker outage test relies on."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from bridge_harness import threaded_client_tls
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bridge.simulator import SimulatorThread


def test_refuse_connections_answers_503_then_recovers(
    sim_factory: Callable[..., SimulatorThread],
) -> None:
    sim = sim_factory()
    ctx = threaded_client_tls(str(sim.ca_pem_path))
    url = sim.url.replace("127.0.0.1", "localhost")
    with connect(url, ssl=ctx) as ws:  # an open connection is not touched by the fault
        sim.call(lambda s: s.refuse_connections(1.0))
        with pytest.raises(InvalidStatus) as refused, connect(url, ssl=ctx):
            pass
        assert refused.value.response.status_code == 503
        ws.send('{"jsonrpc": "2.0", "id": 1, "method": "getCortexInfo"}')
        assert '"result"' in str(ws.recv(timeout=5))
    deadline = time.monotonic() + 10
    while True:
        try:
            with connect(url, ssl=ctx):
                break
        except InvalidStatus:
            assert time.monotonic() < deadline, "still refusing long after the fault ended"
            time.sleep(0.1)
    assert sim.state()["connections"] in (0, 1)
