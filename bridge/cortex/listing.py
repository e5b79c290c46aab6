"""``cortex-bridge list``: the headsets Cortex knows, without opening a session.

A session would take the headset from whoever uses it (EmotivPRO, a running bridge);
``queryHeadsets`` does not. The bridge reaches READY on ``run``'s own path
(:meth:`~bridge.cortex.source.CortexSource.connection` and ``open_api`` without waiting
for approval), asks once, and prints a table. Battery and contact quality are shown when
the headset object carries them (some Cortex versions add ``batteryPercent`` and
``signalStrength``); otherwise Cortex reports them only in a session's ``dev`` stream,
which the table says rather than opening one.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bridge.config import Settings, resolve_client_secret
from bridge.cortex.auth import AccessPending
from bridge.cortex.hints import hint_for
from bridge.cortex.source import CortexSource
from bridge.errors import ExitCode
from bridge.outputs.lsl import OutletNaming, OutletRegistry
from bridge.selection import select_headsets
from bridge.status import StatusBoard
from bridge.supervise import Fatal, classify, describe

NOT_REPORTED = "-"
CQ_NAMES = ("no signal", "very bad", "poor", "fair", "good")  # Cortex's 0-4 scale


@dataclass(frozen=True)
class Row:
    headset: str
    status: str
    connection: str
    model: str
    battery: str
    quality: str
    chosen: bool


def _battery(headset: Mapping[str, Any]) -> str:
    percent = headset.get("batteryPercent")
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        return f"{percent:.0f} %"
    return NOT_REPORTED


def _quality(headset: Mapping[str, Any]) -> str:
    for key in ("contactQuality", "signalStrength"):
        value = headset.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(CQ_NAMES):
            return CQ_NAMES[value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
    return NOT_REPORTED


def rows(headsets: Sequence[Mapping[str, Any]], patterns: Sequence[str]) -> list[Row]:
    """One row per headset, in Cortex's order; ``chosen``: ``run`` would bridge it (pure)."""
    chosen = {h["id"] for h in select_headsets(headsets, patterns)}
    result = []
    for h in headsets:
        raw = h.get("settings")
        settings: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        mode = str(settings.get("mode") or str(h["id"]).split("-")[0])
        rate = settings.get("eegRate")
        model = f"{mode} {rate} Hz" if rate else mode
        connection = str(h.get("connectedBy") or NOT_REPORTED)
        if h.get("dongle") and connection == "dongle":
            connection = f"dongle {h['dongle']}"
        result.append(Row(str(h["id"]), str(h.get("status", "?")), connection, model,
                          _battery(h), _quality(h), h["id"] in chosen))
    return result


def render(table: Sequence[Row]) -> str:
    """The table as text, with a footnote for what Cortex did not report."""
    if not table:
        return "no headsets: switch one on, pair it in EMOTIV Launcher, or plug in the dongle"
    header = ("", "headset", "status", "connection", "model", "battery", "contact quality")
    cells = [header] + [("*" if r.chosen else "", r.headset, r.status, r.connection, r.model,
                         r.battery, r.quality) for r in table]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip()
             for c in cells]
    lines.append("* = bridged by `cortex-bridge run` with this config (cortex.headsets)")
    if any(r.battery == NOT_REPORTED or r.quality == NOT_REPORTED for r in table):
        lines.append("battery and contact quality: this Cortex reports them only inside a "
                     "session (the Emotiv-DeviceQuality outlet of `cortex-bridge run`)")
    return "\n".join(lines)


async def list_headsets(settings: Settings, out: TextIO | None = None) -> int:
    """Print the table; exit 1 if Cortex cannot be reached or refuses access."""
    out = out or sys.stdout
    cortex = settings.cortex
    source = CortexSource(
        settings, resolve_client_secret(settings), board=StatusBoard(),
        registry=OutletRegistry(OutletNaming(settings.lsl.name_template)),
    )
    conn = source.connection()
    try:
        await conn.open()
    except Exception as exc:
        outcome = classify(exc)
        if isinstance(outcome, Fatal):
            raise outcome.error from None
        hint = hint_for(exc, cortex.url)
        print(f"Cortex at {cortex.url}: unreachable ({describe(exc)})"
              + (f"; {hint}" if hint else ""), file=out)
        return int(ExitCode.FAILURE)
    try:
        try:
            api = await source.open_api(conn, wait_for_access=False)
        except AccessPending as pending:
            print(f"access: not granted ({pending})", file=out)
            return int(ExitCode.FAILURE)
        headsets = await api.query_headsets()
    finally:
        await conn.close()
    print(f"Cortex {source.version} at {cortex.url}", file=out)
    print(render(rows(headsets, list(cortex.headsets))), file=out)
    return int(ExitCode.OK)


__all__ = ["Row", "list_headsets", "render", "rows"]
