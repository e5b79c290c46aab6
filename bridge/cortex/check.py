"""``cortex-bridge check``: ``run``'s own way to Cortex, stopped before streaming.

The source is built as ``run`` builds it and reaches READY through the same
:meth:`~bridge.cortex.source.CortexSource.open_api` (access is requested, so EMOTIV
Launcher prompts the user); headsets are chosen by the same
:func:`~bridge.selection.choose_headsets`, a discovered one is connected by the same
:class:`~bridge.cortex.session.HeadsetSession` code, and each chosen headset's session is
opened by it (unactivated unless ``--activate``: an activated session may count against
the user's licence), subscribed, and closed again. Every output ``run`` would create
(LSL outlets, marker echo outlets, Emogg's outlets, OSC targets and addresses) is printed
instead of created, and so is what ``run`` would go on without (``warning:`` lines).
``problem:`` lines make the exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import TextIO

from bridge.config import Settings, may_match_several, resolve_client_secret
from bridge.config.uris import shown_url
from bridge.cortex.api import CortexApi, SubscribeFailure
from bridge.cortex.auth import AccessPending
from bridge.cortex.connection import CortexConnection
from bridge.cortex.errors import ACTIVATION_ERRORS, error_rule, escalate
from bridge.cortex.hints import hint_for
from bridge.cortex.protocol import CortexError, ErrorCode
from bridge.cortex.session import HEADSET_POLL_SECONDS, HeadsetSession, SessionEnded
from bridge.cortex.source import CortexSource
from bridge.errors import ExitCode
from bridge.markers.echo import MARKER_INT32_PLAN, MARKER_PLAN
from bridge.outputs.lsl import OutletNaming, OutletRegistry, source_id_for
from bridge.outputs.osc_codec import address_segment
from bridge.outputs.osc_stream import planned_addresses
from bridge.selection import CONNECTED, choose_headsets, explain
from bridge.status import StatusBoard
from bridge.streams import CATALOG, MODEL_LACKS, HeadsetInfo, StreamPlan, build_plan
from bridge.supervise import Fatal, cancel_and_wait, classify, describe

# Streams Cortex gives only to an activated session (cortex_api.md §4.1: "Not activated:
# no EEG stream"); refused on check's unactivated session, they say nothing about run's.
NEEDS_ACTIVATION = frozenset({"eeg"})


class Report:
    """What check prints: facts, ``warning:`` lines (run would go on without something),
    ``problem:`` lines (exit 1), in the order found; problems are repeated at the end."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems: list[str] = []

    def say(self, line: str) -> None:
        print(line, file=self.out)

    def warn(self, line: str) -> None:
        print(f"warning: {line}", file=self.out)

    def problem(self, line: str) -> None:
        self.problems.append(line)

    def finish(self) -> int:
        for problem in self.problems:
            print(f"problem: {problem}", file=self.out)
        return int(ExitCode.FAILURE if self.problems else ExitCode.OK)


async def check(settings: Settings, out: TextIO | None = None, *, activate: bool = False) -> int:
    report = Report(out or sys.stdout)
    cortex = settings.cortex
    # run's settings, except that the session is activated only when asked for.
    checked = settings.model_copy(
        update={"cortex": cortex.model_copy(update={"activate": activate})})
    registry = OutletRegistry(OutletNaming(settings.lsl.name_template, settings.status.name))
    source = CortexSource(
        checked, resolve_client_secret(settings), board=StatusBoard(), registry=registry,
    )
    conn = source.connection()
    try:
        await conn.open()
    except Exception as exc:
        _raise_if_fatal(exc)
        hint = hint_for(exc, cortex.url)
        report.say(f"Cortex at {shown_url(cortex.url)}: unreachable ({describe(exc)})"
                   + (f"; {hint}" if hint else ""))
        return int(ExitCode.FAILURE)
    try:
        api = await _ready(source, conn, report)
        if api is not None:
            await _headsets(source, api, settings, activate, report)
            _other_outputs(settings, report)
    except CortexError as exc:
        _raise_if_fatal(escalate(exc))
        report.problem(f"{describe(exc)} ({error_rule(exc.code, exc.method).hint})")
    except Exception as exc:
        _raise_if_fatal(exc)
        report.problem(describe(exc))
    finally:
        await conn.close()
        source.release_headsets()
    return report.finish()


async def _ready(
    source: CortexSource, conn: CortexConnection, report: Report
) -> CortexApi | None:
    """Access (requested: EMOTIV Launcher prompts), authorize; None when the user must act
    first (said, with what to do)."""
    cortex = source.settings.cortex
    try:
        api = await source.open_api(conn, wait_for_access=False)
    except AccessPending as pending:
        report.say(f"access: not granted yet ({pending})")
        report.problem("approve this application in EMOTIV Launcher (check asked for access, "
                       "so the Launcher shows the request), then run check again")
        return None
    except CortexError as exc:
        escalated = escalate(exc)
        _raise_if_fatal(escalated)
        report.problem(f"{error_rule(exc.code, exc.method).hint} "
                       f"(Cortex error {exc.code} to {exc.method})")
        return None
    report.say(f"Cortex {source.version} at {shown_url(cortex.url)}")
    if api.dialect_note:
        report.say(f"dialect: {api.dialect_note}")
    report.say("access: granted")
    report.say("authorize: ok")
    return api


async def _headsets(
    source: CortexSource, api: CortexApi, settings: Settings, activate: bool, report: Report
) -> None:
    patterns = list(settings.cortex.headsets)
    headsets = await api.query_headsets()
    for obj in headsets:
        by = obj.get("connectedBy")
        report.say(f"headset {obj['id']}: {obj.get('status', '?')}" + (f" ({by})" if by else ""))
    source.note_listing(headsets)
    selection = choose_headsets(headsets, patterns)
    for notice in explain(selection, patterns):
        report.warn(notice.text)
    if not selection.chosen:
        report.problem("no headset matches cortex.headsets" if patterns else "no headset found")
    multi = may_match_several(patterns)
    for listed in selection.chosen:
        await _one_headset(source, api, settings, str(listed["id"]), activate, multi, report)


async def _one_headset(
    source: CortexSource,
    api: CortexApi,
    settings: Settings,
    hid: str,
    activate: bool,
    multi: bool,
    report: Report,
) -> None:
    holder = await source.claim_headset(hid)
    if holder is not None:  # a running bridge streams it: check must not disturb it
        report.say(f"headset {hid}: bridged by {holder}; not opened")
        return
    session = HeadsetSession(source, api, hid)
    if source.listed.get(hid) != CONNECTED:
        report.say(f"headset {hid}: {source.listed.get(hid)}; connecting it, as run does")
        poll = asyncio.create_task(_keep_listing(source, api))
        try:
            await session._ensure_connected()
        except SessionEnded as exc:
            report.problem(f"headset {hid}: {exc}")
            return
        finally:
            await cancel_and_wait(poll)
        report.say(f"headset {hid}: connected")
    headset = HeadsetInfo.from_headset_object(source.listed_objects.get(hid, {"id": hid}))
    sid, activated = await session.open_session()
    try:
        _say_activation(hid, activate, activated, settings.cortex.activate, report)
        streams = list(settings.cortex.streams)
        await session._load_vocab(streams)
        success, failure = await source.auth.with_token(api, lambda: api.subscribe(sid, streams))
        plans = []
        for sub in success:
            try:
                plans.append(build_plan(sub.stream, sub.cols, headset, source.vocab))
            except ValueError as exc:
                report.warn(f"headset {hid}: stream {sub.stream} not bridged: {exc}")
        for plan in plans:
            _outlet(report, settings, plan, headset, multi)
        if plans and settings.markers.enabled and settings.markers.echo:
            _outlet(report, settings, MARKER_PLAN, headset, multi, osc=False)
            if settings.markers.echo_int32:
                _outlet(report, settings, MARKER_INT32_PLAN, headset, multi, osc=False)
        if settings.osc.enabled:
            base = _osc_base(settings, hid, multi)
            report.say(f"  OSC {base}/status (1 while data flows)")
            if settings.markers.enabled and settings.markers.echo:
                report.say(f"  OSC {base}/marker (echoed markers: label, value, time)")
        for fail in failure:
            _refused(report, headset, fail, activated)
        if not plans:
            report.problem(f"headset {hid}: no stream of cortex.streams could be subscribed")
    finally:
        with contextlib.suppress(CortexError, TimeoutError):
            await source.auth.with_token(api, lambda: api.update_session(sid, "close"))


async def _keep_listing(source: CortexSource, api: CortexApi) -> None:
    """The headset poll of ``run``, while a headset is being connected."""
    while True:
        await asyncio.sleep(HEADSET_POLL_SECONDS / 2)
        headsets = await api.query_headsets()
        source.note_listing(headsets)


def _say_activation(
    hid: str, asked: bool, activated: bool, run_activates: bool, report: Report
) -> None:
    if activated:
        report.say(f"headset {hid}: session activated")
    elif asked:
        report.warn(f"headset {hid}: the session could not be activated: run goes on with an "
                    "unactivated session (no EEG, low-rate performance metrics)")
    elif run_activates:
        report.say(f"headset {hid}: session opened unactivated (check activates only with "
                   "--activate: an activated session may count against the licence)")
    else:
        report.warn(f"headset {hid}: cortex.activate = false: run opens unactivated sessions "
                    "(no EEG, low-rate performance metrics)")


def _refused(report: Report, headset: HeadsetInfo, fail: SubscribeFailure, activated: bool) -> None:
    hid, stream = headset.id, fail.stream
    if not activated and stream in NEEDS_ACTIVATION and (
        fail.code in ACTIVATION_ERRORS
        or fail.code in (ErrorCode.STREAM_UNAVAILABLE, ErrorCode.SESSION_NOT_ACTIVATED)
    ):
        report.say(f"headset {hid}: stream {stream} needs an activated session; not checked "
                   "(check --activate checks it)")
        return
    if fail.permanent or stream in MODEL_LACKS.get(headset.model, ()):
        why = fail.message if fail.permanent else f"an {headset.model_name} has none"
        report.warn(f"headset {hid}: stream {stream} would not be bridged: {why} (remove it "
                    "from cortex.streams)")
        return
    rule = error_rule(fail.code, "subscribe")
    licence = " - EEG needs an EEG licence" if stream == "eeg" else ""
    report.warn(f"headset {hid}: stream {stream} refused ({fail.code}: "
                f"{fail.message or rule.hint}){licence}: run streams the others and asks "
                "for it again, after 30 s, then less and less often (at least hourly)")


def _osc_base(settings: Settings, hid: str, multi: bool) -> str:
    prefix = settings.osc.prefix
    return f"{prefix}/{address_segment(hid)}" if multi else prefix


def _outlet(
    report: Report,
    settings: Settings,
    plan: StreamPlan,
    headset: HeadsetInfo,
    multi: bool,
    *,
    osc: bool = True,
    naming: OutletNaming | None = None,
) -> None:
    naming = naming or OutletNaming(settings.lsl.name_template, settings.status.name)
    report.say(
        f"  outlet {naming.name_for(plan, headset)!r} type={plan.lsl_type} "
        f"channels={len(plan.channels)} rate={plan.nominal_rate:g} "
        f"format={plan.channel_format} source_id={source_id_for(headset.id, plan.stream)}"
    )
    o = settings.osc
    if not (osc and o.enabled) or (plan.stream in CATALOG and plan.stream not in o.streams):
        return
    addresses = planned_addresses(o, plan, headset, _osc_base(settings, headset.id, multi))
    report.say(f"    OSC {_shorten(addresses)}")


def _shorten(addresses: Sequence[str], most: int = 6) -> str:
    """The first few addresses, the ``action`` ones always, and how many there are."""
    kept = [*addresses[:most], *(a for a in addresses[most:] if a.endswith("/action"))]
    shown = ", ".join(kept)
    return shown + (f" ... ({len(addresses)} addresses)" if len(kept) < len(addresses) else "")


def _other_outputs(settings: Settings, report: Report) -> None:
    """What ``run`` creates besides the Cortex headsets' outlets: OSC targets, marker
    inputs, Emogg's outlets (Emogg itself is not contacted by check)."""
    osc, markers, emogg = settings.osc, settings.markers, settings.emogg
    if osc.enabled:
        targets = ", ".join(f"{t} ({'bundles' if osc.bundles_to(t) else 'messages'})"
                            for t in osc.targets)
        report.say(f"OSC targets: {targets or 'none'} (prefix {osc.prefix!r}, "
                   f"layout {osc.layout})")
    if markers.enabled:
        if markers.lsl_input:
            report.say(f"marker input: LSL marker streams matching {markers.lsl_predicate!r}")
        if markers.osc_input:
            report.say(f"marker input: OSC /marker on {markers.osc_host}:{markers.osc_port}")
    if emogg.enabled:
        from bridge.sources.emogg.catalog import build_emogg_plans, emogg_source_info

        info = emogg_source_info(emogg.source_id)
        report.say(f"Emogg at {emogg.api_url} (not contacted by check):")
        naming = OutletNaming(emogg.name_template)
        for plans in build_emogg_plans(emogg.channels, emogg.emotions, emogg.frequency).values():
            for plan in plans:
                _outlet(report, settings, plan, info, multi=may_match_several(
                    settings.cortex.headsets), naming=naming)


def _raise_if_fatal(exc: Exception) -> None:
    """What ends ``run`` (refused credentials, a bad setting) ends ``check`` the same way;
    what ``run`` would retry is a problem to report."""
    outcome = classify(exc)
    if isinstance(outcome, Fatal):
        raise outcome.error from None
