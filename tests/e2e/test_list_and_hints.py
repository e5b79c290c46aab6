"""``cortex-bridge list`` and the connection hints against the simulator (real TLS)."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from bridge.config import Settings, load_settings
from bridge.cortex.check import check
from bridge.cortex.listing import list_headsets
from bridge.cortex.source import CortexSource
from bridge.outputs.lsl import OutletNaming, OutletRegistry
from bridge.simulator import SimulatorConfig, SimulatorThread
from bridge.status import StatusBoard

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


def settings_for(url: str, ca: str) -> Settings:
    return load_settings(None, {
        "CORTEX_BRIDGE_CORTEX__URL": url, "CORTEX_BRIDGE_CORTEX__CA_FILE": ca,
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "cortex-bridge-demo",
        "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "cortex-bridge-demo-secret",
    })


@pytest.fixture(scope="module")
def sim() -> SimulatorThread:
    config = SimulatorConfig(port=0, headsets=["insight:status=connected", "epocx"], seed=9)
    with SimulatorThread(config) as running:
        yield running


def test_list_shows_every_headset_and_opens_no_session(sim: SimulatorThread) -> None:
    out = io.StringIO()
    assert asyncio.run(list_headsets(settings_for(sim.url, str(sim.ca_pem_path)), out)) == 0
    text = out.getvalue()
    for headset in sim.state()["headsets"]:
        assert headset["id"] in text
    assert "connected" in text and "discovered" in text and "bluetooth" in text
    assert "* = bridged" in text
    assert sim.state()["sessions"] == []


def test_check_names_the_fix_for_an_untrusted_certificate_and_for_ws(
    sim: SimulatorThread,
) -> None:
    out = io.StringIO()
    assert asyncio.run(check(settings_for(sim.url, ""), out)) == 1
    assert "unreachable" in out.getvalue() and "cortex.ca_file" in out.getvalue()
    out = io.StringIO()
    plain = sim.url.replace("wss://", "ws://")
    assert asyncio.run(check(settings_for(plain, ""), out)) == 1
    assert f'cortex.url = "{sim.url}"' in out.getvalue()


async def test_the_retry_line_carries_the_hint(
    sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(sim.url, "")
    source = CortexSource(settings, "cortex-bridge-demo-secret", board=StatusBoard(),
                          registry=OutletRegistry(OutletNaming(settings.lsl.name_template)))
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="bridge.cortex.source"):
        task = asyncio.create_task(source.run(stop))
        for _ in range(100):
            if "retrying" in caplog.text:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert "retrying in" in caplog.text and "set cortex.ca_file to" in caplog.text
