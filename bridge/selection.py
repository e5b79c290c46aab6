"""Which headsets the bridge takes, from the Cortex headset list and the config patterns.

Pure: the source's headset poll and ``check`` both call :func:`choose_headsets` and say
what :func:`explain` returns, so ``run`` and ``check`` choose alike and give the same
reasons.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

CONNECTED = "connected"
DISCOVERED = "discovered"

# connectedBy values on which Cortex cannot open a session, and why (seed 000: "You
# cannot open a session with a headset connected by a USB cable"; cortex_api.md §3.2,
# §4.2). createSession on such a headset fails every time, so trying it would block the
# default selection for good while a wireless headset waits beside it.
UNOPENABLE: Mapping[str, str] = {
    "usb cable": "it is connected by USB cable, and Cortex cannot open a session on a "
    "USB-cabled headset: unplug the cable and connect it by dongle or Bluetooth",
}


def unopenable_reason(headset: Mapping[str, Any]) -> str | None:
    """Why Cortex cannot open a session on ``headset``, or None if it can."""
    connected_by = headset.get("connectedBy")
    if not isinstance(connected_by, str):
        return None
    return UNOPENABLE.get(connected_by.strip().lower())


@dataclass(frozen=True, slots=True)
class Selection:
    """The headsets to bridge, and those the choice passed over because Cortex cannot
    open them (id -> why). ``only_unopenable``: patterns were given and everything they
    match is such a headset."""

    chosen: list[Mapping[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    only_unopenable: bool = False


def choose_headsets(
    headsets: Sequence[Mapping[str, Any]], patterns: Sequence[str],
    running: Collection[str] = (),
) -> Selection:
    """The headsets to bridge, in Cortex's order.

    With patterns (ids or shell wildcards such as ``EPOCX-*``), every headset whose id
    matches one of them. Without, the first connected headset, or, if none is
    connected yet, the first discovered one (the daemon then connects it); but one the
    bridge already runs (``running``) stays the choice while Cortex lists it, so a
    headset that is only ``connecting`` does not hand the choice to the next one. Either
    way a headset Cortex cannot open (:data:`UNOPENABLE`) is skipped, with its reason.
    """
    usable = [h for h in headsets if isinstance(h.get("id"), str)]
    if patterns:
        usable = [h for h in usable if any(fnmatchcase(h["id"], p) for p in patterns)]
    skipped = {h["id"]: why for h in usable if (why := unopenable_reason(h)) is not None}
    openable = [h for h in usable if h["id"] not in skipped]
    if patterns:
        return Selection(openable, skipped, only_unopenable=bool(skipped) and not openable)
    for headset in openable:
        if headset["id"] in running:
            return Selection([headset], skipped)
    for status in (CONNECTED, DISCOVERED):
        for headset in openable:
            if headset.get("status") == status:
                return Selection([headset], skipped)
    return Selection([], skipped)


def select_headsets(
    headsets: Sequence[Mapping[str, Any]], patterns: Sequence[str]
) -> list[Mapping[str, Any]]:
    """:func:`choose_headsets`' chosen headsets."""
    return choose_headsets(headsets, patterns).chosen


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to say about a selection: ``key`` says it once (the caller remembers
    the keys it said); ``loud``: nothing else is bridged, so it is a WARNING."""

    key: tuple[str, ...]
    text: str
    loud: bool


def explain(selection: Selection, patterns: Sequence[str]) -> list[Notice]:
    """What to tell the operator about the headsets the selection passed over: one line
    for patterns that match only headsets Cortex cannot open, else one per skipped
    headset."""
    loud = not selection.chosen
    if selection.only_unopenable:
        ids = sorted(selection.skipped)
        reasons = "; ".join(f"{hid}: {selection.skipped[hid]}" for hid in ids)
        return [Notice(
            ("patterns", *patterns, *ids),
            f"cortex.headsets ({', '.join(patterns)}) matches only headsets Cortex cannot "
            f"open, so none is bridged ({reasons})",
            True,
        )]
    return [
        Notice(("skipped", hid, why), f"headset {hid} is not bridged: {why}", loud)
        for hid, why in selection.skipped.items()
    ]
