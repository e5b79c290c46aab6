"""A headset's connect failure (warnings 100-102, 113, 31) is forgotten once the headset
is seen connected: a stale one would end its next session at once ("Cortex could not
connect the headset") and the status would say it failed although it streams.

The Cortex source is built as ``run`` builds it, and the warnings go through its own
router, as they arrive from Cortex; nothing is connected.
"""

from __future__ import annotations

import pytest

from bridge.config import load_settings
from bridge.cortex.protocol import CortexWarning
from bridge.cortex.source import CortexSource
from bridge.outputs.lsl import OutletRegistry
from bridge.status import StatusBoard

HID = "EPOCX-0000BEEF"


@pytest.fixture
def source() -> CortexSource:
    settings = load_settings(None, {
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "cortex-bridge-demo",
        "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "cortex-bridge-demo-secret",
    })  # fmt: skip
    return CortexSource(settings, "cortex-bridge-demo-secret", board=StatusBoard(),
                        registry=OutletRegistry())  # fmt: skip


def failed(source: CortexSource, code: int = 101) -> None:
    source.router.on_warning(CortexWarning(code, {"behavior": "x", "headsetId": HID}))


def test_a_failure_waits_for_the_connect_wait(source: CortexSource) -> None:
    failed(source, 102)
    assert source.connect_failures[HID].startswith("warning 102")
    # Listed, but not connected (still discovered): the failure stands.
    source.note_listing([{"id": HID, "status": "discovered"}])
    assert HID in source.connect_failures


def test_warning_104_clears_a_stale_failure(source: CortexSource) -> None:
    failed(source)
    source.router.on_warning(CortexWarning(104, {"behavior": "x", "headsetId": HID}))
    assert HID not in source.connect_failures


def test_listed_connected_clears_a_stale_failure(source: CortexSource) -> None:
    failed(source, 113)
    other = "INSIGHT-0000F00D"
    source.router.on_warning(CortexWarning(101, {"behavior": "x", "headsetId": other}))
    source.note_listing([{"id": HID, "status": "connected"}, {"id": other, "status": "discovered"}])
    assert HID not in source.connect_failures  # connected after all
    assert other in source.connect_failures  # still not: its failure stands
    assert source.listed == {HID: "connected", other: "discovered"}
