"""Remote control for experiments: start a Cortex record with a title, stop it, send a
marker, from the status page's WebSocket or OSC (``/record/start s``, ``/record/stop``
on the marker OSC port).

Refused unless ``status.control`` is on, and from another machine unless
``status.control_remote`` is on too; both are checked for every command, whatever the
page or socket is bound to. Commands are parsed and admitted by pure functions
(:func:`from_ws`, :func:`from_osc`, :func:`refusal`); :class:`Controller` applies them
to the marker service (records and the marker queue).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import pylsl

from bridge.config import StatusSettings
from bridge.markers import MarkerService
from bridge.markers.marker import make_marker

log = logging.getLogger(__name__)

TITLE_MAX: Final = 200  # Cortex wants a record title of 1 to 200 characters


class Action(StrEnum):
    RECORD_START = "record_start"
    RECORD_STOP = "record_stop"
    MARKER = "marker"


OSC_ACTIONS: Final[Mapping[str, Action]] = {
    "/record/start": Action.RECORD_START,
    "/record/stop": Action.RECORD_STOP,
}


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    title: str = ""
    value: Any = None
    label: str = ""


def _checked(action: Action, title: Any = "", value: Any = None, label: Any = "") -> Command | str:
    if action is Action.RECORD_START:
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= TITLE_MAX:
            return f"record_start needs a title of 1 to {TITLE_MAX} characters"
        return Command(action, title=title.strip())
    if action is Action.MARKER:
        if value is None or value == "":
            return "marker needs a value"
        return Command(action, value=value, label=label if isinstance(label, str) else "")
    return Command(action)


def from_ws(message: Mapping[str, Any]) -> Command | str:
    """``{"type": "control", "action": "record_start", "title": ...}``, ``record_stop``,
    ``{"action": "marker", "value": ..., "label": ...}``; a string is the refusal."""
    try:
        action = Action(str(message.get("action")))
    except ValueError:
        return f"unknown action {message.get('action')!r} (known: {', '.join(Action)})"
    return _checked(action, message.get("title", ""), message.get("value"),
                    message.get("label", ""))


def from_osc(address: str, params: Sequence[Any]) -> Command | str:
    """``/record/start s`` (the title), ``/record/stop``."""
    action = OSC_ACTIONS.get(address)
    if action is None:
        return f"unknown control address {address}"
    return _checked(action, params[0] if params else "")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def refusal(settings: StatusSettings, loopback: bool, markers_on: bool) -> str | None:
    """Why a command from this peer is refused, or None when it may run."""
    if not settings.control:
        return "remote control is off (status.control = false)"
    if not loopback and not settings.control_remote:
        return "remote control from other machines is off (status.control_remote = false)"
    if not markers_on:
        return "records and markers need [markers] enabled = true"
    return None


class Controller:
    """Runs admitted commands against the marker service."""

    def __init__(self, settings: StatusSettings, markers: MarkerService) -> None:
        self.settings = settings
        self.markers = markers
        self._tasks: set[asyncio.Task[Any]] = set()

    async def ws(self, message: dict[str, Any], loopback: bool) -> dict[str, Any]:
        """The status page's WebSocket: the reply goes back to the page."""
        return await self.run(from_ws(message), loopback, "control:ws")

    def osc(self, address: str, params: list[Any], host: str) -> None:
        """The OSC input (a datagram has no reply: the outcome is logged)."""
        task = asyncio.ensure_future(self.run(from_osc(address, params), is_loopback(host),
                                              f"control:osc:{host}"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, command: Command | str, loopback: bool, origin: str) -> dict[str, Any]:
        why = command if isinstance(command, str) else refusal(
            self.settings, loopback, self.markers.settings.enabled)
        if why is not None or isinstance(command, str):
            log.warning("remote control from %s refused: %s", origin, why)
            return {"ok": False, "error": why}
        markers = self.markers
        if command.action is Action.RECORD_START:
            return await markers.control.start(command.title, markers.records)
        if command.action is Action.RECORD_STOP:
            return await markers.control.stop(markers.records)
        marker = make_marker(command.value, pylsl.local_clock(), origin, command.label or None)
        if marker is None:
            return {"ok": False, "error": f"not a usable marker value: {command.value!r}"}
        markers.queue.put(marker)
        return {"ok": True, "marker": marker.value}
