"""Conformance of the Cortex simulator to the protocol reference.

Every expectation here is taken from ``cortex_api.md`` (section in each test's docstring),
not from the simulator's code: field names, result shapes, error codes and messages,
warnings. A real WebSocket client talks to the simulator over loopback TLS.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

HEADSET_KEYS = {
    "connectedBy",
    "customName",
    "dongle",
    "firmware",
    "headbandPosition",
    "id",
    "motionSensors",
    "sensors",
    "settings",
    "status",
}
SETTINGS_KEYS = {"eegRate", "eegRes", "memsRate", "memsRes", "mode"}
SESSION_KEYS = {
    "appId",
    "headset",
    "id",
    "license",
    "owner",
    "recordIds",
    "recording",
    "started",
    "status",
    "stopped",
    "streams",
}
EPOC = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]
INSIGHT = ["AF3", "T7", "Pz", "T8", "AF4"]
QUAT_MOTION = ["Q0", "Q1", "Q2", "Q3", "ACCX", "ACCY", "ACCZ", "MAGX", "MAGY", "MAGZ"]
BANDS = ["theta", "alpha", "betaL", "betaH", "gamma"]
MET_CURRENT = [
    "attention.isActive",
    "attention",
    "eng.isActive",
    "eng",
    "exc.isActive",
    "exc",
    "lex",
    "str.isActive",
    "str",
    "rel.isActive",
    "rel",
    "int.isActive",
    "int",
]


def _jwt_part(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def sim(sim_factory):
    return sim_factory(headsets=["epocx:rate=256", "insight:status=connected", "mn8", "flex"])


@pytest.fixture
def client(sim, cortex_client):
    return cortex_client(sim)


def _ids(client) -> dict[str, str]:
    """Headset ids by model prefix."""
    return {h["id"].split("-")[0]: h["id"] for h in client.result("queryHeadsets")}


# ---- §1.3 JSON-RPC framing ------------------------------------------------------------


def test_response_echoes_numeric_and_string_ids(client):
    """§1.3: id is a number or a string; the response carries it back."""
    assert client.request("getCortexInfo", rid=42)["id"] == 42
    msg = client.request("getCortexInfo", rid="abc")
    assert msg["id"] == "abc" and msg["jsonrpc"] == "2.0" and "result" in msg


def test_parse_error_is_32700(client):
    """§9.1: -32700 Parse Error (not valid JSON)."""
    client.send_raw("{not json")
    msg = client.wait_for(lambda m: isinstance(m, dict) and "error" in m)
    assert msg["error"]["code"] == -32700


def test_invalid_request_is_32600(client):
    """§9.1: -32600 Invalid Request (valid JSON, missing fields)."""
    client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 5}))
    msg = client.wait_for(lambda m: isinstance(m, dict) and "error" in m)
    assert msg["error"]["code"] == -32600 and msg["id"] == 5


def test_unknown_method_is_32601(client):
    assert client.error("noSuchMethod")["code"] == -32601


def test_control_methods_refused_without_control(client):
    """The simulator's control interface is not Cortex: off unless --control."""
    assert client.error("simulator.state")["code"] == -32601


def test_missing_parameter_is_32018_with_behavior(client):
    """§1.3 (observed, #129): -32018 "Missing the required parameters." with
    data.behavior "This parameter is required: cortexToken"."""
    err = client.error("createSession", status="open")
    assert err == {
        "code": -32018,
        "data": {"behavior": "This parameter is required: cortexToken"},
        "message": "Missing the required parameters.",
    }


def test_invalid_parameter_value_is_32602(client):
    """§9.1: -32602 invalid value."""
    token = client.authorize()
    assert client.error("createSession", cortexToken=token, status="bogus")["code"] == -32602


def test_responses_overtake_each_other_with_per_method_delay(sim_factory, cortex_client):
    """§1.4: clients must match by id; a slow method answers after a fast one."""
    sim = sim_factory(response_delays_ms={"queryHeadsets": 1000})
    client = cortex_client(sim)
    client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "queryHeadsets"}))
    client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "getCortexInfo"}))
    first = client.wait_for(lambda m: isinstance(m, dict) and "result" in m)
    assert first["id"] == 2
    assert client.wait_response(1)["id"] == 1


# ---- §2 authentication ----------------------------------------------------------------


def test_get_cortex_info(client):
    """§2.2: {buildDate, buildNumber, version}."""
    result = client.result("getCortexInfo")
    assert set(result) == {"buildDate", "buildNumber", "version"}
    assert all(isinstance(v, str) for v in result.values())


def test_get_user_login(client):
    """§2.2: array of at most one user object."""
    users = client.result("getUserLogin")
    assert len(users) == 1
    assert set(users[0]) == {
        "username",
        "currentOSUId",
        "currentOSUsername",
        "loggedInOSUId",
        "loggedInOSUsername",
        "lastLoginTime",
    }


def test_logged_out_user(sim_factory, cortex_client):
    """§2.2: empty array when nobody is logged in; authorize cannot work then."""
    client = cortex_client(sim_factory(user_logged_in=False))
    assert client.result("getUserLogin") == []
    assert (
        client.error(
            "authorize", clientId="cortex-bridge-demo", clientSecret="cortex-bridge-demo-secret"
        )["code"]
        == -32033
    )


def test_has_access_right_granted(client):
    """§2.2 (observed): {"accessGranted": true, "message": "The user has granted access
    right to this application."}."""
    result = client.result(
        "hasAccessRight", clientId="cortex-bridge-demo", clientSecret="cortex-bridge-demo-secret"
    )
    assert result == {
        "accessGranted": True,
        "message": "The user has granted access right to this application.",
    }
    assert client.result(
        "requestAccess", clientId="cortex-bridge-demo", clientSecret="cortex-bridge-demo-secret"
    )["accessGranted"]


def test_wrong_credentials_are_32021(client):
    """§9.1: -32021 invalid client id/secret."""
    assert (
        client.error("hasAccessRight", clientId="cortex-bridge-demo", clientSecret="nope")["code"]
        == -32021
    )
    assert client.error("authorize", clientId="someone-else", clientSecret="x")["code"] == -32021


def test_request_access_prompt_then_warning_9(sim_factory, cortex_client):
    """§2.1/§2.2: requestAccess -> user approves in the Launcher -> warning 9 -> authorize."""
    client = cortex_client(sim_factory(access="prompt"))
    creds = {"clientId": "cortex-bridge-demo", "clientSecret": "cortex-bridge-demo-secret"}
    assert client.result("hasAccessRight", **creds)["accessGranted"] is False
    assert client.error("authorize", **creds)["code"] == -32102
    result = client.result("requestAccess", **creds)
    assert result["accessGranted"] is False and isinstance(result["message"], str)
    warning = client.wait_warning(9)
    assert warning["jsonrpc"] == "2.0" and isinstance(warning["warning"]["message"], str)
    assert client.result("hasAccessRight", **creds)["accessGranted"] is True
    assert "cortexToken" in client.result("authorize", **creds)


def test_request_access_rejected_is_warning_10(sim_factory, cortex_client):
    client = cortex_client(sim_factory(access="reject"))
    creds = {"clientId": "cortex-bridge-demo", "clientSecret": "cortex-bridge-demo-secret"}
    client.result("requestAccess", **creds)
    client.wait_warning(10)
    assert client.result("hasAccessRight", **creds)["accessGranted"] is False


def test_authorize_returns_jwt_with_observed_claims(client):
    """§2.2: a JWT {"alg":"HS256","typ":"JWT"} whose payload is {appId, appVersion, exp,
    nbf, userId, username, version:"2.0"} and exp - nbf = 259200 s."""
    token = client.authorize()
    header, payload, signature = token.split(".")
    assert _jwt_part(header) == {"alg": "HS256", "typ": "JWT"}
    claims = _jwt_part(payload)
    assert set(claims) == {"appId", "appVersion", "exp", "nbf", "userId", "username", "version"}
    assert claims["version"] == "2.0"
    assert claims["exp"] - claims["nbf"] == 259_200
    assert signature


def test_authorize_accepts_empty_license_and_debit(client):
    """§2.2: Emotiv's example sends "license": "" and a debit."""
    result = client.result(
        "authorize",
        clientId="cortex-bridge-demo",
        clientSecret="cortex-bridge-demo-secret",
        license="",
        debit=10,
    )
    assert isinstance(result["cortexToken"], str)


def test_unknown_license_is_32002(client):
    err = client.error(
        "authorize",
        clientId="cortex-bridge-demo",
        clientSecret="cortex-bridge-demo-secret",
        license="bad",
    )
    assert err["code"] == -32002


def test_generate_new_token(client):
    """§2.2: generateNewToken {cortexToken, clientId, clientSecret} -> {cortexToken}."""
    token = client.authorize()
    result = client.result(
        "generateNewToken",
        cortexToken=token,
        clientId="cortex-bridge-demo",
        clientSecret="cortex-bridge-demo-secret",
    )
    assert set(result) == {"cortexToken"}
    assert client.result("querySessions", cortexToken=result["cortexToken"]) == []


def test_invalid_token_is_32014(client):
    assert client.error("querySessions", cortexToken="not-a-token")["code"] == -32014
    forged = client.authorize()[:-4] + "AAAA"
    assert client.error("querySessions", cortexToken=forged)["code"] == -32014


def test_expired_token_is_32015(sim_factory, cortex_client):
    client = cortex_client(sim_factory(token_lifetime_s=1.0))
    token = client.authorize()
    time.sleep(2.1)
    assert client.error("querySessions", cortexToken=token)["code"] == -32015


# ---- §3 headsets ----------------------------------------------------------------------


def test_query_headsets_objects(client):
    """§3.1/§3.2: headset objects; no token needed."""
    headsets = client.result("queryHeadsets")
    assert len(headsets) == 4
    by_prefix = {h["id"].split("-")[0]: h for h in headsets}
    assert set(by_prefix) == {"EPOCX", "INSIGHT", "MN8", "EPOCFLEX"}
    for h in headsets:
        assert set(h) == HEADSET_KEYS
        assert set(h["settings"]) == SETTINGS_KEYS
        assert h["status"] in ("discovered", "connecting", "connected")
    epoc = by_prefix["EPOCX"]
    assert epoc["sensors"] == EPOC
    assert epoc["motionSensors"] == QUAT_MOTION
    assert epoc["settings"]["eegRate"] == 256
    assert epoc["status"] == "discovered"
    assert by_prefix["INSIGHT"]["sensors"] == INSIGHT
    assert by_prefix["INSIGHT"]["status"] == "connected"
    assert by_prefix["MN8"]["sensors"] == ["T7", "T8"]
    assert by_prefix["MN8"]["settings"]["memsRate"] == 6.4
    assert len(by_prefix["EPOCFLEX"]["sensors"]) == 32


def test_query_headsets_by_id_and_wildcard(client):
    ids = _ids(client)
    assert [h["id"] for h in client.result("queryHeadsets", id=ids["EPOCX"])] == [ids["EPOCX"]]
    assert [h["id"] for h in client.result("queryHeadsets", id="INSIGHT-*")] == [ids["INSIGHT"]]
    assert client.result("queryHeadsets", id="EPOCPLUS-00000000") == []


def test_query_headsets_flex_mappings(client):
    """§3.2: flexMappings only for EPOC Flex, only when includeFlexMappings."""
    headsets = client.result("queryHeadsets", includeFlexMappings=True)
    flex = next(h for h in headsets if h["id"].startswith("EPOCFLEX"))
    assert {"CMS", "DRL"} <= set(flex["flexMappings"])
    assert all("flexMappings" not in h for h in headsets if h is not flex)


def test_control_device_refresh_then_warning_142(client):
    """§3.3: refresh answers at once; warning 142 when scanning finishes."""
    result = client.result("controlDevice", command="refresh")
    assert result["command"] == "refresh"
    assert client.wait_warning(142)["warning"]["code"] == 142


def test_control_device_connect_and_disconnect(client):
    """§3.3: connect answers "Start connecting to headset X"; the headset goes
    connecting -> connected and warning 104 {behavior, headsetId} arrives."""
    hid = _ids(client)["EPOCX"]
    result = client.result("controlDevice", command="connect", headset=hid)
    assert result == {"command": "connect", "message": f"Start connecting to headset {hid}"}
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "connecting"
    warning = client.wait_warning(104)["warning"]
    assert warning["message"]["headsetId"] == hid and "behavior" in warning["message"]
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "connected"
    assert (
        client.result("controlDevice", command="disconnect", headset=hid)["command"] == "disconnect"
    )
    assert client.result("queryHeadsets", id=hid)[0]["status"] == "discovered"


def test_control_device_errors(client):
    assert (
        client.error("controlDevice", command="connect", headset="EPOCX-FFFFFFFF")["code"] == -32004
    )
    assert client.error("controlDevice", command="explode")["code"] == -32602
    assert client.error("controlDevice")["code"] == -32018


def test_disconnect_closes_session_with_warnings_0_and_1(client):
    """§4.1: "A session is also closed if the headset is disconnected" (warnings 0, 1)."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid)
    client.result("controlDevice", command="disconnect", headset=hid)
    w0 = client.wait_warning(0)["warning"]["message"]
    w1 = client.wait_warning(1)["warning"]["message"]
    assert w0["sessionId"] == session["id"] == w1["sessionId"]
    assert isinstance(w0["behavior"], str) and isinstance(w1["behavior"], str)
    assert client.result("querySessions", cortexToken=client.token) == []


def test_sync_with_headset_clock(sim, client):
    """§3.4: {headset, adjustment}; adjustment = headset clock - our monotonic clock."""
    hid = _ids(client)["INSIGHT"]
    mono = time.monotonic()
    result = client.result(
        "syncWithHeadsetClock", headset=hid, monotonicTime=mono, systemTime=time.time()
    )
    assert set(result) == {"headset", "adjustment"} and result["headset"] == hid
    # Same machine, no clock offset: headset clock = system clock.
    assert result["adjustment"] == pytest.approx(time.time() - time.monotonic(), abs=0.01)
    clock = next(h for h in sim.state()["headsets"] if h["id"] == hid)["clock"]
    assert result["adjustment"] == pytest.approx(
        clock["epochAnchor"] - clock["monotonicAnchor"], abs=1e-6
    )


def test_sync_with_headset_clock_errors(client):
    hid = _ids(client)["EPOCX"]  # discovered, not connected
    assert (
        client.error(
            "syncWithHeadsetClock", headset=hid, monotonicTime=1.0, systemTime=time.time()
        )["code"]
        == -32004
    )
    assert client.error("syncWithHeadsetClock", headset=hid)["code"] == -32018


# ---- §4 sessions ----------------------------------------------------------------------


def test_create_session_open(client):
    """§4.2/§4.5 (seed doc): status "opened", license "" and stopped "" while open."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid, status="open")
    assert set(session) == SESSION_KEYS
    assert session["status"] == "opened"
    assert session["license"] == "" and session["stopped"] == ""
    assert session["recordIds"] == [] and session["recording"] is False and session["streams"] == []
    assert session["headset"]["id"] == hid and set(session["headset"]) == HEADSET_KEYS


def test_create_session_active_and_conflict(client):
    """§4.1: one session per application and headset."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid)
    assert session["status"] == "activated" and session["license"] != ""
    err = client.error("createSession", cortexToken=client.token, headset=hid, status="open")
    assert err["code"] == -32005


def test_create_session_uses_first_connected_headset(client):
    """§4.2: "If you omit this parameter, then Cortex will use the first connected headset"."""
    client.authorize()
    session = client.result("createSession", cortexToken=client.token, status="open")
    assert session["headset"]["id"] == _ids(client)["INSIGHT"]


def test_create_session_needs_connected_headset(client):
    client.authorize()
    hid = _ids(client)["EPOCX"]
    assert (
        client.error("createSession", cortexToken=client.token, headset=hid, status="open")["code"]
        == -32004
    )


def test_no_licence_cannot_activate(sim_factory, cortex_client):
    """§4.2 (observed): -32019 "Session limit on this device has been reached."."""
    client = cortex_client(sim_factory(headsets=["insight:status=connected"], licence=False))
    client.authorize()
    hid = _ids(client)["INSIGHT"]
    err = client.error("createSession", cortexToken=client.token, headset=hid, status="active")
    assert err["code"] == -32019
    assert err["message"] == "Session limit on this device has been reached."
    session = client.result("createSession", cortexToken=client.token, headset=hid, status="open")
    assert (
        client.error(
            "updateSession", cortexToken=client.token, session=session["id"], status="active"
        )["code"]
        == -32019
    )


def test_update_session_activate_and_close(client):
    """§4.3: updateSession active/close returns the session object; close sends warning 0."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid, status="open")
    activated = client.result(
        "updateSession", cortexToken=client.token, session=session["id"], status="active"
    )
    assert activated["status"] == "activated"
    closed = client.result(
        "updateSession", cortexToken=client.token, session=session["id"], status="close"
    )
    assert closed["status"] == "closed" and closed["stopped"] != "" and closed["streams"] == []
    assert client.wait_warning(0)["warning"]["message"]["sessionId"] == session["id"]
    err = client.error(
        "updateSession", cortexToken=client.token, session=session["id"], status="active"
    )
    assert err["code"] == -32007


def test_query_sessions(client):
    """§4.4: live sessions of this application."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid)
    sessions = client.result("querySessions", cortexToken=client.token)
    assert [s["id"] for s in sessions] == [session["id"]]
    assert set(sessions[0]) == SESSION_KEYS


def test_sessions_close_when_the_app_disconnects(sim, cortex_client):
    """§4.1: "All the sessions of an application are automatically closed when the
    application is disconnected from the Cortex service"."""
    first = cortex_client(sim)
    hid = _ids(first)["INSIGHT"]
    first.open_session(hid)
    first.close()
    second = cortex_client(sim)
    second.authorize()
    deadline = time.monotonic() + 2
    while second.result("querySessions", cortexToken=second.token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert second.result("querySessions", cortexToken=second.token) == []
    assert second.result("createSession", cortexToken=second.token, headset=hid, status="active")


# ---- §5 subscriptions -----------------------------------------------------------------


def test_subscribe_all_streams_epocx(client):
    """§5.1/§5.4: success items {streamName, cols, sid} with the documented columns."""
    hid = _ids(client)["EPOCX"]
    session = client.open_session(hid)
    result = client.result(
        "subscribe",
        cortexToken=client.token,
        session=session["id"],
        streams=["eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys"],
    )
    assert result["failure"] == []
    cols = {item["streamName"]: item["cols"] for item in result["success"]}
    assert all(item["sid"] == session["id"] for item in result["success"])
    assert all(set(item) == {"streamName", "cols", "sid"} for item in result["success"])
    assert cols["eeg"] == ["COUNTER", "INTERPOLATED", *EPOC, "RAW_CQ", "MARKER_HARDWARE", "MARKERS"]
    assert cols["mot"] == ["COUNTER_MEMS", "INTERPOLATED_MEMS", *QUAT_MOTION]
    assert cols["dev"] == ["Battery", "Signal", [*EPOC, "OVERALL"], "BatteryPercent"]
    assert cols["eq"] == ["batteryPercent", "overall", "sampleRateQuality", *EPOC]
    assert cols["pow"] == [f"{s}/{b}" for s in EPOC for b in BANDS] and len(cols["pow"]) == 70
    assert cols["met"] == MET_CURRENT
    assert cols["com"] == ["act", "pow"]
    assert cols["fac"] == ["eyeAct", "uAct", "uPow", "lAct", "lPow"]
    client.pump(1.2)
    for stream in ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac"):
        frames = client.frames(stream, session["id"])
        assert frames, stream
        for _, frame in frames:
            assert set(frame) == {stream, "sid", "time"}  # no jsonrpc, no id
            assert len(frame[stream]) == len(cols[stream])
            assert round(frame["time"], 4) == frame["time"]
    eeg = client.frames("eeg")[0][1]["eeg"]
    assert eeg[-1] == [] and 3000 < eeg[2] < 5500  # MARKERS empty, values around 4200 µV
    dev = client.frames("dev")[0][1]["dev"]
    assert isinstance(dev[2], list) and len(dev[2]) == len(EPOC) + 1


def test_subscribe_insight_columns(client):
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid)
    result = client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["eeg", "pow"]
    )
    cols = {item["streamName"]: item["cols"] for item in result["success"]}
    assert cols["eeg"] == [
        "COUNTER",
        "INTERPOLATED",
        *INSIGHT,
        "RAW_CQ",
        "MARKER_HARDWARE",
        "MARKERS",
    ]
    assert len(cols["pow"]) == 25


def test_eeg_needs_an_activated_session(client):
    """§5.1 (observed #42): eeg fails with -32016 "The stream is unavailable or
    unsupported." while other streams succeed."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid, status="open")
    result = client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["eeg", "met"]
    )
    assert result["failure"] == [
        {
            "code": -32016,
            "message": "The stream is unavailable or unsupported.",
            "streamName": "eeg",
        }
    ]
    assert [item["streamName"] for item in result["success"]] == ["met"]


def test_eeg_needs_an_eeg_licence(sim_factory, cortex_client):
    client = cortex_client(
        sim_factory(headsets=["insight:status=connected"], licence_scopes=("pm",))
    )
    session = client.open_session(_ids(client)["INSIGHT"])
    result = client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["eeg"]
    )
    assert result["failure"][0]["code"] == -32016


def test_mn8_has_no_fac_and_slow_motion(sim, client):
    """§5.3: fac for all but MN8; mot at 6.4 Hz on MN8."""
    session = client.open_session(_ids(client)["MN8"])
    result = client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["fac", "mot"]
    )
    assert [f["streamName"] for f in result["failure"]] == ["fac"]
    assert result["failure"][0]["code"] == -32016
    client.pump(1.0)
    times = [m["time"] for _, m in client.frames("mot")]
    assert len(times) >= 5
    assert times[1] - times[0] == pytest.approx(1 / 6.4, abs=2e-4)


def test_met_rate_depends_on_activation(sim, client):
    """§5.3: met at 2 Hz on an activated session with the pm scope, else 0.1 Hz."""
    ids = _ids(client)
    client.authorize()
    client.connect_headset(ids["EPOCX"])
    opened = client.result(
        "createSession", cortexToken=client.token, headset=ids["EPOCX"], status="open"
    )
    active = client.open_session(ids["INSIGHT"])
    client.result("subscribe", cortexToken=client.token, session=opened["id"], streams=["met"])
    client.result("subscribe", cortexToken=client.token, session=active["id"], streams=["met"])
    rates = {s["id"]: s["metRate"] for s in sim.state()["sessions"]}
    assert rates[opened["id"]] == 0.1 and rates[active["id"]] == 2.0
    client.pump(1.3)
    fast = [m["time"] for _, m in client.frames("met", active["id"])]
    assert len(fast) >= 2 and fast[1] - fast[0] == pytest.approx(0.5, abs=2e-4)


@pytest.mark.parametrize(
    ("layout", "cols"),
    [
        (
            "2.2.1",
            [
                "eng.isActive",
                "eng",
                "exc.isActive",
                "exc",
                "lex",
                "str.isActive",
                "str",
                "rel.isActive",
                "rel",
                "int.isActive",
                "int",
                "foc.isActive",
                "foc",
            ],
        ),
        ("2.2.0", ["eng", "exc", "lex", "str", "rel", "int", "foc"]),
    ],
)
def test_older_met_layouts(sim_factory, cortex_client, layout, cols):
    """§5.4 met: the three column generations."""
    client = cortex_client(sim_factory(headsets=["insight:status=connected"], met_layout=layout))
    session = client.open_session(_ids(client)["INSIGHT"])
    result = client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["met"]
    )
    assert result["success"][0]["cols"] == cols


def test_unsubscribe(client):
    """§5.1: unsubscribe success items hold streamName; data stops."""
    session = client.open_session(_ids(client)["INSIGHT"])
    client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=["eeg", "dev"]
    )
    result = client.result(
        "unsubscribe", cortexToken=client.token, session=session["id"], streams=["eeg"]
    )
    assert result["success"] == [{"streamName": "eeg"}] and result["failure"] == []
    client.pump(0.2)
    client.inbox.clear()
    client.pump(0.6)
    assert client.frames("eeg") == [] and client.frames("dev")


def test_subscribe_unknown_session_is_32007(client):
    client.authorize()
    err = client.error(
        "subscribe", cortexToken=client.token, session="no-such-session", streams=["eeg"]
    )
    assert err["code"] == -32007


# ---- §7, §8 records and markers -------------------------------------------------------


def _recording_session(client, streams=("eeg",)) -> dict[str, Any]:
    session = client.open_session(_ids(client)["INSIGHT"])
    client.result(
        "subscribe", cortexToken=client.token, session=session["id"], streams=list(streams)
    )
    client.result(
        "createRecord", cortexToken=client.token, session=session["id"], title="conformance"
    )
    return session


def test_create_stop_update_record(client):
    """§8: createRecord/stopRecord -> {record, sessionId}; updateRecord -> record."""
    session = client.open_session(_ids(client)["INSIGHT"])
    created = client.result(
        "createRecord", cortexToken=client.token, session=session["id"], title="rec 1"
    )
    assert set(created) == {"record", "sessionId"} and created["sessionId"] == session["id"]
    record = created["record"]
    assert {
        "applicationId",
        "applicationVersion",
        "description",
        "endDatetime",
        "experimentId",
        "licenseId",
        "licenseScope",
        "localOnly",
        "ownerId",
        "startDatetime",
        "tags",
        "title",
        "uuid",
    } <= set(record)
    assert record["title"] == "rec 1" and record["endDatetime"] == ""
    sessions = client.result("querySessions", cortexToken=client.token)
    assert sessions[0]["recording"] is True and sessions[0]["recordIds"] == [record["uuid"]]
    stopped = client.result("stopRecord", cortexToken=client.token, session=session["id"])
    assert stopped["record"]["uuid"] == record["uuid"] and stopped["record"]["endDatetime"] != ""
    updated = client.result(
        "updateRecord", cortexToken=client.token, record=record["uuid"], title="renamed"
    )
    assert updated["title"] == "renamed"


def test_record_errors(client):
    """Record codes: the 1.x table (seed 001) numbers "The recording of current session
    has been started" -32017 and "... stopped" -32011; a record that does not exist has
    no recoverable number in the v2 docs, so it is an invalid parameter value, -32602."""
    hid = _ids(client)["INSIGHT"]
    client.authorize()
    opened = client.result("createSession", cortexToken=client.token, headset=hid, status="open")
    assert (
        client.error("createRecord", cortexToken=client.token, session=opened["id"], title="x")[
            "code"
        ]
        == -32012
    )
    client.result("updateSession", cortexToken=client.token, session=opened["id"], status="active")
    client.result("createRecord", cortexToken=client.token, session=opened["id"], title="x")
    assert (
        client.error("createRecord", cortexToken=client.token, session=opened["id"], title="y")[
            "code"
        ]
        == -32017
    )
    client.result("stopRecord", cortexToken=client.token, session=opened["id"])
    assert (
        client.error("stopRecord", cortexToken=client.token, session=opened["id"])["code"] == -32011
    )
    assert (
        client.error("updateRecord", cortexToken=client.token, record="nope", title="z")["code"]
        == -32602
    )


def test_inject_marker_needs_a_record(client):
    """§7.1: "You must call createRecord before you call this method"."""
    session = client.open_session(_ids(client)["INSIGHT"])
    err = client.error(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=time.time() * 1000,
        value=1,
        label="x",
    )
    assert err["code"] == -32011


def test_inject_marker_result_and_eeg_column(sim, client):
    """§7.1/§7.4: result {recordId, sessionId, marker}; the marker appears in the
    MARKERS column of the EEG sample nearest its time (ms since epoch)."""
    session = _recording_session(client)
    hid = session["headset"]["id"]
    sync = client.result(
        "syncWithHeadsetClock", headset=hid, monotonicTime=time.monotonic(), systemTime=time.time()
    )
    marker_ms = (time.monotonic() + sync["adjustment"] + 0.3) * 1000  # 0.3 s ahead: not sent yet
    result = client.result(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=marker_ms,
        value="stim-A",
        label="stimulus",
        port="Test",
    )
    assert set(result) == {"recordId", "sessionId", "marker"}
    marker = result["marker"]
    assert set(marker) == {
        "endDatetime",
        "extras",
        "label",
        "port",
        "startDatetime",
        "type",
        "uuid",
        "value",
    }
    assert marker["type"] == "instance" and marker["value"] == "stim-A" and marker["port"] == "Test"
    frame = client.wait_for(
        lambda m: isinstance(m, dict) and m.get("eeg") and m["eeg"][-1], timeout=3
    )
    carried = frame["eeg"][-1]
    assert (
        len(carried) == 1
        and carried[0]["uuid"] == marker["uuid"]
        and carried[0]["value"] == "stim-A"
    )
    assert {"applicationId", "recordId"} <= set(carried[0])
    assert frame["time"] == pytest.approx(marker_ms / 1000, abs=0.5 / 128 + 1e-4)
    truth = sim.state()["headsets"]
    entry = next(m for h in truth for m in h["markers"] if m["uuid"] == marker["uuid"])
    assert entry["sampleIndex"] == entry["sentIndex"]
    assert frame["eeg"][0] == entry["sampleIndex"] % 128  # COUNTER of the carrying sample


def test_late_marker_rides_on_the_next_sample(sim, client):
    """A marker whose nearest sample was already sent goes out on the next one; the
    simulator's truth keeps the nearest index."""
    session = _recording_session(client)
    client.pump(0.3)
    marker_ms = (time.time() - 0.2) * 1000
    result = client.result(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=marker_ms,
        value=7,
        label="late",
    )
    frame = client.wait_for(
        lambda m: isinstance(m, dict) and m.get("eeg") and m["eeg"][-1], timeout=3
    )
    assert frame["eeg"][-1][0]["uuid"] == result["marker"]["uuid"]
    entry = next(m for h in sim.state()["headsets"] for m in h["markers"])
    assert entry["sentIndex"] > entry["sampleIndex"]
    assert entry["sampleTime"] == pytest.approx(marker_ms / 1000, abs=1 / 128)


def test_inject_marker_errors(client):
    session = _recording_session(client)
    now_ms = time.time() * 1000
    base = {"cortexToken": client.token, "session": session["id"], "label": "x"}
    err = client.error("injectMarker", **base, time=now_ms - 120_000, value=1)
    assert err == {
        "code": -32115,
        "message": "The marker timestamp is invalid (too far in the past).",
    }
    assert client.error("injectMarker", **base, time=now_ms, value=-1)["code"] == -32602
    assert client.error("injectMarker", **base, time=now_ms, value=1.5)["code"] == -32602
    err = client.error(
        "injectMarker", cortexToken=client.token, session=session["id"], time=now_ms, value=1
    )
    assert err["code"] == -32018 and err["data"]["behavior"] == "This parameter is required: label"


def test_update_marker_makes_an_interval(client):
    """§7.2: updateMarker {markerId, time (end)} -> type "interval", endDatetime set."""
    session = _recording_session(client)
    start = time.time() * 1000
    injected = client.result(
        "injectMarker",
        cortexToken=client.token,
        session=session["id"],
        time=start,
        value=1,
        label="x",
    )
    marker_id = injected["marker"]["uuid"]
    result = client.result(
        "updateMarker",
        cortexToken=client.token,
        session=session["id"],
        markerId=marker_id,
        time=start + 500,
    )
    assert set(result) == {"recordId", "sessionId", "marker"}
    assert result["marker"]["type"] == "interval"
    assert result["marker"]["endDatetime"] != result["marker"]["startDatetime"]
    err = client.error(
        "updateMarker", cortexToken=client.token, session=session["id"], markerId="nope", time=start
    )
    assert err["code"] == -32602


# ---- BCI ------------------------------------------------------------------------------


def test_get_detection_info(client):
    """D:bci/getdetectioninfo: {actions, controls, events, signature}."""
    mc = client.result("getDetectionInfo", detection="mentalCommand")
    assert set(mc) == {"actions", "controls", "events", "signature"}
    assert "push" in mc["actions"] and mc["controls"] == [
        "start",
        "accept",
        "reject",
        "erase",
        "reset",
    ]
    assert "MC_Succeeded" in mc["events"] and mc["signature"] == []
    fe = client.result("getDetectionInfo", detection="facialExpression")
    assert "smile" in fe["actions"] and fe["signature"] == ["universal", "trained"]
    assert client.error("getDetectionInfo", detection="telepathy")["code"] == -32602


def test_training_events_on_sys(client):
    """§5.4 sys + training: start -> MC_Started, then MC_Succeeded; accept -> MC_Completed.
    Training needs a loaded profile (more §A)."""
    hid = _ids(client)["INSIGHT"]
    session = client.open_session(hid)
    for status in ("create", "load"):
        client.result(
            "setupProfile", cortexToken=client.token, headset=hid, profile="p", status=status
        )
    client.result("subscribe", cortexToken=client.token, session=session["id"], streams=["sys"])
    result = client.result(
        "training",
        cortexToken=client.token,
        session=session["id"],
        detection="mentalCommand",
        action="push",
        status="start",
    )
    assert (
        result["action"] == "push"
        and result["status"] == "start"
        and isinstance(result["message"], str)
    )
    for event in ("MC_Started", "MC_Succeeded"):
        frame = client.wait_for(
            lambda m, e=event: isinstance(m, dict) and m.get("sys") == ["mentalCommand", e]
        )
        assert frame["sid"] == session["id"]
    client.result(
        "training",
        cortexToken=client.token,
        session=session["id"],
        detection="mentalCommand",
        action="push",
        status="accept",
    )
    client.wait_for(
        lambda m: isinstance(m, dict) and m.get("sys") == ["mentalCommand", "MC_Completed"]
    )
