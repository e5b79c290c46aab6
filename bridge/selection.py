"""Which headsets the bridge takes, from the Cortex headset list and the config patterns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

CONNECTED = "connected"
DISCOVERED = "discovered"


def select_headsets(
    headsets: Sequence[Mapping[str, Any]], patterns: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The headsets to bridge, in Cortex's order.

    With patterns (ids or shell wildcards such as ``EPOCX-*``), every headset whose id
    matches one of them. Without, the first connected headset, or, if none is
    connected yet, the first discovered one (the daemon then connects it).
    """
    usable = [h for h in headsets if isinstance(h.get("id"), str)]
    if patterns:
        return [h for h in usable if any(fnmatchcase(h["id"], p) for p in patterns)]
    for status in (CONNECTED, DISCOVERED):
        for headset in usable:
            if headset.get("status") == status:
                return [headset]
    return []
