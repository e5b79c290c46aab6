"""Conformance of the simulator's Cortex 1.x dialect (``--dialect v1``), written from the
seed page ``001`` (the 1.x API docs) with a plain JSON-RPC client over real TLS.

Where the seed page contradicts itself the tests follow its examples (as the simulator
does); the [U] choices are listed in ``docs/simulator.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from bridge.simulator import SimulatorThread
from bridge.simulator.cli import add_arguments, config_from_args

CLIENT_ID = "cortex-bridge-demo"
CLIENT_SECRET = "cortex-bridge-demo-secret"
USER = "cortex-bridge-user"

Client = Any


@pytest.fixture
def v1(sim_factory: Callable[..., SimulatorThread]) -> Callable[..., SimulatorThread]:
    def make(**overrides: Any) -> SimulatorThread:
        overrides.setdefault("headsets", ["insight:id=INSIGHT-5A685AE3"])
        return sim_factory(dialect="v1", control=True, **overrides)

    return make


def auth(client: Client) -> str:
    token: str = client.result("authorize", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)[
        "_auth"
    ]
    client.token = token
    return token


def connected_session(client: Client, headset: str = "INSIGHT-5A685AE3", **params: Any) -> Any:
    token = client.token or auth(client)
    client.result("controlBluetoothHeadset", command="connect", headset=headset)
    return client.result("createSession", _auth=token, headset=headset, **params)


def test_auth_login_logout_and_tokens(
    v1: Callable[..., SimulatorThread], cortex_client: Any
) -> None:
    client = cortex_client(v1())
    assert client.result("getUserLogin") == [USER]
    # No getCortexInfo in 1.x: -32601, worded as in the 1.x error table.
    err = client.error("getCortexInfo")
    assert err["code"] == -32601
    assert err["message"] == "The method does not exist / is not available."
    anonymous = client.result("authorize")["_auth"]
    assert isinstance(anonymous, str) and anonymous
    token = auth(client)
    assert client.error("authorize", client_id=CLIENT_ID, client_secret="wrong")["code"] == -32021
    assert client.error("authorize", client_secret=CLIENT_SECRET)["code"] == -32023
    # generateNewToken {token} -> {_auth}; "Both old token and new token can use".
    new = client.result("generateNewToken", token=token)["_auth"]
    assert new != token or new == token  # same second may give the same JWT
    assert client.result("querySessions", _auth=token) == []
    assert client.result("querySessions", _auth=new) == []
    bad = client.error("querySessions", _auth="garbage")
    assert (bad["code"], bad["message"]) == (-32014, "Invalid auth token.")
    missing = client.error("querySessions")
    assert (missing["code"], missing["message"]) == (-32018, "Missing required parameters.")
    # logout / login
    assert client.error("logout", username="somebody-else")["code"] == -32035
    assert isinstance(client.result("logout", username=USER), str)
    assert client.result("getUserLogin") == []
    assert (
        client.error("authorize", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)["code"]
        == -32033
    )
    # The token of a user who logged out no longer fits (-32034).
    assert client.error("querySessions", _auth=token)["code"] == -32034
    login = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "password": "pw"}
    assert client.error("login", username="nobody", **login)["code"] == -32001
    assert isinstance(client.result("login", username=USER, **login), str)
    assert client.error("login", username="nobody", **login)["code"] == -32032
    assert client.result("getUserLogin") == [USER]
    auth(client)


def test_eula_must_be_accepted(v1: Callable[..., SimulatorThread], cortex_client: Any) -> None:
    client = cortex_client(v1(eula_accepted=False))
    token = auth(client)
    client.result("controlBluetoothHeadset", command="connect", headset="INSIGHT-5A685AE3")
    assert client.error("createSession", _auth=token, status="open")["code"] == -32041
    new = client.result("acceptLicense", _auth=token)["_auth"]
    session = client.result("createSession", _auth=new, status="open")
    assert session["status"] == "opened"


def test_headsets_and_sessions(v1: Callable[..., SimulatorThread], cortex_client: Any) -> None:
    sim = v1()
    client = cortex_client(sim)
    token = auth(client)
    (headset,) = client.result("queryHeadsets")
    assert headset["status"] == "pending" and headset["sensors"] == []
    assert set(headset) == {
        "connectedBy", "dongle", "firmware", "id", "label", "sensors", "settings", "status",
    }  # fmt: skip
    assert client.result("queryHeadsets", id="EPOC-*") == []
    assert client.result("queryHeadsets", id="INSIGHT-*")[0]["id"] == "INSIGHT-5A685AE3"
    assert client.error("createSession", _auth=token, status="open")["code"] == -32004
    answer = client.result("controlBluetoothHeadset", command="connect", headset="INSIGHT-5A685AE3")
    assert answer == "Connect headset INSIGHT-5A685AE3 success"
    assert client.result("queryHeadsets")[0]["status"] == "connected"
    assert client.error("createSession", _auth=token, status="bogus")["code"] == -32013
    session = client.result(
        "createSession", _auth=token, status="active", project="Test Cortex", title="test1",
        subject="cuong",
    )  # fmt: skip
    assert session["status"] == "activated"
    assert (session["project"], session["title"], session["subject"]) == (
        "Test Cortex", "test1", "cuong",
    )  # fmt: skip
    assert session["headset"]["id"] == "INSIGHT-5A685AE3"
    assert session["recording"] is False and session["logs"] == {"recordInfos": []}
    assert session["owner"] == USER and session["markers"] == [] and session["tags"] == []
    sid = session["id"]
    # One session per headset on one connection (-32005); another connection may.
    assert client.error("createSession", _auth=token, status="open")["code"] == -32005
    other = cortex_client(sim)
    anon = other.result("authorize")["_auth"]
    assert other.error("createSession", _auth=anon, status="active")["code"] == -32006
    assert other.result("createSession", _auth=anon, status="open")["owner"] == "Basic"
    # updateSession: tags, records (session is optional: the first one not closed).
    tagged = client.result("updateSession", _auth=token, status="addTags", tags=["a", "b"])
    assert tagged["id"] == sid and tagged["tags"] == ["a", "b"]
    assert client.result("updateSession", _auth=token, status="removeTags", tags=["a"])["tags"] == [
        "b"
    ]
    rec = client.result(
        "updateSession", _auth=token, session=sid, status="startRecord", recordingName="demo",
        recordingNote="test1", recordingSubject="sub 1",
    )  # fmt: skip
    assert rec["recording"] is True
    (info,) = rec["logs"]["recordInfos"]
    assert (info["name"], info["notes"], info["subject"]) == ("demo", "test1", "sub 1")
    assert info["stopMarkerRecording"] == ""
    assert rec["markers"][0]["port"] == "EmotivProRecording"
    assert rec["markers"][0]["enums"] == ["record-1"]
    assert client.error("updateSession", _auth=token, status="startRecord")["code"] == -32017
    stopped = client.result("updateSession", _auth=token, status="stopRecord")
    assert stopped["recording"] is False
    assert stopped["logs"]["recordInfos"][0]["stopMarkerRecording"]
    assert stopped["markers"][0]["events"][-1][1] == -1
    assert client.error("updateSession", _auth=token, status="stopRecord")["code"] == -32011
    record_id = info["recordId"]
    noted = client.result("updateNote", _auth=token, session=sid, note="new", record=record_id)
    assert noted["logs"]["recordInfos"][0]["notes"] == "new"
    assert [
        s["id"] for s in client.result("querySessions", _auth=token, query={"status": "activated"})
    ] == [sid]
    closed = client.result("updateSession", _auth=token, session=sid, status="close")
    assert closed["status"] == "closed" and closed["stopped"]
    assert client.error("subscribe", _auth=token, session=sid, streams=["mot"])["code"] == -32008
    assert client.error("subscribe", _auth=token, session="nope", streams=["mot"])["code"] == -32007
    truth = sim.state()
    assert truth["dialect"] == "v1"
    assert {s["id"]: s["closedBy"] for s in truth["sessions"]}[sid] == "client"


def test_subscribe_columns_frames_and_time_since_start(
    v1: Callable[..., SimulatorThread], cortex_client: Any
) -> None:
    sim = v1()
    client = cortex_client(sim)
    session = connected_session(client, status="open")
    token, sid = client.token, session["id"]
    err = client.error("subscribe", _auth=token, session=sid, streams=["mot", "eeg"])
    assert err["code"] == -32012  # raw EEG needs an activated session; nothing subscribed
    assert client.error("subscribe", _auth=token, streams=["eq"])["code"] == -32016
    result = client.result("subscribe", _auth=token, streams=["mot", "dev", "pow", "met"])
    assert [next(k for k in item if k != "sid") for item in result] == ["mot", "dev", "pow", "met"]
    assert all(item["sid"] == sid for item in result)
    cols = {k: v["cols"] for item in result for k, v in item.items() if k != "sid"}
    assert cols["mot"][:2] == ["IMD_COUNTER", "IMD_GYROX"] and len(cols["mot"]) == 10
    assert cols["dev"] == [
        "Battery",
        "Signal",
        [f"IEE_CHAN_{x}" for x in ("AF3", "T7", "Pz", "T8", "AF4")],
    ]
    assert cols["pow"][0] == "IED_AF3/theta" and len(cols["pow"]) == 25
    assert cols["met"] == ["int", "str", "rel", "exc", "eng", "lex", "foc"]
    assert client.error("subscribe", _auth=token, streams=["mot"])["code"] == -32016  # already
    client.result("updateSession", _auth=token, status="active")
    (eeg,) = client.result("subscribe", _auth=token, streams=["eeg"])
    assert eeg["eeg"]["cols"] == [
        "IED_COUNTER", "IED_INTERPOLATED", "IED_RAW_CQ", "IED_AF3", "IED_T7", "IED_Pz",
        "IED_T8", "IED_AF4", "IEE_MARKER_HARDWARE", "IEE_MARKER",
    ]  # fmt: skip
    client.pump(1.0)
    frames = [m for _, m in client.frames("eeg", sid)]
    assert len(frames) > 64
    truth = sim.state()
    start = truth["cortexStart"]["monotonic"]
    anchor = truth["headsets"][0]["clock"]["monotonicAnchor"]
    for frame in frames:
        values, t = frame["eeg"], frame["time"]
        assert len(values) == 10 and values[-2:] == [0, 0]
        k = round((t - (anchor - start)) * 128)
        assert values[0] == k % 128  # time = seconds since Cortex start of sample k
        assert abs(t - (anchor - start + k / 128)) < 1e-9
        assert 0 < t < 600
    mot = [m for _, m in client.frames("mot", sid)]
    assert mot and len(mot[0]["mot"]) == 10
    dev = [m for _, m in client.frames("dev", sid)]
    assert dev and len(dev[0]["dev"]) == 3 and len(dev[0]["dev"][2]) == 5
    assert all("warning" not in m for _, m in client.inbox if isinstance(m, dict))
    answer = client.result("unsubscribe", _auth=token, streams=["mot"])
    assert answer == [{"message": f"Unsubscribe stream mot with session {sid} success"}]
    assert client.error("unsubscribe", _auth=token, streams=["mot"])["code"] == -32016


def test_inject_marker_numeric_columns(
    v1: Callable[..., SimulatorThread], cortex_client: Any
) -> None:
    sim = v1()
    client = cortex_client(sim)
    session = connected_session(client, status="active")
    token, sid = client.token, session["id"]
    client.result("subscribe", _auth=token, streams=["eeg"])
    client.pump(0.3)
    now = sim.state()["now"]["epoch"]
    sent = [
        ("A", "start", "USB", 1, 1),  # 1st type A "start": enums [start] -> 1, hardware 1
        ("A", "stop", "USB", 2, 1),  # 2nd type A "stop": enums [start, stop] -> 2, hardware 1
        ("B", "test", "Serial port", 1, 2),  # type B: its own enums -> 1, hardware 2
        ("C", 42, None, 42, 3),  # numeric value as is
    ]
    result = None
    for i, (label, value, port, _, _) in enumerate(sent):
        params: dict[str, Any] = {"_auth": token, "label": label, "value": value,
                                  "time": (now + 0.1 * i) * 1000}  # fmt: skip
        if port:
            params["port"] = port
        result = client.result("injectMarker", **params)
    assert result is not None and result["id"] == sid  # the session object
    types = {m["label"]: m for m in result["markers"]}
    assert types["A"]["enums"] == ["start", "stop"] and types["A"]["code"] == 1
    assert types["B"]["code"] == 2 and types["C"]["port"] == "Software"
    assert [e[1] for e in types["A"]["events"]] == [1, 2]
    client.pump(0.8)
    marked = [m["eeg"][-2:] for _, m in client.frames("eeg", sid) if m["eeg"][-1] != 0]
    assert marked == [[hw, val] for _, _, _, val, hw in sent]
    truth = sim.state()["headsets"][0]["markers"]
    assert [(m["code"], m["wireValue"]) for m in truth] == [(hw, val) for *_, val, hw in sent]
    assert all(m["sentIndex"] is not None and m["sentIndex"] >= m["sampleIndex"] for m in truth)


def test_training_detection_info_and_profiles(
    v1: Callable[..., SimulatorThread], cortex_client: Any
) -> None:
    client = cortex_client(v1())
    info = client.result("getDetectionInfo", detection="mentalCommand")
    assert info["actions"][:2] == ["neutral", "push"] and "MC_NoEvent" in info["events"]
    assert info["controls"] == ["start", "accept", "reject", "erase", "reset"]
    session = connected_session(client, status="open")
    token, sid = client.token, session["id"]
    (sys_sub,) = client.result("subscribe", _auth=token, streams=["sys"])
    assert sys_sub == {"sid": sid, "sys": {"cols": ["event", "msg"]}}
    answer = client.result(
        "training", _auth=token, detection="mentalCommand", session=sid, action="neutral",
        status="start",
    )  # fmt: skip
    assert answer == "Set up training successfully for action neutral with status start"
    started = client.wait_for(lambda m: isinstance(m, dict) and "sys" in m)
    assert started == {"sid": sid, "sys": ["Mental Command", "MC_Started"]}  # no time
    client.wait_for(
        lambda m: isinstance(m, dict) and m.get("sys") == ["Mental Command", "MC_Succeeded"]
    )
    err = client.error("training", _auth=token, detection="facialExpression", action="blink",
                       status="start")  # fmt: skip
    assert err["code"] == -32037
    assert client.result("queryProfile", _auth=token) == []
    hs = "INSIGHT-5A685AE3"
    assert client.result("setupProfile", _auth=token, headset=hs, profile="test",
                         status="create") == "create profile test successfully"  # fmt: skip
    assert client.error("setupProfile", _auth=token, headset=hs, profile="test",
                        status="create")["code"] == -32031  # fmt: skip
    client.result("setupProfile", _auth=token, headset=hs, profile="test", status="load")
    assert client.result("querySessions", _auth=token)[0]["profile"] == "test"
    assert client.result("queryProfile", _auth=token) == ["test"]
    client.result("setupProfile", _auth=token, headset=hs, profile="test", status="delete")
    assert client.error("setupProfile", _auth=token, headset=hs, profile="test",
                        status="load")["code"] == -32031  # fmt: skip


def test_truth_has_the_v2_shape(
    v1: Callable[..., SimulatorThread], sim_factory: Callable[..., SimulatorThread]
) -> None:
    old = v1().state()
    new = sim_factory(headsets=["insight"]).state()
    assert set(new) <= set(old)
    assert set(new["headsets"][0]) == set(old["headsets"][0])
    assert set(old) - set(new) >= {"dialect", "cortexStart"}


def test_cli_dialect_and_default_port() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--dialect", "v1"])).port == 54321
    assert config_from_args(parser.parse_args([])).port == 6868
    cfg = config_from_args(parser.parse_args(["--dialect", "v1", "--port", "0"]))
    assert (cfg.port, cfg.dialect) == (0, "v1")
    with pytest.raises(SystemExit):
        parser.parse_args(["--dialect", "v3"])


def test_a_token_outlives_a_restart_with_the_same_seed(
    v1: Callable[..., SimulatorThread], cortex_client: Any
) -> None:
    """As in v2, a token is checked by its signature, so a Cortex restarted with the same
    seed still takes it, and still knows whose it is: an app's token activates sessions,
    an anonymous one does not (-32006)."""
    before = cortex_client(v1())
    token = auth(before)
    anonymous = before.result("authorize")["_auth"]
    after = v1()  # same seed (sim_factory), fresh memory
    client = cortex_client(after)
    client.token = token
    session = connected_session(client, status="active")
    assert (session["status"], session["owner"]) == ("activated", USER)
    renewed = client.result("generateNewToken", token=token)["_auth"]
    assert client.result("querySessions", _auth=renewed)[0]["id"] == session["id"]
    other = cortex_client(after)
    err = other.error("createSession", _auth=anonymous, headset="INSIGHT-5A685AE3",
                      status="active")
    assert err["code"] == -32006
    assert other.result("createSession", _auth=anonymous, headset="INSIGHT-5A685AE3",
                        status="open")["owner"] == "Basic"
