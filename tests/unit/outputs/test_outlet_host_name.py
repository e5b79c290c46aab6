"""``{host}`` in outlet names: the bridge's name, so rooms of machines (and several bridge
processes on one) never publish two streams of one name."""

from __future__ import annotations

import socket

from bridge.config import load_settings
from bridge.outputs.lsl import OutletNaming
from bridge.streams import HeadsetInfo, build_plan

EPOC = HeadsetInfo("EPOCX-1", model="EPOCX", eeg_rate=128.0)
PLAN = build_plan("dev", ["Battery", "Signal", ["AF3", "OVERALL"], "BatteryPercent"], EPOC)


def test_host_is_the_configured_name_or_the_host_name() -> None:
    assert OutletNaming("{host}-{stream}-{headset}", "room-2").name_for(PLAN, EPOC) == \
        "room-2-DeviceQuality-EPOCX-1"
    assert OutletNaming("{host}-{stream}").name_for(PLAN, EPOC) == \
        f"{socket.gethostname()}-DeviceQuality"


def test_the_configuration_accepts_host_and_status_name() -> None:
    settings = load_settings(None, {"CORTEX_BRIDGE_LSL__NAME_TEMPLATE": "{host}-{stream}",
                                    "CORTEX_BRIDGE_STATUS__NAME": "room-2"})
    assert settings.lsl.name_template == "{host}-{stream}"
    assert settings.status.name == "room-2"
