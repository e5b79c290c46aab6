"""Faults on demand: the failures a Cortex client must survive, made reproducible.

Each fault kind is a function of the service plus a few parameters. The same table
serves three doors: the ``simulator.fault`` control method on the WebSocket, the
:class:`~bridge.simulator.server.Simulator` methods, and ``--fault`` specs scheduled at
start. None of this is part of the Cortex API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.simulator import cortex_warnings, jsonrpc
from bridge.simulator.device import (
    COUNTER_STREAMS,
    STATUS_CONNECTED,
    STATUS_CONNECTING,
    STATUS_DISCOVERED,
    STATUS_OFF,
    VirtualHeadset,
)
from bridge.simulator.jsonrpc import Code, RpcError
from bridge.simulator.model import ServerAction

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

WIRE_START_DELAY_S = 0.05  # a stall asked for on the wire starts after its answer left


def resolve_headset(svc: CortexService, ref: Any) -> VirtualHeadset:
    """A headset by id, by index (int or digits), or the first one when ``ref`` is None."""
    if ref is None:
        if not svc.headsets:
            raise RpcError(Code.INVALID_PARAMS, "The simulator has no headset.")
        return svc.headsets[0]
    if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(svc.headsets):
        return svc.headsets[ref]
    if isinstance(ref, str):
        found = svc.find_headset(ref)
        if found is not None:
            return found
        if ref.isdigit() and int(ref) < len(svc.headsets):
            return svc.headsets[int(ref)]
    raise RpcError(Code.INVALID_PARAMS, f"Unknown headset {ref!r}.")


# ---- the faults ----------------------------------------------------------------------


def set_headset_power(svc: CortexService, h: VirtualHeadset, on: bool) -> dict[str, Any]:
    """Off: data stops; sessions on it get warnings 0 and 1; the headset shows as
    "connecting" until the timeout, then warning 103 goes to every connection and it
    leaves queryHeadsets. On: it is "discovered" again, ready for controlDevice connect."""
    if on:
        if not h.powered:
            h.powered = True
            timer = svc.power_timers.pop(h.id, None)
            if timer is not None:
                timer.cancel()
            h.lost = False
            h.status = STATUS_DISCOVERED
        return {"headset": h.id, "on": True}
    if not h.powered:
        return {"headset": h.id, "on": False}
    h.powered = False
    if h.status in (STATUS_CONNECTED, STATUS_CONNECTING):
        svc.close_headset_sessions(h)
        h.status = STATUS_CONNECTING
        h.lost = True

        def timed_out() -> None:
            svc.power_timers.pop(h.id, None)
            if h.lost and not h.powered:
                h.lost = False
                h.status = STATUS_OFF
                timeout = svc.cfg.power_off_timeout_s
                svc.broadcast_warning(
                    103,
                    {
                        "behavior": "Cortex disconnected a headset because it didn't receive any "
                        f"data from this headset for more than {timeout:g} seconds.",
                        "headsetId": h.id,
                    },
                )

        svc.power_timers[h.id] = svc.at(
            svc.clock.monotonic() + svc.cfg.power_off_timeout_s, timed_out
        )
    else:
        h.status = STATUS_OFF
    return {"headset": h.id, "on": False}


def expire_tokens(svc: CortexService) -> dict[str, Any]:
    return {"expired": svc.tokens.expire_all()}


def set_delay_ms(svc: CortexService, ms: float) -> dict[str, Any]:
    if ms < 0:
        raise RpcError(Code.INVALID_PARAMS, "The delay must be >= 0.")
    svc.delay_s = ms / 1000.0
    return {"delayMs": ms}


def set_clock_offset(svc: CortexService, seconds: float) -> dict[str, Any]:
    """The service clock jumps to ``time.time() + seconds``; headsets already running
    see the same step in their sample times (their clocks are re-anchored)."""
    delta = seconds - svc.clock_offset
    svc.clock_offset = seconds
    for h in svc.headsets:
        h.step_clock(delta)
    return {"clockOffset": seconds}


def _mark_samples(
    svc: CortexService, h: VirtualHeadset, stream: str, count: int, drop: bool
) -> dict[str, Any]:
    if stream not in COUNTER_STREAMS:
        raise RpcError(Code.INVALID_PARAMS, "Only eeg and mot have COUNTER/INTERPOLATED columns.")
    if count < 1:
        raise RpcError(Code.INVALID_PARAMS, "The count must be >= 1.")
    if h.status != STATUS_CONNECTED or h.lost:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE, f"The headset {h.id} is not connected.")
    rate = h.rate(stream)
    if rate <= 0:
        raise RpcError(Code.STREAM_UNAVAILABLE)
    start = h.last_due(rate, svc.clock.monotonic(), svc.delay_s) + 1
    ranges = h.dropped[stream] if drop else h.interpolated[stream]
    ranges.add(start, count)
    return {"headset": h.id, "stream": stream, "from": start, "count": count}


def drop_samples(svc: CortexService, h: VirtualHeadset, stream: str, count: int) -> dict[str, Any]:
    """The next ``count`` samples are never sent: a gap in COUNTER (and in time)."""
    return _mark_samples(svc, h, stream, count, drop=True)


def interpolate_samples(
    svc: CortexService, h: VirtualHeadset, stream: str, count: int
) -> dict[str, Any]:
    """The next ``count`` samples are sent with INTERPOLATED = 1."""
    return _mark_samples(svc, h, stream, count, drop=False)


MALFORMED_VARIANTS = ("bad_json", "wrong_types", "unknown_sid", "nulls")


def send_malformed(svc: CortexService, count: int) -> dict[str, Any]:
    """Send ``count`` broken frames to every connection, cycling through: text that is
    not JSON, a frame with wrong types, an eeg frame with an unknown sid, and a frame
    whose values are null (with the connection's own sid when it has a session)."""
    if count < 1:
        raise RpcError(Code.INVALID_PARAMS, "The count must be >= 1.")
    now = round(svc.epoch_now(), 4)
    for cid in list(svc.conns):
        own = next((s.id for s in svc.live_sessions() if s.conn == cid), None)
        for i in range(count):
            variant = MALFORMED_VARIANTS[i % len(MALFORMED_VARIANTS)]
            if variant == "bad_json":
                text = '{"eeg":[1,0,4200.1,'
            elif variant == "wrong_types":
                text = jsonrpc.encode({"eeg": "4200.0", "sid": 42, "time": "now"})
            elif variant == "unknown_sid":
                text = jsonrpc.encode(
                    {"eeg": [0, 0, 4200.0, 4200.0, 0, 0, []], "sid": svc.new_uuid(), "time": now}
                )
            else:
                text = jsonrpc.encode({"eeg": None, "sid": own or svc.new_uuid(), "time": None})
            svc.send(cid, text)
    svc.malformed_sent += count * len(svc.conns)
    return {"count": count, "connections": len(svc.conns)}


def bad_frames(svc: CortexService, stream: str, kinds: list[str]) -> dict[str, Any]:
    """The next frames of ``stream`` on every live session, one per kind in ``kinds``,
    go out spoiled: ``time_inf``/``time_nan``/``time_huge``/``time_zero`` (the time
    replaced), ``value_inf``/``value_huge`` (the first sensor value), ``repeat`` (the
    frame sent twice). Cortex 2+ dialect only."""
    from bridge.simulator.service import BAD_FRAME_KINDS

    unknown = [k for k in kinds if k not in BAD_FRAME_KINDS]
    if unknown or not kinds:
        raise RpcError(Code.INVALID_PARAMS,
                       f"kinds: a non-empty list of {', '.join(BAD_FRAME_KINDS)}")
    spoiled = 0
    for session in svc.live_sessions():
        sub = getattr(session, "subs", {}).get(stream)
        if sub is not None and hasattr(sub, "corrupt"):
            sub.corrupt.extend(kinds)
            spoiled += 1
    return {"stream": stream, "kinds": kinds, "subscriptions": spoiled}


def stall(svc: CortexService, seconds: float, start_delay: float = 0.0) -> dict[str, Any]:
    """Nothing leaves the simulator for ``seconds`` (responses, warnings and data are
    held), then everything due is sent at once: data with its original times."""
    if seconds < 0:
        raise RpcError(Code.INVALID_PARAMS, "The seconds must be >= 0.")

    def begin() -> None:
        svc.stalled_until = max(svc.stalled_until, svc.clock.monotonic() + seconds)

    if start_delay > 0:
        svc.at(svc.clock.monotonic() + start_delay, begin)
    else:
        begin()
    return {"seconds": seconds}


def mute(svc: CortexService, h: VirtualHeadset, seconds: float) -> dict[str, Any]:
    """For ``seconds`` the headset's sessions send no data, and what falls due meanwhile is
    never sent; answers, warnings and other headsets go on. A Cortex that keeps a session
    open but stopped streaming it, which only closing and reopening the session cures."""
    if not seconds >= 0:
        raise RpcError(Code.INVALID_PARAMS, "The seconds must be >= 0.")
    h.muted_until = max(h.muted_until, svc.clock.monotonic() + seconds)
    return {"headset": h.id, "seconds": seconds}


def drop_connections(
    svc: CortexService, mode: str = "abort", requester: int | None = None
) -> dict[str, Any]:
    """Every WebSocket is cut: ``abort`` without a close frame (a crash or network loss),
    ``close`` with close code 1001 (going away). Sessions close as on any disconnect."""
    if mode not in ("abort", "close"):
        raise RpcError(Code.INVALID_PARAMS, 'The mode must be "abort" or "close".')
    svc.actions.append(ServerAction("drop", mode, requester))
    return {"connections": len(svc.conns), "mode": mode}


def refuse_connections(svc: CortexService, seconds: float) -> dict[str, Any]:
    """For ``seconds``, new WebSocket handshakes are answered HTTP 503 (Cortex down or
    restarting); open connections are untouched. With ``drop_connections`` it makes an
    outage of a known length."""
    if seconds < 0:
        raise RpcError(Code.INVALID_PARAMS, "The seconds must be >= 0.")
    svc.refusing_until = max(svc.refusing_until, svc.clock.monotonic() + seconds)
    return {"seconds": seconds}


def send_warning(
    svc: CortexService, code: int, message: Any, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Any documented warning to every connection (cortex_warnings.py fills the docs'
    message unless ``message`` is given)."""
    if message is None:
        h = svc.headsets[0] if svc.headsets else None
        session = next(iter(svc.live_sessions()), None)
        values = {
            "user": svc.cfg.username, "client": svc.cfg.client_id,
            "headset": h.id if h is not None else "", "session": session.id if session else "",
            "profile": "", "record": "",
        }  # fmt: skip
        values.update({k: str(v) for k, v in fields.items() if v is not None})
        message = cortex_warnings.render(code, values)
    svc.broadcast_warning(code, message)
    return {"code": code, "message": message}


def lose_answers(svc: CortexService, method: str, count: int) -> dict[str, Any]:
    """The next ``count`` requests of ``method`` take effect but are never answered."""
    svc.lose_answers[method] = svc.lose_answers.get(method, 0) + max(count, 0)
    return {"method": method, "count": svc.lose_answers[method]}


def set_login(svc: CortexService, logged_in: bool) -> dict[str, Any]:
    """The user logs in (warning 2) or out (warning 3) in EMOTIV Launcher."""
    svc.cfg.user_logged_in = logged_in
    svc.broadcast_warning(
        *(
            (2, f"User {svc.cfg.username} has already logged in to Cortex.")
            if logged_in
            else (3, f"User {svc.cfg.username} has already logged out from Cortex.")
        )
    )
    return {"loggedIn": logged_in}


def accept_eula(svc: CortexService) -> dict[str, Any]:
    """The user accepts the licence agreement in the Launcher: warning 17 (D)."""
    svc.eula_accepted = True
    svc.broadcast_warning(17, f"User {svc.cfg.username} has accepted the EULA via EMOTIV App")
    return {"eulaAccepted": True}


# ---- the table -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultKind:
    params: tuple[jsonrpc.Param, ...]
    run: Callable[[CortexService, Mapping[str, Any], int | None], dict[str, Any]]


def _int(p: Mapping[str, Any], key: str, default: int) -> int:
    return int(p.get(key, default))


FAULTS: Mapping[str, FaultKind] = {
    "drop_connections": FaultKind(
        (jsonrpc.s("mode", False),),
        lambda svc, p, req: drop_connections(svc, str(p.get("mode", "abort")), req),
    ),
    "headset_power": FaultKind(
        (jsonrpc.anything("headset", False), jsonrpc.boolean("on")),
        lambda svc, p, req: set_headset_power(
            svc, resolve_headset(svc, p.get("headset")), bool(p["on"])
        ),
    ),
    "expire_tokens": FaultKind((), lambda svc, p, req: expire_tokens(svc)),
    "delay": FaultKind((jsonrpc.num("ms"),), lambda svc, p, req: set_delay_ms(svc, float(p["ms"]))),
    "clock_offset": FaultKind(
        (jsonrpc.num("seconds"),), lambda svc, p, req: set_clock_offset(svc, float(p["seconds"]))
    ),
    "drop_samples": FaultKind(
        (
            jsonrpc.anything("headset", False),
            jsonrpc.s("stream", False),
            jsonrpc.integer("count", False),
        ),
        lambda svc, p, req: drop_samples(
            svc,
            resolve_headset(svc, p.get("headset")),
            str(p.get("stream", "eeg")),
            _int(p, "count", 1),
        ),
    ),
    "interpolate_samples": FaultKind(
        (
            jsonrpc.anything("headset", False),
            jsonrpc.s("stream", False),
            jsonrpc.integer("count", False),
        ),
        lambda svc, p, req: interpolate_samples(
            svc,
            resolve_headset(svc, p.get("headset")),
            str(p.get("stream", "eeg")),
            _int(p, "count", 1),
        ),
    ),
    "malformed": FaultKind(
        (jsonrpc.integer("count", False),),
        lambda svc, p, req: send_malformed(svc, _int(p, "count", 4)),
    ),
    "refuse_connections": FaultKind(
        (jsonrpc.num("seconds"),),
        lambda svc, p, req: refuse_connections(svc, float(p["seconds"])),
    ),
    "warning": FaultKind(
        (
            jsonrpc.integer("code"),
            jsonrpc.anything("message", False),
            jsonrpc.s("headset", False),
            jsonrpc.s("session", False),
            jsonrpc.s("record", False),
            jsonrpc.s("profile", False),
        ),
        lambda svc, p, req: send_warning(svc, int(p["code"]), p.get("message"), p),
    ),
    "lose_answers": FaultKind(
        (jsonrpc.s("method"), jsonrpc.integer("count", False)),
        lambda svc, p, req: lose_answers(svc, str(p["method"]), _int(p, "count", 1)),
    ),
    "login": FaultKind((jsonrpc.boolean("on"),), lambda svc, p, req: set_login(svc, bool(p["on"]))),
    "accept_eula": FaultKind((), lambda svc, p, req: accept_eula(svc)),
    "bad_frames": FaultKind(
        (jsonrpc.s("stream", False), jsonrpc.anything("kinds")),
        lambda svc, p, req: bad_frames(
            svc, str(p.get("stream", "eeg")),
            list(p["kinds"]) if isinstance(p["kinds"], list) else [],
        ),
    ),
    "mute": FaultKind(
        (jsonrpc.anything("headset", False), jsonrpc.num("seconds")),
        lambda svc, p, req: mute(svc, resolve_headset(svc, p.get("headset")), float(p["seconds"])),
    ),
    "stall": FaultKind(
        (jsonrpc.num("seconds"),),
        lambda svc, p, req: stall(
            svc, float(p["seconds"]), WIRE_START_DELAY_S if req is not None else 0.0
        ),
    ),
}


def apply(
    svc: CortexService, kind: str, params: Mapping[str, Any], requester: int | None = None
) -> dict[str, Any]:
    """Run one fault; -32602 for an unknown kind or bad parameters."""
    fault = FAULTS.get(kind)
    if fault is None:
        raise RpcError(
            Code.INVALID_PARAMS, f"Unknown fault kind {kind!r} (known: {', '.join(FAULTS)})."
        )
    jsonrpc.check_params(fault.params, params, strict=False)
    return {"kind": kind, **fault.run(svc, params, requester)}


# ---- scheduled faults (--fault) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    kind: str
    params: dict[str, Any]
    at_s: float
    every_s: float | None = None


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "on", "yes"):
        return True
    if low in ("false", "off", "no"):
        return False
    for cast in (int, float):
        try:
            number = cast(text)
        except ValueError:
            continue
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    return text


def parse_fault_spec(text: str) -> ScheduledFault:
    """``KIND[:key=value,...][@SECONDS]``, e.g. ``stall:seconds=3@10``,
    ``headset_power:on=false@5``, ``drop_samples:count=10,every=5@2``
    (``every`` repeats the fault)."""
    body, at, when = text.strip().partition("@")
    try:
        at_s = float(when) if at else 0.0
    except ValueError:
        raise ValueError(f"bad time {when!r} after '@' (seconds from the start)") from None
    if not (math.isfinite(at_s) and at_s >= 0):
        raise ValueError(f"bad time {when!r} after '@' (seconds from the start, >= 0)")
    kind, _, opts = body.partition(":")
    if kind not in FAULTS:
        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULTS)})")
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in opts.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"bad fault option {part!r} (expected key=value)")
        params[key] = _value(value)
    every = params.pop("every", None)
    if every is not None and (isinstance(every, bool) or not isinstance(every, int | float)
                              or every <= 0):
        raise ValueError(f"bad every={every!r} (seconds between repeats, > 0)")
    return ScheduledFault(kind, params, at_s, float(every) if every is not None else None)
