"""Conformance of subjects, account and headset methods (cortex_api_more.md §D-E,
cortex_api.md §3.3-3.5), the documented real-Cortex quirks (issue 15's list) and the
warning table (cortex_api_more.md §F), from the reference.
"""

from __future__ import annotations

from typing import Any

import pytest

# Every warning code cortex_api_more.md §F lists (docs and Emotiv's code), 31 excepted:
# it arrives as an ``attention`` object, not a warning.
DOCUMENTED_WARNINGS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                       20, 21, 22, 23, 26, 28, 30, 100, 101, 102, 103, 104, 110, 111, 112, 113,
                       142)  # fmt: skip


def _client(sim_factory: Any, cortex_client: Any, **cfg: Any) -> Any:
    client = cortex_client(sim_factory(**cfg))
    return client


def test_subjects(sim_factory: Any, cortex_client: Any) -> None:
    """§D.1: createSubject (subjectName <= 30 chars, sex M/F/U, dateOfBirth YYYY-MM-DD)
    returns the subject; update/query/delete mirror it [U shapes]."""
    client = _client(sim_factory, cortex_client)
    tok = client.authorize()
    subject = client.result("createSubject", cortexToken=tok, subjectName="s1", sex="F",
                            dateOfBirth="1990-02-03", countryCode="FR")  # fmt: skip
    assert subject["subjectName"] == "s1" and subject["sex"] == "F"
    assert client.error("createSubject", cortexToken=tok, subjectName="x" * 31)["code"] == -32602
    assert (
        client.error("createSubject", cortexToken=tok, subjectName="s2", sex="X")["code"] == -32602
    )
    assert (
        client.result("updateSubject", cortexToken=tok, subjectName="s1", city="Lyon")["city"]
        == "Lyon"
    )
    found = client.result("querySubjects", cortexToken=tok, query={},
                          orderBy=[{"subjectName": "ASC"}])  # fmt: skip
    assert found["count"] == 1 and found["subjects"][0]["subjectName"] == "s1"
    gone = client.result("deleteSubjects", cortexToken=tok, subjects=["s1", "nope"])
    assert (
        gone["success"] == [{"subjectName": "s1"}] and gone["failure"][0]["subjectName"] == "nope"
    )
    attrs = client.result("getDemographicAttributes", cortexToken=tok)
    assert all({"name", "value"} <= set(a) for a in attrs)
    assert client.result("getUserInformation", cortexToken=tok)["username"]


def test_update_headset_then_warning_110_or_111(sim_factory: Any, cortex_client: Any) -> None:
    """§3.5: the answer {headsetId, message} only means "in progress"; 110 success, 111
    failure follow. updateHeadsetCustomInfo -> {customName, headbandPosition, headsetId,
    message}."""
    client = _client(sim_factory, cortex_client, headsets=["epocx:status=connected"])
    tok = client.authorize()
    hid = client.result("queryHeadsets")[0]["id"]
    answer = client.result("updateHeadset", cortexToken=tok, headset=hid,
                           setting={"mode": "EPOCPLUS", "eegRate": 256, "memsRate": 64})  # fmt: skip
    assert set(answer) == {"headsetId", "message"}
    client.wait_warning(110, timeout=5)
    assert client.result("queryHeadsets")[0]["settings"]["eegRate"] == 256
    client.result("updateHeadset", cortexToken=tok, headset=hid,
                  setting={"mode": "EPOCPLUS", "eegRate": 512, "memsRate": 64})  # fmt: skip
    client.wait_warning(111, timeout=5)
    info = client.result("updateHeadsetCustomInfo", cortexToken=tok, headsetId=hid,
                         headbandPosition="top")  # fmt: skip
    assert set(info) == {"customName", "headbandPosition", "headsetId", "message"}
    assert client.result("queryHeadsets")[0]["headbandPosition"] == "top"


def test_config_mapping(sim_factory: Any, cortex_client: Any) -> None:
    """§3.3 configMapping create|get|read|update|delete with the docs' messages."""
    client = _client(sim_factory, cortex_client, headsets=["flex"])
    tok = client.authorize()
    mappings = {"CMS": "TP8", "DRL": "P6", "RM": "TP10", "RN": "P4", "RO": "P8"}
    made = client.result("configMapping", cortexToken=tok, status="create", name="config1",
                         mappings=mappings)  # fmt: skip
    assert made["message"] == "Create flex mapping config successful"
    assert set(made["value"]) == {"label", "mappings", "name", "uuid"}
    uuid = made["value"]["uuid"]
    assert client.result("configMapping", cortexToken=tok, status="get")["value"][0]["uuid"] == uuid
    assert (
        client.result("configMapping", cortexToken=tok, status="read", uuid=uuid)["value"]["name"]
        == "config1"
    )
    client.result("configMapping", cortexToken=tok, status="update", uuid=uuid, name="c2")
    client.result("configMapping", cortexToken=tok, status="delete", uuid=uuid)
    assert client.error("configMapping", cortexToken=tok, status="create", name="x",
                        mappings={"CMS": "Cz"})["code"] == -32602  # fmt: skip


def test_unknown_parameter_is_32602_and_unknown_method_logged(
    sim_factory: Any, cortex_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """D:error-codes: -32602 for an invalid parameter *name*; -32601 for a method."""
    sim = sim_factory()
    client = cortex_client(sim)
    err = client.error("getCortexInfo", colour="blue")
    assert err["code"] == -32602
    assert client.error("noSuchMethod")["code"] == -32601
    assert sim.state()["unknownMethods"] == {"noSuchMethod": 1}


def test_quirk_create_session_answers_empty_object(sim_factory: Any, cortex_client: Any) -> None:
    """Seed 000: the docs' createSession example answers {} for status active."""
    client = _client(sim_factory, cortex_client, headsets=["epocx:status=connected"],
                     quirks=["session-empty-result"])  # fmt: skip
    hid = client.result("queryHeadsets")[0]["id"]
    assert client.open_session(hid) == {}
    (session,) = client.result("querySessions", cortexToken=client.token)
    assert session["status"] == "activated"


def test_quirk_usb_headset_listed_first(sim_factory: Any, cortex_client: Any) -> None:
    """D:createsession: "You cannot open a session with a headset connected by a USB
    cable"; such a headset is listed (connectedBy "usb cable")."""
    client = _client(sim_factory, cortex_client, headsets=["insight:status=connected"],
                     quirks=["usb-headset"])  # fmt: skip
    usb, other = client.result("queryHeadsets")
    assert usb["connectedBy"] == "usb cable" and usb["status"] == "connected"
    tok = client.authorize()
    assert (
        client.error("createSession", cortexToken=tok, headset=usb["id"], status="open")["code"]
        == -32004
    )
    assert client.result("createSession", cortexToken=tok, headset=other["id"], status="open")


@pytest.mark.parametrize(("quirk", "code"), [("logged-out", -32033), ("licence-expired", -32024)])
def test_quirk_authorize_refusals(
    sim_factory: Any, cortex_client: Any, quirk: str, code: int
) -> None:
    client = _client(sim_factory, cortex_client, quirks=[quirk])
    err = client.error("authorize", clientId="cortex-bridge-demo",
                       clientSecret="cortex-bridge-demo-secret")  # fmt: skip
    assert err["code"] == code
    if quirk == "logged-out":
        assert client.result("getUserLogin") == []


def test_quirk_eula_not_accepted(sim_factory: Any, cortex_client: Any) -> None:
    """D:authorize: result.warning "Contains a message and the URL to accept the EULA"
    (code 6 in Emotiv's Unity plugin); -32041 EULA not accepted; warning 17 on accept."""
    client = _client(sim_factory, cortex_client, headsets=["insight:status=connected"],
                     quirks=["eula-not-accepted"], control=True)  # fmt: skip
    result = client.result("authorize", clientId="cortex-bridge-demo",
                           clientSecret="cortex-bridge-demo-secret")  # fmt: skip
    assert result["warning"]["code"] == 6 and result["warning"]["message"]
    tok, hid = result["cortexToken"], client.result("queryHeadsets")[0]["id"]
    assert (
        client.error("createSession", cortexToken=tok, headset=hid, status="open")["code"] == -32041
    )
    client.result("simulator.fault", kind="accept_eula")
    client.wait_warning(17)
    assert client.result("createSession", cortexToken=tok, headset=hid, status="open")


def test_quirk_no_eeg_licence_and_expiring(sim_factory: Any, cortex_client: Any) -> None:
    client = _client(sim_factory, cortex_client, headsets=["insight:status=connected"],
                     quirks=["no-eeg-licence", "licence-expiring"])  # fmt: skip
    hid = client.result("queryHeadsets")[0]["id"]
    session = client.open_session(hid)
    client.wait_warning(26)
    result = client.result("subscribe", cortexToken=client.token, session=session["id"],
                           streams=["eeg", "met"])  # fmt: skip
    assert [f["code"] for f in result["failure"]] == [-32016]
    assert [s["streamName"] for s in result["success"]] == ["met"]


@pytest.mark.parametrize("code", DOCUMENTED_WARNINGS)
def test_every_documented_warning_can_be_produced(sim: Any, cortex_client: Any, code: int) -> None:
    """§F: {"jsonrpc":"2.0","warning":{"code":N,"message":string|object}}."""
    client = cortex_client(sim)
    client.result("simulator.fault", kind="warning", code=code)
    w = client.wait_warning(code)
    assert w["jsonrpc"] == "2.0" and isinstance(w["warning"]["message"], str | dict)


@pytest.fixture(scope="module")
def sim(cortex_test_client_class: Any, fast_sim_settings: dict[str, Any]) -> Any:
    from bridge.simulator import SimulatorConfig, SimulatorThread

    thread = SimulatorThread(SimulatorConfig(**{**fast_sim_settings, "control": True})).start()
    yield thread
    thread.stop()


def test_v1_dongle_headset_starts_connected(sim_factory: Any, cortex_client: Any) -> None:
    """Cortex 1.x (seed 001): a dongle headset is connected; Bluetooth ones are pending."""
    client = _client(sim_factory, cortex_client, dialect="v1", headsets=["epocx", "insight"])
    statuses = {h["id"].split("-")[0]: h["status"] for h in client.result("queryHeadsets")}
    assert statuses == {"EPOCX": "connected", "INSIGHT": "pending"}
