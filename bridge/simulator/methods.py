"""The Cortex methods: documented parameters, result shapes, errors and warnings.

One table (:data:`METHODS`) maps each method name to its parameter spec and handler;
:data:`API` hands it, with the record hooks, to the service (see ``spec.py``).
The spec decides -32018 (missing) and -32602 (wrong type) before the handler runs; the
handler implements the behaviour in ``cortex_api.md`` and raises :class:`RpcError` for the
rest. Where the reference marks a behaviour [U], the comment says so and
``docs/simulator.md`` lists the choice.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.simulator import bci, faults, profiles, records, subjects
from bridge.simulator.device import (
    STATUS_CONNECTED,
    STATUS_CONNECTING,
    STATUS_DISCOVERED,
    VirtualHeadset,
)
from bridge.simulator.headsets import ALL_STREAMS, CORTEX_INFO
from bridge.simulator.jsonrpc import TOKEN, Code, RpcError, boolean, num, obj, s, str_list
from bridge.simulator.model import Call, Session, Subscription, iso
from bridge.simulator.profiles import schedule_training
from bridge.simulator.spec import CortexApi, Handler, MethodSpec, register_api

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

__all__ = [
    "API",
    "METHODS",
    "Handler",
    "MethodSpec",
    "schedule_training",
    "sim_fault",
    "sim_state",
]

GRANTED_MESSAGE = "The user has granted access right to this application."  # observed
NOT_GRANTED_MESSAGE = (
    "The user has not granted access right to this application. "
    "Please use EMOTIV Launcher to proceed."
)  # [U]


# ---- authentication ------------------------------------------------------------------


def _credentials(svc: CortexService, params: Mapping[str, Any]) -> str:
    client_id = params["clientId"]
    if client_id != svc.cfg.client_id or params["clientSecret"] != svc.cfg.client_secret:
        raise RpcError(Code.INVALID_CREDENTIALS)
    return str(client_id)


def _access_state(svc: CortexService, client_id: str) -> str:
    default = "granted" if svc.cfg.access == "granted" else "none"
    return svc.access.get(client_id, default)


def get_cortex_info(svc: CortexService, call: Call) -> Any:
    return dict(CORTEX_INFO[svc.cfg.met_layout])


def get_user_login(svc: CortexService, call: Call) -> Any:
    if not svc.cfg.user_logged_in:
        return []
    return [
        {
            "currentOSUId": "1000",
            "currentOSUsername": "cortex",
            "lastLoginTime": iso(svc.started_epoch - 3600.0),
            "loggedInOSUId": "1000",
            "loggedInOSUsername": "cortex",
            "username": svc.cfg.username,
        }
    ]


def has_access_right(svc: CortexService, call: Call) -> Any:
    client_id = _credentials(svc, call.params)
    granted = _access_state(svc, client_id) == "granted"
    return {
        "accessGranted": granted,
        "message": GRANTED_MESSAGE if granted else NOT_GRANTED_MESSAGE,
    }


def request_access(svc: CortexService, call: Call) -> Any:
    """In "prompt" mode the (virtual) user approves in the Launcher after a while:
    warning 9; in "reject" mode declines: warning 10 (cortex_api.md §2.2)."""
    client_id = _credentials(svc, call.params)
    if _access_state(svc, client_id) == "granted":
        return {"accessGranted": True, "message": GRANTED_MESSAGE}
    if svc.access.get(client_id) != "pending":
        svc.access[client_id] = "pending"
        conn_id = call.conn.id

        def answer() -> None:
            if svc.cfg.access == "reject":
                svc.access[client_id] = "rejected"
                svc.warn(conn_id, 10, f"The access right to the {client_id} has been rejected")
            else:
                svc.access[client_id] = "granted"
                svc.warn(conn_id, 9, f"The access right to the {client_id} has been granted")

        svc.at(call.mono + svc.cfg.approval_delay_s, answer)
    return {"accessGranted": False, "message": NOT_GRANTED_MESSAGE}


def authorize(svc: CortexService, call: Call) -> Any:
    client_id = _credentials(svc, call.params)
    if not svc.cfg.user_logged_in:
        raise RpcError(Code.NOT_LOGGED_IN)
    if _access_state(svc, client_id) != "granted":
        raise RpcError(Code.NO_ACCESS_RIGHT)
    if svc.quirk("licence-expired"):
        raise RpcError(Code.LICENSE_EXPIRED)
    licence = call.params.get("license")
    if licence and licence != svc.licence_id:
        raise RpcError(Code.INVALID_LICENSE)
    debit = call.params.get("debit")
    if debit is not None:
        if debit < 0 or int(debit) != debit:
            raise RpcError(
                Code.INVALID_PARAMS, "The parameter debit must be a non-negative integer."
            )
        svc.debits[client_id] = svc.debits.get(client_id, 0) + int(debit)
    app_id = f"com.{svc.cfg.username}.{client_id}"
    token = svc.tokens.issue(app_id, client_id, svc.epoch_now(), svc.cfg.token_lifetime_s)
    result: dict[str, Any] = {"cortexToken": token}
    if not svc.eula_accepted:
        # "Contains a message and the URL to accept the EULA" (D:authorize); code 6 is
        # what Emotiv's Unity plugin checks (UserNotAcceptLicense).
        result["warning"] = {
            "code": 6,
            "licenseUrl": "https://www.emotiv.com/eula/",  # [U]
            "message": "The user has not accepted the EULA. Please accept it in EMOTIV Launcher.",
        }
    if svc.quirk("licence-expiring"):
        conn_id = call.conn.id
        svc.at(call.mono, lambda: svc.warn(conn_id, 26, "Your license will expire in 3 days."))
    return result


def generate_new_token(svc: CortexService, call: Call) -> Any:
    client_id = _credentials(svc, call.params)
    assert call.claims is not None
    token = svc.tokens.issue(
        call.claims.app_id, client_id, svc.epoch_now(), svc.cfg.token_lifetime_s
    )
    return {"cortexToken": token}


def get_license_info(svc: CortexService, call: Call) -> Any:
    """[U] shape: Emotiv's Unity plugin reads ``result.license``; the fields are ours."""
    return {
        "license": {
            "licenseId": svc.licence_id,
            "licenseName": "cortex-bridge Simulator License"
            if svc.cfg.licence
            else "Basic License",
            "scopes": list(svc.cfg.licence_scopes) if svc.cfg.licence else [],
            "validFrom": iso(svc.started_epoch - 86400.0),
            "validTo": iso(svc.started_epoch + 365 * 86400.0),
        }
    }


# ---- headsets ------------------------------------------------------------------------


def query_headsets(svc: CortexService, call: Call) -> Any:
    pattern = call.params.get("id")
    flex = bool(call.params.get("includeFlexMappings", False))
    out = []
    for h in svc.headsets:
        if not h.listed:
            continue
        if pattern is not None and not fnmatch.fnmatchcase(h.id, pattern):
            continue
        out.append(h.to_json(include_flex_mappings=flex))
    return out


def _available(svc: CortexService, hid: Any) -> VirtualHeadset:
    h = svc.find_headset(str(hid)) if hid is not None else None
    if h is None or not h.listed or not h.powered:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE, f"The headset {hid} is not available.")
    return h


def control_device(svc: CortexService, call: Call) -> Any:
    command = call.params["command"]
    conn_id = call.conn.id
    if command == "refresh":

        def scanned() -> None:
            svc.warn(conn_id, 142, {"behavior": "Headset scanning is finished."})  # [U] text

        svc.at(call.mono + svc.cfg.scan_delay_s, scanned)
        return {"command": "refresh", "message": "Refreshing the headset list."}  # [U] text
    if command not in ("connect", "disconnect"):
        raise RpcError(Code.INVALID_PARAMS, "The command must be connect, disconnect or refresh.")
    if call.params.get("headset") is None:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: headset")
    h = _available(svc, call.params["headset"])
    if command == "disconnect":
        if h.status in (STATUS_CONNECTED, STATUS_CONNECTING) or h.lost:
            svc.close_headset_sessions(h)
            h.status = STATUS_DISCOVERED
            h.lost = False
        return {
            "command": "disconnect",
            "message": f"Disconnect headset {h.id} successfully.",
        }  # [U] text

    def connected() -> None:
        if h.status == STATUS_CONNECTING and h.powered and not h.lost:
            h.connect(svc.clock.monotonic(), svc.clock.time(), svc.clock_offset)
        if h.status == STATUS_CONNECTED:
            svc.warn(conn_id, 104, {"behavior": f"Headset {h.id} is connected.", "headsetId": h.id})

    if h.status == STATUS_DISCOVERED:
        h.status = STATUS_CONNECTING
        svc.at(call.mono + svc.cfg.connect_delay_s, connected)
    elif h.status == STATUS_CONNECTED:
        svc.at(call.mono, connected)  # already connected: confirm with 104 again [U]
    return {"command": "connect", "message": f"Start connecting to headset {h.id}"}  # observed


def sync_with_headset_clock(svc: CortexService, call: Call) -> Any:
    """``adjustment`` = headset clock at ``monotonicTime`` - ``monotonicTime``. Client
    and simulator read the same CLOCK_MONOTONIC, so this is exact."""
    h = _available(svc, call.params["headset"])
    if h.status != STATUS_CONNECTED or h.lost:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE, f"The headset {h.id} is not connected.")
    return {"adjustment": h.epoch_anchor - h.mono_anchor, "headset": h.id}


# ---- sessions ------------------------------------------------------------------------


def _activate(svc: CortexService, session: Session) -> None:
    if not svc.cfg.licence:
        raise RpcError(Code.SESSION_LIMIT)
    if svc.cfg.debit_required:
        left = svc.debits.get(session.client_id, 0)
        if left <= 0:
            raise RpcError(Code.SESSION_LIMIT)
        svc.debits[session.client_id] = left - 1
    session.status = "activated"
    session.license = svc.licence_id


def create_session(svc: CortexService, call: Call) -> Any:
    assert call.claims is not None
    status = call.params["status"]
    if status not in ("open", "active"):
        raise RpcError(Code.INVALID_PARAMS, 'The status must be "open" or "active".')
    hid = call.params.get("headset")
    if hid is None:
        h = next((x for x in svc.headsets if x.status == STATUS_CONNECTED and not x.lost), None)
        if h is None:
            raise RpcError(Code.HEADSET_NOT_AVAILABLE, "No headset is connected.")
    else:
        h = _available(svc, hid)
    if h.status != STATUS_CONNECTED or h.lost:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE, f"The headset {h.id} is not connected.")
    if h.connected_by == "usb cable":
        # "You cannot open a session with a headset connected by a USB cable"
        # (D:createsession); the code is not documented: -32004 [U].
        raise RpcError(
            Code.HEADSET_NOT_AVAILABLE,
            f"Cannot open a session with the headset {h.id}: it is connected by USB cable.",
        )
    if not svc.eula_accepted:
        raise RpcError(Code.EULA_NOT_ACCEPTED)
    for other in svc.live_sessions():
        if other.app_id == call.claims.app_id and other.headset is h:
            raise RpcError(
                Code.SESSION_CONFLICT, f"The session {other.id} already uses the headset {h.id}."
            )
    session = Session(
        id=svc.new_uuid(),
        app_id=call.claims.app_id,
        client_id=call.claims.client_id,
        conn=call.conn.id,
        headset=h,
        status="opened",
        started=iso(svc.epoch_now()),
        owner=svc.cfg.username,
    )
    if status == "active":
        _activate(svc, session)
    svc.sessions[session.id] = session
    if status == "active" and svc.quirk("session-empty-result"):
        return {}  # the docs' own example answer (seed 000)
    return session.to_json()


def update_session(svc: CortexService, call: Call) -> Any:
    status = call.params["status"]
    if status not in ("active", "close"):
        raise RpcError(Code.INVALID_PARAMS, 'The status must be "active" or "close".')
    session = svc.session_for(call, call.params["session"])
    if status == "active":
        if session.status != "activated":
            _activate(svc, session)
    else:
        svc.close_session(session, "client")
    return session.to_json()


def query_sessions(svc: CortexService, call: Call) -> Any:
    assert call.claims is not None
    app = call.claims.app_id
    return [x.to_json() for x in svc.live_sessions() if x.app_id == app]


# ---- subscriptions -------------------------------------------------------------------


def _unavailable(svc: CortexService, session: Session, stream: str) -> bool:
    h = session.headset
    if stream not in ALL_STREAMS or stream in h.model.unsupported:
        return True
    if stream == "eeg":
        return (
            session.status != "activated"
            or not svc.cfg.licence
            or "eeg" not in svc.cfg.licence_scopes
        )
    if stream == "mot":
        return h.mems_rate <= 0
    return False


def _stream_failure(stream: str) -> dict[str, Any]:
    err = RpcError(Code.STREAM_UNAVAILABLE)
    return {"code": err.code, "message": err.message, "streamName": stream}


def subscribe(svc: CortexService, call: Call) -> Any:
    streams = call.params["streams"]
    if not streams:
        raise RpcError(Code.INVALID_PARAMS, "The parameter streams must not be empty.")
    session = svc.session_for(call, call.params["session"])
    h = session.headset
    success, failure = [], []
    for stream in streams:
        if _unavailable(svc, session, stream):
            failure.append(_stream_failure(stream))
            continue
        if stream not in session.subs:
            rate = svc.met_rate(session) if stream == "met" else h.rate(stream)
            sub = Subscription(stream, rate, svc.subscription_start(h, rate) if rate > 0 else 0)
            if stream == "eeg" and svc.cfg.flood > 0:
                sub.flood_end = sub.cursor + svc.cfg.flood
            session.subs[stream] = sub
        success.append(
            {"cols": h.cols(stream, svc.cfg.met_layout), "sid": session.id, "streamName": stream}
        )
    return {"failure": failure, "success": success}


def unsubscribe(svc: CortexService, call: Call) -> Any:
    streams = call.params["streams"]
    if not streams:
        raise RpcError(Code.INVALID_PARAMS, "The parameter streams must not be empty.")
    session = svc.session_for(call, call.params["session"])
    success, failure = [], []
    for stream in streams:
        if stream in session.subs:
            del session.subs[stream]
            success.append({"streamName": stream})
        else:
            failure.append(_stream_failure(stream))  # not subscribed [U code]
    return {"failure": failure, "success": success}


# ---- simulator control (not Cortex) --------------------------------------------------


def sim_state(svc: CortexService, call: Call) -> Any:
    return svc.state()


def sim_fault(svc: CortexService, call: Call) -> Any:
    params = {k: v for k, v in call.params.items() if k != "kind"}
    return faults.apply(svc, call.params["kind"], params, requester=call.conn.id)


_CREDS = (s("clientId"), s("clientSecret"))

CORE_METHODS: Mapping[str, MethodSpec] = {
    "getCortexInfo": MethodSpec((), get_cortex_info),
    "getUserLogin": MethodSpec((), get_user_login),
    "hasAccessRight": MethodSpec(_CREDS, has_access_right),
    "requestAccess": MethodSpec(_CREDS, request_access),
    "authorize": MethodSpec((*_CREDS, s("license", False), num("debit", False)), authorize),
    "generateNewToken": MethodSpec((TOKEN, *_CREDS), generate_new_token, token=True),
    "getLicenseInfo": MethodSpec((TOKEN,), get_license_info, token=True),
    "queryHeadsets": MethodSpec(
        (s("id", False), boolean("includeFlexMappings", False)), query_headsets
    ),
    "controlDevice": MethodSpec(
        (s("command"), s("headset", False), obj("mappings", False), s("connectionType", False)),
        control_device,
    ),
    "syncWithHeadsetClock": MethodSpec(
        (s("headset"), num("monotonicTime"), num("systemTime")), sync_with_headset_clock
    ),
    "createSession": MethodSpec(
        (TOKEN, s("status"), s("headset", False)), create_session, token=True
    ),
    "updateSession": MethodSpec((TOKEN, s("session"), s("status")), update_session, token=True),
    "querySessions": MethodSpec((TOKEN,), query_sessions, token=True),
    "subscribe": MethodSpec((TOKEN, s("session"), str_list("streams")), subscribe, token=True),
    "unsubscribe": MethodSpec((TOKEN, s("session"), str_list("streams")), unsubscribe, token=True),
    "simulator.state": MethodSpec((), sim_state, control=True),
    "simulator.fault": MethodSpec((s("kind"),), sim_fault, control=True),
}
METHODS: Mapping[str, MethodSpec] = {
    **CORE_METHODS,
    **records.METHODS,
    **profiles.METHODS,
    **bci.METHODS,
    **subjects.METHODS,
}

# What the v2 service runs on; registered so that ``CortexService(config)`` finds it.
API = CortexApi(METHODS, records.seed_cloud_records, records.record_finished)
register_api("v2", API)
