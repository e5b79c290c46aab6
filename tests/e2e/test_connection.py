"""The Cortex connection over a real socket to the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.cortex.connection import CortexConnection, make_ssl_context
from bridge.simulator import SimulatorConfig, SimulatorThread


def test_a_late_answer_to_a_request_given_up_on_is_no_strangers() -> None:
    """Cortex stalls; the request times out, a second one is cancelled; both answers
    come after the stall: counted as late, not as malformed messages."""
    with SimulatorThread(SimulatorConfig(port=0, control=True, seed=2)) as sim:
        malformed: list[str] = []

        async def main() -> int:
            conn = CortexConnection(
                sim.url, ssl_context=make_ssl_context(sim.url, True, sim.ca_pem_path),
                on_data=lambda frame: None, on_warning=lambda warning: None,
                on_malformed=malformed.append, request_timeout=5.0,
            )  # fmt: skip
            await conn.open()
            try:
                sim.call(lambda s: s.stall(1.0))
                try:
                    await conn.request("getCortexInfo", timeout=0.2)
                    raise AssertionError("answered during the stall")
                except TimeoutError:
                    pass
                cancelled: asyncio.Task[Any] = asyncio.ensure_future(
                    conn.request("getCortexInfo"))
                await asyncio.sleep(0.1)
                cancelled.cancel()
                await asyncio.sleep(1.5)  # the stall ends, both answers arrive
                assert await conn.request("getCortexInfo")  # and the connection works
                return conn.late_answers
            finally:
                await conn.close()

        late = asyncio.run(main())
    assert late == 2
    assert malformed == []
