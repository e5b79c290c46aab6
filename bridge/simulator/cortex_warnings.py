"""Every warning code found in Cortex's docs and Emotiv's code, with the message the
simulator sends when a fault asks for it (``simulator.fault kind=warning``).

Codes the natural flow produces are sent by the handlers that cause them (see
``docs/simulator.md``); this table lets a test produce the rest. Message texts are the
docs' examples where they exist (``cortex_api_more.md`` §F), otherwise ours [U].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WARNINGS: Mapping[int, Any] = {
    0: {"behavior": "Cortex has stopped all the subscriptions of session {session}.",
        "sessionId": "{session}"},
    1: {"behavior": "Cortex has closed the session {session}.", "sessionId": "{session}"},
    2: "User {user} has already logged in to Cortex.",
    3: "User {user} has already logged out from Cortex.",
    4: "The extender export succeeded.",
    5: "The extender export failed.",
    6: "The user has not accepted the EULA.",
    7: "The user has no access right to this application.",
    8: "The access right to this application is requested.",
    9: "The access right to the {client} has been granted",
    10: "The access right to the {client} has been rejected",
    11: " The APIs cannot be registered. Please re-open the connection.",
    12: "Cannot detect the OS user name.",
    13: {"behavior": "Profile is loaded", "headset": "{headset}", "profile": "{profile}"},
    14: {"behavior": "Profile is unloaded", "headset": "{headset}", "profile": "{profile}"},
    15: {"behavior": "Cortex has unloaded the profile", "headset": "{headset}",
         "profile": "{profile}"},
    16: "User {user} has logged in on another OS user.",
    17: "User {user} has accepted the EULA via EMOTIV App",
    18: {"behavior": "The record data has been successfully saved.", "recordId": "{record}"},
    19: "The free disk space is low (less than 1 GB).",
    20: "The free disk space is critical (less than 300 MB); all headsets are disconnected.",
    21: "The opt-out configuration has changed.",
    22: "The opt-out configuration has changed.",
    23: "Cortex is ready.",
    26: "Your license will expire in a few days.",
    28: "The user has not accepted the private EULA.",
    30: {"behavior": "The post-processing of the record is done.", "recordId": "{record}"},
    100: {"behavior": "The headset information is wrong.", "headsetId": "{headset}"},
    101: {"behavior": "The headset cannot be connected.", "headsetId": "{headset}"},
    102: {"behavior": "The headset connection timed out.", "headsetId": "{headset}"},
    103: {"behavior": "Cortex disconnected a headset because it didn't receive any data from "
                      "this headset for more than 30 seconds.", "headsetId": "{headset}"},
    104: {"behavior": "Headset {headset} is connected.", "headsetId": "{headset}"},
    110: {"behavior": "The headset setting was updated.", "headsetId": "{headset}"},
    111: {"behavior": "Failed to update the headset setting.", "headsetId": "{headset}"},
    112: {"behavior": "The setting cannot work with a Bluetooth connection.",
          "headsetId": "{headset}"},
    113: {"behavior": "The headset cannot connect; disable its motion sensors.",
          "headsetId": "{headset}"},
    142: {"behavior": "Headset scanning is finished."},
}  # fmt: skip


def render(code: int, fields: Mapping[str, str]) -> Any:
    """The table's message for ``code`` with ``{session}``, ``{headset}``... filled in."""
    template = WARNINGS.get(code, f"Warning {code}.")

    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.format_map(_Blank(fields))
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        return v

    return fill(template)


class _Blank(dict[str, str]):
    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields)

    def __missing__(self, key: str) -> str:
        return ""
