"""Cross-field rules: settings that are each valid but cannot work together.

Each cross-field rule is a function of the settings that returns the problem's line (the
key it names, what is wrong and the fix) or None, and :data:`CROSS_FIELD_RULES` lists
them; :func:`cross_field_problems` runs them all, so one load reports every problem.
They run at load time, so ``check`` refuses what ``run`` would refuse.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from bridge.config.models import Settings, may_match_several
from bridge.config.osc import parse_osc_target

Rule = Callable[[Settings], str | None]

MARKER_INPUT_ADDRESS = "/marker"
"""The OSC address the marker input reads (``bridge.markers.osc_input``); the echo of
markers goes out as ``<osc.prefix>/marker``, so an empty prefix is the same address."""


# --- cross-field rules ------------------------------------------------------------------


def _markers_need_activation(settings: Settings) -> str | None:
    """Cortex injects markers only into a record, and records only in an activated
    session: with ``activate = false`` no marker would ever reach Cortex."""
    if settings.markers.enabled and not settings.cortex.activate:
        return ("markers.enabled: markers need an activated session (Cortex records, and so "
                "injects markers, only there); set cortex.activate = true or "
                "markers.enabled = false")
    return None


_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def _addresses(host: str) -> frozenset[str]:
    """What a host stands for without asking DNS: its address, both loopbacks for
    ``localhost``, else the lower-cased name."""
    text = host.strip().strip("[]").lower().rstrip(".")
    if text == "localhost":
        return frozenset({"127.0.0.1", "::1"})
    try:
        return frozenset({str(ipaddress.ip_address(text))})
    except ValueError:
        return frozenset({text})


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def reaches_listener(target_host: str, bind_host: str) -> bool:
    """Whether datagrams sent to ``target_host`` arrive at a socket bound to
    ``bind_host`` (on the same port): the same address, or a loopback target while the
    socket listens on every address. Names other than ``localhost`` are compared as
    written (no DNS at load time)."""
    targets = _addresses(target_host)
    binds = _addresses(bind_host)
    if targets & binds:
        return True
    return bool(binds & _WILDCARDS) and any(_is_loopback(t) for t in targets)


def _osc_loop(settings: Settings) -> str | None:
    """Our OSC output aimed at our own OSC marker input, with the echo of markers on the
    address the input reads: each injected marker comes back as a new one, for ever."""
    osc, markers, cortex = settings.osc, settings.markers, settings.cortex
    if not (osc.enabled and markers.enabled and markers.osc_input and markers.echo):
        return None
    if "eeg" not in cortex.streams or markers.osc_port == 0:
        return None  # no echo without the EEG stream; port 0 is a fresh port every start
    if osc.prefix + MARKER_INPUT_ADDRESS != MARKER_INPUT_ADDRESS:
        return None
    if may_match_several(cortex.headsets):
        return None  # the echo goes to /<headset>/marker
    for target in osc.targets:
        text = target.target
        host, port = parse_osc_target(text)
        if port == markers.osc_port and reaches_listener(host, markers.osc_host):
            return (f"osc.targets: {text!r} is this bridge's own OSC marker input "
                    f"(markers.osc_host:markers.osc_port) and with osc.prefix = \"\" every "
                    "marker echoed to /marker comes back as a new marker; set osc.prefix "
                    "(e.g. \"/emotiv\"), another target, or another markers.osc_port")
    return None


CROSS_FIELD_RULES: tuple[Rule, ...] = (_markers_need_activation, _osc_loop)


def cross_field_problems(settings: Settings) -> list[str]:
    """One line per cross-field rule the settings break, in :data:`CROSS_FIELD_RULES`
    order."""
    return [line for rule in CROSS_FIELD_RULES if (line := rule(settings)) is not None]
