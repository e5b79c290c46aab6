"""Conformance of profiles, training and advanced BCI (cortex_api_more.md §A-B), from
the reference: result fields Emotiv's code reads, warnings 13/14/15, training events,
the profile-or-session rule, and codes (1.x table numbers where v2 lost them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def bci(sim_factory: Any, cortex_client: Any, tmp_path: Path) -> Any:
    sim = sim_factory(headsets=["insight:status=connected"], state_dir=tmp_path,
                      training_duration_s=0.2)  # fmt: skip
    client = cortex_client(sim)
    hid = client.result("queryHeadsets")[0]["id"]
    session = client.open_session(hid)
    client.result("subscribe", cortexToken=client.token, session=session["id"], streams=["sys"])
    return sim, client, hid, session["id"]


def _setup(client: Any, hid: str, status: str, profile: str, **extra: Any) -> Any:
    return client.request("setupProfile", {"cortexToken": client.token, "headset": hid,
                                           "profile": profile, "status": status, **extra})  # fmt: skip


def _train(
    client: Any, sid: str, action: str, status: str, detection: str = "mentalCommand"
) -> Any:
    return client.request("training", {"cortexToken": client.token, "session": sid,
                                       "detection": detection, "action": action,
                                       "status": status})  # fmt: skip


def _sys(client: Any, event: str, timeout: float = 5.0) -> Any:
    return client.wait_for(lambda m: isinstance(m, dict) and m.get("sys", [None, None])[1] == event,
                           timeout)  # fmt: skip


def test_profile_lifecycle(bci: Any) -> None:
    """§A.1-A.3: queryProfile [{uuid,name,readOnly,eegChannels}]; getCurrentProfile name
    null -> load (warning 13) -> {name, loadedByThisApp}; setupProfile results echo
    ``action``; unload -> 14; double load -32044, unload with none -32045 (seed 001)."""
    _, client, hid, _ = bci
    assert client.result("queryProfile", cortexToken=client.token) == []
    created = _setup(client, hid, "create", "p1")["result"]
    assert created["action"] == "create" and created["name"] == "p1"
    (prof,) = client.result("queryProfile", cortexToken=client.token)
    assert {"uuid", "name", "readOnly", "eegChannels"} <= set(prof) and prof["readOnly"] is False
    assert prof["eegChannels"] == ["AF3", "T7", "Pz", "T8", "AF4"]
    assert _setup(client, hid, "create", "p1")["error"]["code"] == -32031
    current = client.result("getCurrentProfile", cortexToken=client.token, headset=hid)
    assert current["name"] is None
    assert _setup(client, hid, "load", "p1")["result"]["action"] == "load"
    w13 = client.wait_warning(13)["warning"]["message"]
    assert w13 == {"behavior": "Profile is loaded", "headset": hid, "profile": "p1"}
    current = client.result("getCurrentProfile", cortexToken=client.token, headset=hid)
    assert current["name"] == "p1" and current["loadedByThisApp"] is True
    assert _setup(client, hid, "load", "p1")["error"]["code"] == -32044
    assert _setup(client, hid, "save", "")["result"]["action"] == "save"
    assert _setup(client, hid, "unload", "")["result"]["action"] == "unload"
    assert client.wait_warning(14)["warning"]["message"]["profile"] == "p1"
    assert _setup(client, hid, "unload", "")["error"]["code"] == -32045
    renamed = _setup(client, hid, "rename", "p1", newProfileName="p2")["result"]
    assert renamed["action"] == "rename"
    assert [p["name"] for p in client.result("queryProfile", cortexToken=client.token)] == ["p2"]
    assert _setup(client, hid, "delete", "p2")["result"]["action"] == "delete"
    assert _setup(client, hid, "load", "p2")["error"]["code"] == -32031


def test_profiles_persist_per_user(bci: Any, sim_factory: Any, cortex_client: Any,
                                   tmp_path: Path) -> None:  # fmt: skip
    """D:bci: "a persistent object that stores training data"."""
    sim, client, hid, _ = bci
    _setup(client, hid, "create", "kept")
    sim.stop()
    again = cortex_client(sim_factory(state_dir=tmp_path))
    again.authorize()
    assert [p["name"] for p in again.result("queryProfile", cortexToken=again.token)] == ["kept"]


def test_training_needs_a_loaded_profile(bci: Any) -> None:
    """D:bci: mental command needs a loaded profile; FE trains only neutral, surprise,
    frown, smile, clench (-32037 "Training for this action is not supported", seed 001)."""
    _, client, hid, sid = bci
    assert _train(client, sid, "push", "start")["error"]["code"] == -32045
    _setup(client, hid, "create", "t")
    _setup(client, hid, "load", "t")
    assert _train(client, sid, "blink", "start", "facialExpression")["error"]["code"] == -32037
    assert _train(client, sid, "push", "accept")["error"]["code"] == -32602  # nothing succeeded
    assert _train(client, sid, "push", "bogus")["error"]["code"] == -32602


def test_training_success_feeds_the_profile_and_com(bci: Any) -> None:
    """§B.2: start -> Started, Succeeded; accept -> Completed and the action is trained
    (getTrainedSignatureActions); the com stream then detects only trained actions."""
    _, client, hid, sid = bci
    _setup(client, hid, "create", "t")
    _setup(client, hid, "load", "t")
    for action in ("neutral", "push"):
        answer = _train(client, sid, action, "start")["result"]
        assert answer["action"] == action and answer["status"] == "start" and answer["message"]
        _sys(client, "MC_Started")
        _sys(client, "MC_Succeeded")
        _train(client, sid, action, "accept")
        _sys(client, "MC_Completed")
        client.inbox.clear()
    trained = client.result("getTrainedSignatureActions", cortexToken=client.token,
                            detection="mentalCommand", session=sid)  # fmt: skip
    assert trained["totalTimesTraining"] == 2
    assert {a["action"]: a["times"] for a in trained["trainedActions"]} == {"neutral": 1, "push": 1}
    assert client.result("mentalCommandActiveAction", cortexToken=client.token, status="get",
                         session=sid) == ["push"]  # fmt: skip
    client.result("subscribe", cortexToken=client.token, session=sid, streams=["com"])
    client.pump(3.0)
    actions = {m["com"][0] for _, m in client.frames("com")}
    assert actions <= {"neutral", "push"} and actions
    # by name, the profile on disk has no training until it is saved
    on_disk = client.result("getTrainedSignatureActions", cortexToken=client.token,
                            detection="mentalCommand", profile="t")  # fmt: skip
    assert on_disk["totalTimesTraining"] == 0
    _setup(client, hid, "save", "")
    on_disk = client.result("getTrainedSignatureActions", cortexToken=client.token,
                            detection="mentalCommand", profile="t")  # fmt: skip
    assert on_disk["totalTimesTraining"] == 2


def test_training_can_fail_and_be_rejected(sim_factory: Any, cortex_client: Any) -> None:
    """§B.2: Failed ("poor quality, you must start over"); reject -> Rejected; erase ->
    DataErased; reset -> Reset."""
    sim = sim_factory(headsets=["insight:status=connected"], training_duration_s=0.2,
                      training_outcomes=("failed", "succeeded"))  # fmt: skip
    client = cortex_client(sim)
    hid = client.result("queryHeadsets")[0]["id"]
    sid = client.open_session(hid)["id"]
    client.result("subscribe", cortexToken=client.token, session=sid, streams=["sys"])
    _setup(client, hid, "create", "t")
    _setup(client, hid, "load", "t")
    _train(client, sid, "smile", "start", "facialExpression")
    _sys(client, "FE_Failed")
    assert _train(client, sid, "smile", "accept", "facialExpression")["error"]["code"] == -32602
    _train(client, sid, "smile", "reject", "facialExpression")
    _sys(client, "FE_Rejected")
    _train(client, sid, "smile", "start", "facialExpression")
    _sys(client, "FE_Succeeded")
    _train(client, sid, "smile", "accept", "facialExpression")
    _sys(client, "FE_Completed")
    _train(client, sid, "smile", "erase", "facialExpression")
    _sys(client, "FE_DataErased")
    _train(client, sid, "frown", "reset", "facialExpression")
    _sys(client, "FE_Reset")
    trained = client.result("getTrainedSignatureActions", cortexToken=client.token,
                            detection="facialExpression", session=sid)  # fmt: skip
    assert trained["trainedActions"] == []


def test_advanced_bci_shapes(bci: Any) -> None:
    """§B.4-B.10: getTrainingTime {detection, time}; sensitivity get = 4 integers, set =
    not an array (E live_advance.py tells them apart); brain map one object per trained
    action; threshold {currentThreshold, lastTrainingScore}; profile or session (B.9)."""
    _, client, hid, sid = bci
    _setup(client, hid, "create", "a")
    _setup(client, hid, "load", "a")
    tok = client.token
    assert client.result("getTrainingTime", cortexToken=tok, detection="mentalCommand",
                         session=sid) == {"detection": "mentalCommand", "time": 0.2}  # fmt: skip
    values = client.result("mentalCommandActionSensitivity", cortexToken=tok, profile="a",
                           status="get")  # fmt: skip
    assert isinstance(values, list) and len(values) == 4 and all(1 <= v <= 10 for v in values)
    done = client.result("mentalCommandActionSensitivity", cortexToken=tok, profile="a",
                         session=sid, status="set", values=[7, 7, 5, 5])  # fmt: skip
    assert not isinstance(done, list)
    assert client.error("mentalCommandActionSensitivity", cortexToken=tok, session=sid,
                        status="set", values=[11])["code"] == -32602  # fmt: skip
    assert client.error("mentalCommandActiveAction", cortexToken=tok, profile="a",
                        status="set", actions=["push"])["code"] == -32018  # fmt: skip
    client.result("mentalCommandActiveAction", cortexToken=tok, session=sid, status="set",
                  actions=["push", "pull"])  # fmt: skip
    threshold = client.result("mentalCommandTrainingThreshold", cortexToken=tok, session=sid)
    assert set(threshold) == {"currentThreshold", "lastTrainingScore"}
    assert isinstance(client.result("mentalCommandBrainMap", cortexToken=tok, profile="a",
                                    session=sid), list)  # fmt: skip
    assert "rate" in client.result("mentalCommandGetSkillRating", cortexToken=tok, session=sid)
    sig = client.result("facialExpressionSignatureType", cortexToken=tok, status="get",
                        session=sid)  # fmt: skip
    assert sig["currentSig"] == "universal"
    th = client.result("facialExpressionThreshold", cortexToken=tok, status="set", action="smile",
                       session=sid, value=300)  # fmt: skip
    assert th["currentThreshold"] == 300
    assert client.error("mentalCommandBrainMap", cortexToken=tok)["code"] == -32018
    assert client.error("mentalCommandBrainMap", cortexToken=tok, profile="nope")["code"] == -32031


def test_guest_profile_and_auto_unload_warning_15(bci: Any) -> None:
    """§A.4 loadGuestProfile [U shape]; warning 15 when Cortex unloads the profile
    because the headset disconnected (D:warning-objects)."""
    _, client, hid, _ = bci
    result = client.result("loadGuestProfile", cortexToken=client.token, headset=hid)
    assert result["name"] == "Guest"
    assert client.wait_warning(13)["warning"]["message"]["profile"] == "Guest"
    client.result("controlDevice", command="disconnect", headset=hid)
    w15 = client.wait_warning(15)["warning"]["message"]
    assert w15["behavior"] == "Cortex has unloaded the profile" and w15["headset"] == hid
    current = client.result("getCurrentProfile", cortexToken=client.token, headset=hid)
    assert current["name"] is None
