"""How the application wires the OSC output: created from settings or injected, public, and
headset-qualified exactly when ``cortex.headsets`` can match several headsets."""

from __future__ import annotations

from bridge.app import App
from bridge.config import OscSettings, load_settings
from bridge.outputs.osc import OscOutput
from bridge.streams import HeadsetInfo, build_plan


def test_osc_off_by_default() -> None:
    app = App(load_settings(None, {}), "secret")
    assert app.osc is None
    plan = build_plan("com", ["act", "pow"], HeadsetInfo("X"))
    assert tuple(app.sinks_for(plan, HeadsetInfo("X"))) == ()


def test_osc_from_settings_single_and_several_headsets() -> None:
    one = App(load_settings(None, {"CORTEX_BRIDGE_OSC__ENABLED": "true",
                                      "CORTEX_BRIDGE_CORTEX__HEADSETS": "EPOCX-1"}), "s")
    several = App(load_settings(None, {"CORTEX_BRIDGE_OSC__ENABLED": "true",
                                          "CORTEX_BRIDGE_CORTEX__HEADSETS": "EPOCX-*"}), "s")
    assert isinstance(one.osc, OscOutput) and isinstance(several.osc, OscOutput)
    assert one.osc.base_address("EPOCX-1") == "/emotiv"
    assert several.osc.base_address("EPOCX-1") == "/emotiv/EPOCX-1"
    assert one.osc.board is one.board  # status comes from the application's own counters


def test_injected_output_is_used_for_sinks() -> None:
    injected = OscOutput(OscSettings(enabled=True, streams=("com",)), multi_headset=False)
    app = App(load_settings(None, {}), "s", osc=injected)
    assert app.osc is injected
    headset = HeadsetInfo("X")
    sinks = app.sinks_for(build_plan("com", ["act", "pow"], headset), headset)
    assert len(sinks) == 1 and injected.senders
