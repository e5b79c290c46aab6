"""The Cortex 1.x methods: the table :data:`METHODS_V1` and its handlers.

The 1.x service (``v1.py``) receives them as :data:`API` and never imports this module,
so the handlers can name :class:`~bridge.simulator.v1.CortexServiceV1` without a cycle.
What the 1.x dialect differs in is listed in ``v1.py``'s docstring; what the seed page
leaves open is marked [U] and listed in ``docs/simulator.md``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bridge.simulator import records
from bridge.simulator.device import STATUS_CONNECTED, STATUS_CONNECTING, STATUS_DISCOVERED
from bridge.simulator.headsets import DETECTION_INFO, FE_TRAINABLE
from bridge.simulator.jsonrpc import Code, Param, RpcError, anything, num, obj, s, str_list
from bridge.simulator.methods import schedule_training, sim_fault, sim_state
from bridge.simulator.model import Call, PendingMarker, Session, Subscription, iso
from bridge.simulator.spec import CortexApi, MethodSpec, register_api
from bridge.simulator.tokens import TokenClaims
from bridge.simulator.v1 import CortexServiceV1, TokenUse, V1Extra
from bridge.simulator.v1_wire import (
    V1_MC_EVENTS,
    V1_STREAMS,
    V1Code,
    v1_cols,
    v1_error,
    v1_headset_json,
)

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

# ---- method handlers -----------------------------------------------------------------


def _svc(svc: CortexService) -> CortexServiceV1:
    assert isinstance(svc, CortexServiceV1)
    return svc


ANONYMOUS_APP_ID = "com.emotiv.anonymous"


def _use_of(svc: CortexServiceV1, token: str, claims: TokenClaims | None) -> TokenUse:
    """Who ``token`` was issued to. A token from before a restart (same ``--seed``, so
    still valid, as in v2) is not in ``token_uses``: its claims say it, since the app
    id is ``com.<user>.<client id>`` for an app and ``com.emotiv.anonymous`` otherwise.
    (Taking such a token as anonymous would accept it and then refuse to activate.)"""
    use = svc.token_uses.get(token)
    if use is not None:
        return use
    if claims is None or claims.app_id == ANONYMOUS_APP_ID:
        return TokenUse("", "")
    use = TokenUse(svc.cfg.username, claims.client_id)
    svc.token_uses[token] = use
    return use


def _token_use(svc: CortexServiceV1, call: Call) -> TokenUse:
    return _use_of(svc, str(call.params.get("_auth")), call.claims)


def _guarded(handler: Callable[[CortexServiceV1, Call], Any], eula: bool = True) -> Any:
    """A token method: the token's user must still be the logged-in one (-32034) and,
    unless this is acceptLicense, the EULA accepted (-32041) [U: when Cortex checks]."""

    def run(svc: CortexService, call: Call) -> Any:
        v1 = _svc(svc)
        use = _token_use(v1, call)
        if use.user and use.user != v1.logged_in:
            raise v1_error(V1Code.TOKEN_USER_MISMATCH)
        if eula and not v1.eula_accepted:
            raise v1_error(V1Code.EULA_NOT_ACCEPTED)
        return handler(v1, call)

    return run


def _open(handler: Callable[[CortexServiceV1, Call], Any]) -> Any:
    def run(svc: CortexService, call: Call) -> Any:
        return handler(_svc(svc), call)

    return run


def _issue(svc: CortexServiceV1, use: TokenUse) -> str:
    app_id = f"com.{use.user}.{use.client_id}" if use.client_id else ANONYMOUS_APP_ID
    token = svc.tokens.issue(app_id, use.client_id, svc.epoch_now(), svc.cfg.token_lifetime_s)
    svc.token_uses[token] = use
    return token


def login(svc: CortexServiceV1, call: Call) -> Any:
    """The virtual Emotiv cloud knows one account (``username``) and takes any non-empty
    password [U]; the client id/secret must be the simulator's."""
    p = call.params
    if p["client_id"] != svc.cfg.client_id or p["client_secret"] != svc.cfg.client_secret:
        raise v1_error(V1Code.INVALID_CLIENT)
    if svc.logged_in is not None and svc.logged_in != p["username"]:
        raise v1_error(V1Code.LOGOUT_FIRST)
    if p["username"] != svc.cfg.username or not p["password"]:
        raise v1_error(V1Code.INVALID_USER)
    svc.logged_in = p["username"]
    return f"User {svc.logged_in} logged in successfully"  # [U] text ("...." in the docs)


def logout(svc: CortexServiceV1, call: Call) -> Any:
    if svc.logged_in is None or call.params["username"] != svc.logged_in:
        raise v1_error(V1Code.ACCOUNT_MISMATCH)
    user, svc.logged_in = svc.logged_in, None
    return f"User {user} logged out successfully"  # [U] text


def get_user_login(svc: CortexServiceV1, call: Call) -> Any:
    return [svc.logged_in] if svc.logged_in else []


def authorize(svc: CortexServiceV1, call: Call) -> Any:
    """Anonymous with ``{}`` (no licence: sessions open, never activate, no EEG), or
    with the client id/secret of an app, which needs a logged-in user."""
    p = call.params
    client_id, secret = p.get("client_id"), p.get("client_secret")
    if client_id is None and secret is None:
        return {"_auth": _issue(svc, TokenUse("", ""))}
    if not client_id:
        raise v1_error(V1Code.MISSING_CLIENT_ID)
    if client_id != svc.cfg.client_id or secret != svc.cfg.client_secret:
        raise v1_error(V1Code.INVALID_CLIENT)
    if svc.logged_in is None:
        raise v1_error(V1Code.LOGIN_FIRST)
    licence = p.get("license")
    if licence and licence != svc.licence_id:
        raise v1_error(V1Code.INVALID_LICENSE)
    debit = p.get("debit")
    if debit is not None:
        if debit < 0 or int(debit) != debit:
            raise v1_error(
                Code.INVALID_PARAMS, "The parameter debit must be a non-negative integer."
            )
        svc.debits[client_id] = svc.debits.get(client_id, 0) + int(debit)
    return {"_auth": _issue(svc, TokenUse(svc.logged_in, client_id))}


def generate_new_token(svc: CortexServiceV1, call: Call) -> Any:
    """``{token}`` -> ``{_auth}``; "Both old token and new token can use"."""
    old = str(call.params["token"])
    claims = svc._claims(old)  # -32014 / -32015
    return {"_auth": _issue(svc, _use_of(svc, old, claims))}


def accept_license(svc: CortexServiceV1, call: Call) -> Any:
    svc.eula_accepted = True
    return {"_auth": _issue(svc, _token_use(svc, call))}


def query_headsets(svc: CortexServiceV1, call: Call) -> Any:
    # The parameter table says "headsetId", every example sends "id": we follow the
    # examples (and accept headsetId as well) [seed page contradiction].
    pattern = call.params.get("id", call.params.get("headsetId"))
    return [
        v1_headset_json(h)
        for h in svc.headsets
        if h.listed and (pattern is None or fnmatch.fnmatchcase(h.id, str(pattern)))
    ]


def control_bluetooth_headset(svc: CortexServiceV1, call: Call) -> Any:
    """Connects at once (the answer says "success") [U: the docs describe it for macOS
    Bluetooth only; the simulator accepts it for every pending headset]."""
    command, hid = call.params["command"], call.params["headset"]
    if command not in ("connect", "disconnect"):
        raise v1_error(Code.INVALID_PARAMS, 'The command must be "connect" or "disconnect".')
    h = svc.find_headset(hid)
    if h is None or not h.listed or not h.powered:
        raise v1_error(V1Code.NO_HEADSET, f"The headset {hid} is not available.")
    if command == "connect":
        if h.status != STATUS_CONNECTED:
            h.connect(svc.clock.monotonic(), svc.clock.time(), svc.clock_offset)
        return f"Connect headset {h.id} success"  # verbatim from the example
    if h.status in (STATUS_CONNECTED, STATUS_CONNECTING) or h.lost:
        svc.close_headset_sessions(h)
        h.status = STATUS_DISCOVERED
        h.lost = False
    return f"Disconnect headset {h.id} success"  # [U], shaped like connect's


def _activate(svc: CortexServiceV1, session: Session, use: TokenUse) -> None:
    if not use.client_id or not svc.cfg.licence:
        raise v1_error(V1Code.NO_LICENSE_TO_ACTIVATE)
    if svc.cfg.debit_required:
        left = svc.debits.get(session.client_id, 0)
        if left <= 0:
            raise v1_error(V1Code.SESSION_LIMIT)
        svc.debits[session.client_id] = left - 1
    session.status = "activated"
    session.license = svc.licence_id


def create_session(svc: CortexServiceV1, call: Call) -> Any:
    """The result follows the seed page's later examples and its Session Object data
    type (``headset`` is an object, ``appId``, ``owner``, ``project`` ...); the two early
    examples show ``headset`` as an id string and a ``client`` key [contradiction]."""
    assert call.claims is not None
    p = call.params
    status = p["status"]
    if status not in ("open", "active"):
        raise v1_error(V1Code.INVALID_STATUS, 'The status must be "open" or "active".')
    hid = p.get("headset")
    if hid is None:
        h = next((x for x in svc.headsets if x.status == STATUS_CONNECTED and not x.lost), None)
    else:
        h = svc.find_headset(hid)
    if h is None or h.status != STATUS_CONNECTED or h.lost:
        raise v1_error(V1Code.NO_HEADSET)
    for other in svc.live_sessions():
        if other.conn == call.conn.id and other.headset is h:
            raise v1_error(V1Code.SESSION_EXISTS, f"The session {other.id} uses {h.id}.")
    use = _token_use(svc, call)
    session = Session(
        id=svc.new_uuid(),
        app_id="" if not use.client_id else call.claims.app_id,
        client_id=use.client_id,
        conn=call.conn.id,
        headset=h,
        status="opened",
        started=iso(svc.epoch_now(), "microseconds"),
        owner=use.user or "Basic",  # "owner= Basic if an anonymous user"
    )
    if status == "active":
        _activate(svc, session, use)
    svc.sessions[session.id] = session
    svc.extra[session.id] = V1Extra(
        project=p.get("project") or "",
        title=p.get("title") or "",
        subject=p.get("subject") or "",
        experiment_id=int(p.get("experimentID") or 0),
    )
    return svc.session_json(session)


def _start_record(svc: CortexServiceV1, session: Session, call: Call) -> None:
    extra = svc.extra[session.id]
    if session.status != "activated":
        raise v1_error(V1Code.NOT_ACTIVATED)
    if extra.recording is not None:
        raise v1_error(V1Code.RECORDING_STARTED)
    p = call.params
    now = iso(svc.epoch_now(), "microseconds")
    name = p.get("recordingName") or f"record-{len(extra.records) + 1}"
    h, mono = session.headset, svc.clock.monotonic()
    info: dict[str, Any] = {
        "name": name,
        "notes": p.get("recordingNote") or "",
        "recordId": svc.new_uuid(),
        "sampleMarkerAFF": [max(0, h.last_due(h.mems_rate or 1.0, mono, 0.0))],
        "sampleMarkerEEG": [max(0, h.last_due(h.eeg_rate, mono, 0.0))],
        "startMarkerRecording": now,
        "stopMarkerRecording": "",
        "subject": p.get("recordingSubject") or "",
    }
    extra.records.append(info)
    extra.recording = info
    # As in the seed page's example: a marker type per record, port EmotivProRecording,
    # value "record-N" at the start and -1 at the stop (not sent in the eeg stream [U]).
    mt = extra.marker_type(name, "EmotivProRecording")
    mt.events.append([now, mt.wire_value(f"record-{len(extra.records)}")])


def update_session(svc: CortexServiceV1, call: Call) -> Any:
    p = call.params
    status = p["status"]
    session = svc.v1_session(call, p.get("session"))
    extra = svc.extra.setdefault(session.id, V1Extra())
    if status == "active":
        if session.status != "activated":
            _activate(svc, session, _token_use(svc, call))
    elif status == "close":
        svc.close_session(session, "client")
    elif status == "startRecord":
        _start_record(svc, session, call)
    elif status == "stopRecord":
        if extra.recording is None:
            raise v1_error(V1Code.RECORDING_STOPPED)
        svc.stop_recording(session, extra)
    elif status in ("addTags", "removeTags"):
        tags = p.get("tags")
        if tags is None:
            raise v1_error(V1Code.MISSING_PARAMS, "This parameter is required: tags")
        if status == "addTags":
            extra.tags.extend(t for t in tags if t not in extra.tags)
        else:
            extra.tags = [t for t in extra.tags if t not in tags]
    else:
        raise v1_error(V1Code.INVALID_STATUS)
    return svc.session_json(session)


def query_sessions(svc: CortexServiceV1, call: Call) -> Any:
    """Every session of the token's user on this machine (closed ones too), filtered by
    equality on the fields of ``query`` [U: how Cortex matched]."""
    owner = _token_use(svc, call).user or "Basic"
    query = call.params.get("query") or {}
    out = []
    for session in svc.sessions.values():
        if session.owner != owner:
            continue
        obj_ = svc.session_json(session)
        if all(obj_.get(k) == v for k, v in query.items()):
            out.append(obj_)
    return out


def update_note(svc: CortexServiceV1, call: Call) -> Any:
    p = call.params
    session = svc.sessions.get(p["session"])
    if session is None or session.conn != call.conn.id:
        raise v1_error(V1Code.SESSION_NOT_FOUND)  # "even the session closed": no -32008
    extra = svc.extra.setdefault(session.id, V1Extra())
    record = next((r for r in extra.records if r["recordId"] == p["record"]), None)
    if record is None:
        raise v1_error(Code.INVALID_PARAMS, f"Cannot find the record {p['record']}.")  # [U]
    record["notes"] = p["note"]
    return svc.session_json(session)


def _stream_problem(svc: CortexServiceV1, session: Session, stream: str) -> RpcError | None:
    h = session.headset
    if stream not in V1_STREAMS or stream in h.model.unsupported:
        return v1_error(V1Code.STREAM_UNAVAILABLE, f"The stream {stream} is unavailable.")
    if stream in session.subs:
        return v1_error(V1Code.STREAM_UNAVAILABLE, f"The stream {stream} is already subscribed.")
    if stream == "eeg":
        if session.status != "activated":
            return v1_error(V1Code.NOT_ACTIVATED, "Raw EEG needs an activated session.")
        if not svc.cfg.licence or "eeg" not in svc.cfg.licence_scopes:
            return v1_error(V1Code.STREAM_UNAVAILABLE, "Raw EEG needs a licence.")
    if stream == "mot" and h.mems_rate <= 0:
        return v1_error(V1Code.STREAM_UNAVAILABLE, "Motion is disabled on this headset.")
    return None


def subscribe(svc: CortexServiceV1, call: Call) -> Any:
    """All or nothing [U]: the 1.x result has no failure list, so one stream that cannot
    be subscribed fails the request (-32016, or -32012 for eeg on a session that is not
    activated) and nothing is subscribed."""
    streams = call.params["streams"]
    if not streams:
        raise v1_error(Code.INVALID_PARAMS, "The parameter streams must not be empty.")
    session = svc.v1_session(call, call.params.get("session"))
    for stream in dict.fromkeys(streams):
        problem = _stream_problem(svc, session, stream)
        if problem is not None:
            raise problem
    h = session.headset
    out = []
    for stream in dict.fromkeys(streams):
        rate = svc.met_rate(session) if stream == "met" else h.rate(stream)
        sub = Subscription(stream, rate, svc.subscription_start(h, rate) if rate > 0 else 0)
        if stream == "eeg" and svc.cfg.flood > 0:
            sub.flood_end = sub.cursor + svc.cfg.flood
        session.subs[stream] = sub
        out.append({stream: {"cols": v1_cols(stream, h)}, "sid": session.id})
    return out


def unsubscribe(svc: CortexServiceV1, call: Call) -> Any:
    """The result follows the example (a list of ``{"message": ...}``), not the table
    ("string") [seed page contradiction]; a stream not subscribed is -32016 [U]."""
    streams = call.params["streams"]
    session = svc.v1_session(call, call.params.get("session"))
    for stream in streams:
        if stream not in session.subs:
            raise v1_error(V1Code.STREAM_UNAVAILABLE, f"The stream {stream} is not subscribed.")
    out = []
    for stream in dict.fromkeys(streams):
        if stream == "eeg":
            session.subs[stream].markers.clear()
        del session.subs[stream]
        out.append({"message": f"Unsubscribe stream {stream} with session {session.id} success"})
    return out


def _marker_value_ok(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, int) and not isinstance(value, bool)


def inject_marker(svc: CortexServiceV1, call: Call) -> Any:
    """No record needed. The marker goes into the ``IEE_MARKER``/``IEE_MARKER_HARDWARE``
    columns of the eeg sample nearest its time (the next one sent if that one has gone).
    ``time`` is "Epoch time": seconds, or milliseconds when above 1e11 [U: the unit is
    not given; v2 uses ms]. ``value`` defaults to 1 [U]. The result is the session
    object (the seed page's example omits the ``result`` wrapper, a typo we ignore)."""
    p = call.params
    session = svc.v1_session(call, p.get("session"))
    raw_time = float(p["time"])
    time_s = raw_time / 1000.0 if raw_time > 1e11 else raw_time
    value = p.get("value", 1)
    port = p.get("port") or "Software"
    extra = svc.extra.setdefault(session.id, V1Extra())
    mt = extra.marker_type(p["label"], port)
    wire = mt.wire_value(value)
    mt.events.append([iso(time_s, "microseconds"), wire])
    h = session.headset
    k = h.nearest_eeg_index(time_s)
    entry: dict[str, Any] = {
        "uuid": svc.new_uuid(),
        "sessionId": session.id,
        "recordId": None,
        "label": p["label"],
        "value": value,
        "timeMs": time_s * 1000.0,
        "sampleIndex": k,
        "sampleTime": round(h.eeg_time(k), 6),
        "monoTime": round(h.mono_anchor + (time_s - h.epoch_anchor), 6),
        "sentIndex": None,
        "sentTime": None,
        "code": mt.code,
        "wireValue": wire,
    }
    h.markers.append(entry)
    sub = session.subs.get("eeg")
    if sub is not None:
        pm = PendingMarker(k, entry, {"code": mt.code, "value": wire})
        # insort by sample index (stable: equal indices keep injection order)
        i = len(sub.markers)
        while i > 0 and sub.markers[i - 1].k > k:
            i -= 1
        sub.markers.insert(i, pm)
    return svc.session_json(session)


def get_detection_info(svc: CortexServiceV1, call: Call) -> Any:
    detection = call.params["detection"]
    if detection not in DETECTION_INFO:
        raise v1_error(
            Code.INVALID_PARAMS, 'The detection must be "mentalCommand" or "facialExpression".'
        )
    info = DETECTION_INFO[detection]
    events = V1_MC_EVENTS if detection == "mentalCommand" else ["FE_NoEvent", *info["events"]]
    return {"actions": list(info["actions"]), "controls": list(info["controls"]), "events": events}


def training(svc: CortexServiceV1, call: Call) -> Any:
    """As in v2 (Started, Succeeded after ``training_duration_s``; accept -> Completed
    ...) with 1.x errors and a string result, events in the sys stream without time."""
    p = call.params
    detection, status, action = p["detection"], p["status"], p["action"]
    info = DETECTION_INFO.get(detection)
    if info is None:
        raise v1_error(
            Code.INVALID_PARAMS, 'The detection must be "mentalCommand" or "facialExpression".'
        )
    if status not in info["controls"]:
        raise v1_error(V1Code.INVALID_STATUS)
    trainable = info["actions"] if detection == "mentalCommand" else sorted(FE_TRAINABLE)
    if action not in trainable:
        raise v1_error(V1Code.TRAINING_UNSUPPORTED)
    schedule_training(svc, svc.v1_session(call, p.get("session")), detection, status, call.mono)
    return f"Set up training successfully for action {action} with status {status}"


def query_profile(svc: CortexServiceV1, call: Call) -> Any:
    return sorted(svc.profiles)


PROFILE_STATUSES = ("create", "save", "load", "upload", "delete")


def setup_profile(svc: CortexServiceV1, call: Call) -> Any:
    """Profiles live in memory for the simulator's lifetime; ``load`` makes the profile
    the ``profile`` of sessions on that headset [U]; ``save``/``upload`` change nothing."""
    p = call.params
    name, status, hid = p["profile"], p["status"], p["headset"]
    if status not in PROFILE_STATUSES:
        raise v1_error(V1Code.INVALID_STATUS)
    h = svc.find_headset(hid)
    if h is None or not h.listed:
        raise v1_error(V1Code.NO_HEADSET)
    if not name or (status == "create") == (name in svc.profiles):
        raise v1_error(V1Code.INVALID_PROFILE)
    if status == "create":
        svc.profiles[name] = None
    elif status == "load":
        for other, on in svc.profiles.items():
            if on == h.id:
                svc.profiles[other] = None
        svc.profiles[name] = h.id
    elif status == "delete":
        del svc.profiles[name]
    return f"{status} profile {name} successfully"  # as the example: "create profile test successfully"


AUTH = s("_auth")
_V1_CREDS = (s("client_id"), s("client_secret"))

METHODS_V1: Mapping[str, MethodSpec] = {
    "login": MethodSpec((s("username"), s("password"), *_V1_CREDS), _open(login)),
    "logout": MethodSpec((s("username"),), _open(logout)),
    "getUserLogin": MethodSpec((), _open(get_user_login)),
    "authorize": MethodSpec(
        (
            s("client_id", False),
            s("client_secret", False),
            s("license", False),
            num("debit", False),
        ),
        _open(authorize),
    ),
    "generateNewToken": MethodSpec((s("token"),), _open(generate_new_token)),
    "acceptLicense": MethodSpec((AUTH,), _guarded(accept_license, eula=False), token=True),
    "queryHeadsets": MethodSpec((s("id", False), s("headsetId", False)), _open(query_headsets)),
    "controlBluetoothHeadset": MethodSpec(
        (s("command"), s("headset")), _open(control_bluetooth_headset)
    ),
    "createSession": MethodSpec(
        (
            AUTH,
            s("status"),
            s("headset", False),
            s("project", False),
            s("title", False),
            s("subject", False),
            num("experimentID", False),
        ),
        _guarded(create_session),
        token=True,
    ),
    "updateSession": MethodSpec(
        (
            AUTH,
            s("status"),
            s("session", False),
            s("recordingName", False),
            s("recordingNote", False),
            s("recordingSubject", False),
            str_list("tags", False),
        ),
        _guarded(update_session),
        token=True,
    ),
    "querySessions": MethodSpec((AUTH, obj("query", False)), _guarded(query_sessions), token=True),
    "updateNote": MethodSpec(
        (AUTH, s("session"), s("note"), s("record")), _guarded(update_note), token=True
    ),
    "subscribe": MethodSpec(
        (AUTH, str_list("streams"), s("session", False), anything("replay", False)),
        _guarded(subscribe),
        token=True,
    ),
    "unsubscribe": MethodSpec(
        (AUTH, str_list("streams"), s("session", False), anything("replay", False)),
        _guarded(unsubscribe),
        token=True,
    ),
    "injectMarker": MethodSpec(
        (
            AUTH,
            s("label"),
            num("time"),
            s("session", False),
            Param("value", _marker_value_ok, "a string or an integer", False),
            anything("stop", False),
            s("port", False),
        ),
        _guarded(inject_marker),
        token=True,
    ),
    "getDetectionInfo": MethodSpec((s("detection"),), _open(get_detection_info)),
    "training": MethodSpec(
        (AUTH, s("detection"), s("action"), s("status"), s("session", False)),
        _guarded(training),
        token=True,
    ),
    "queryProfile": MethodSpec((AUTH,), _guarded(query_profile), token=True),
    "setupProfile": MethodSpec(
        (AUTH, s("headset"), s("profile"), s("status")), _guarded(setup_profile), token=True
    ),
    "simulator.state": MethodSpec((), sim_state, control=True),
    "simulator.fault": MethodSpec((s("kind"),), sim_fault, control=True),
}

# What the 1.x service runs on; registered so that ``CortexServiceV1(config)`` finds it.
API = CortexApi(METHODS_V1, records.seed_cloud_records, records.record_finished)
register_api("v1", API)
