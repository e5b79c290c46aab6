"""``cortex-bridge check``: ``run``'s own way to Cortex, stopped before streaming.

The source is built as ``run`` builds it and reaches READY through the same
:meth:`~bridge.cortex.source.CortexSource.open_api`; each chosen headset's session is
opened by the same :class:`~bridge.cortex.session.HeadsetSession` code, subscribed, and
closed again. What ``run`` would publish is printed instead of published.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from bridge.config import Settings, resolve_client_secret
from bridge.config.uris import shown_url
from bridge.cortex.auth import AccessPending
from bridge.cortex.hints import hint_for
from bridge.cortex.protocol import CortexError
from bridge.cortex.session import HeadsetSession
from bridge.cortex.source import CortexSource
from bridge.errors import ExitCode
from bridge.outputs.lsl import OutletNaming, OutletRegistry, source_id_for
from bridge.selection import CONNECTED, select_headsets
from bridge.status import StatusBoard
from bridge.streams import HeadsetInfo, build_plan
from bridge.supervise import Fatal, classify, describe


async def check(settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    cortex = settings.cortex
    registry = OutletRegistry(OutletNaming(settings.lsl.name_template, settings.status.name))
    source = CortexSource(
        settings, resolve_client_secret(settings), board=StatusBoard(), registry=registry,
    )
    problems: list[str] = []
    conn = source.connection()
    try:
        await conn.open()
    except Exception as exc:
        _raise_if_fatal(exc)
        hint = hint_for(exc, cortex.url)
        print(f"Cortex at {shown_url(cortex.url)}: unreachable ({describe(exc)})"
              + (f"; {hint}" if hint else ""), file=out)
        return int(ExitCode.FAILURE)
    try:
        try:
            api = await source.open_api(conn, wait_for_access=False)
        except AccessPending as pending:
            print(f"access: not granted ({pending})", file=out)
            return int(ExitCode.FAILURE)
        print(f"Cortex {source.version} at {shown_url(cortex.url)}", file=out)
        print("authorize: ok", file=out)
        headsets = await api.query_headsets()
        for headset_object in headsets:
            print(f"headset {headset_object['id']}: {headset_object.get('status', '?')}",
                  file=out)
        source.listed = {h["id"]: str(h.get("status", "")) for h in headsets}
        source.listed_objects = {h["id"]: h for h in headsets}
        chosen = select_headsets(headsets, list(cortex.headsets))
        if not chosen:
            problems.append("no headset matches cortex.headsets" if cortex.headsets
                            else "no headset found")
        naming = registry.naming
        for listed in chosen:
            hid = listed["id"]
            if listed.get("status") != CONNECTED:
                problems.append(f"headset {hid} is {listed.get('status')}, not connected")
                continue
            holder = source.claim_headset(hid)
            if holder is not None:  # a running bridge streams it: do not disturb it
                print(f"headset {hid}: bridged by another cortex-bridge on this host "
                      f"({holder}); not opened", file=out)
                continue
            headset = HeadsetInfo.from_headset_object(listed)
            session = HeadsetSession(source, api, hid)
            sid, _activated = await session.open_session()
            try:
                success, failure = await api.subscribe(sid, list(cortex.streams))
                for sub in success:
                    plan = build_plan(sub.stream, sub.cols, headset)
                    print(
                        f"  outlet {naming.name_for(plan, headset)!r} type={plan.lsl_type} "
                        f"channels={len(plan.channels)} rate={plan.nominal_rate:g} "
                        f"format={plan.channel_format} "
                        f"source_id={source_id_for(hid, sub.stream)}",
                        file=out,
                    )
                for fail in failure:
                    problems.append(f"headset {hid}: stream {fail.stream} unavailable "
                                    f"({fail.code}: {fail.message})")
            finally:
                with contextlib.suppress(CortexError):
                    await api.update_session(sid, "close")
    except Exception as exc:
        _raise_if_fatal(exc)
        problems.append(describe(exc))
    finally:
        await conn.close()
        source.release_headsets()
    for problem in problems:
        print(f"problem: {problem}", file=out)
    return int(ExitCode.FAILURE if problems else ExitCode.OK)


def _raise_if_fatal(exc: Exception) -> None:
    """What ends ``run`` (refused credentials, a bad setting) ends ``check`` the same way;
    what ``run`` would retry is a problem to report."""
    outcome = classify(exc)
    if isinstance(outcome, Fatal):
        raise outcome.error from None
