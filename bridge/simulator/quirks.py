"""Documented real-Cortex situations a client must survive, as ``--quirk`` options.

Each quirk is one row: its name, what real Cortex does (with the source) and how the
simulator reproduces it. Quirks that only change settings are applied to the config
before the service starts (:func:`apply_quirks`); the others are read by the handlers
through :meth:`CortexService.quirk`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bridge.simulator.config import SimulatorConfig

# A USB-cabled EPOC X listed before every other headset. Cortex lists it as connected but
# "You cannot open a session with a headset connected by a USB cable" (D:createsession).
USB_HEADSET_SPEC = "epocx:status=connected,conn=usb cable,id=EPOCX-0000CAB1"

QUIRKS: Mapping[str, str] = {
    "session-empty-result": (
        "createSession with status active answers {} (the docs' own example, seed 000)"
    ),
    "usb-headset": "a headset connected by USB cable is listed first; createSession on it fails",
    "logged-out": "nobody is logged in to EMOTIV Launcher: getUserLogin [], authorize -32033",
    "licence-expired": "the user's licence has expired: authorize answers -32024",
    "licence-expiring": "authorize succeeds, then warning 26 (licence expires in a few days)",
    "eula-not-accepted": (
        "the licence agreement is not accepted: authorize's result carries warning 6, "
        "createSession answers -32041 until the user accepts (fault accept_eula: warning 17)"
    ),
    "no-eeg-licence": "the licence has no EEG scope: subscribing to eeg fails with -32016",
}


def parse_quirk(name: str) -> str:
    """The quirk's canonical name, or ``ValueError`` naming the known ones."""
    key = name.strip().lower().replace("_", "-")
    if key not in QUIRKS:
        raise ValueError(f"unknown quirk {name!r} (choose from {', '.join(QUIRKS)})")
    return key


def apply_quirks(cfg: SimulatorConfig) -> SimulatorConfig:
    """The configuration the quirks imply (settings only; behaviour stays in handlers)."""
    quirks = {parse_quirk(q) for q in cfg.quirks}
    changes: dict[str, object] = {}
    if "logged-out" in quirks:
        changes["user_logged_in"] = False
    if "no-eeg-licence" in quirks:
        changes["licence_scopes"] = tuple(s for s in cfg.licence_scopes if s != "eeg")
    if "usb-headset" in quirks and USB_HEADSET_SPEC not in cfg.headsets:
        changes["headsets"] = [USB_HEADSET_SPEC, *cfg.headsets]
    if "eula-not-accepted" in quirks:
        changes["eula_accepted"] = False
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
