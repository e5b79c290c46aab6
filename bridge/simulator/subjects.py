"""Subjects, demographics, the user's account and headset settings (cortex_api_more.md
§D-E, cortex_api.md §3.3-3.5).

Subjects persist in the user's store like records. Only createSubject's parameters were
recovered from the docs; the other subject methods mirror it and queryRecords [U].
updateHeadset completes later with warning 110/111 (D); configMapping keeps EPOC Flex
mapping configurations per user (D:configmapping).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.simulator.device import STATUS_CONNECTED
from bridge.simulator.headsets import FLEX_LABELS
from bridge.simulator.jsonrpc import (
    TOKEN,
    Code,
    RpcError,
    anything,
    integer,
    obj,
    s,
    str_list,
)
from bridge.simulator.model import Call, iso
from bridge.simulator.spec import MethodSpec

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

SEXES = ("M", "F", "U")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# getDemographicAttributes [U]: attribute names and their allowed values.
DEMOGRAPHIC_ATTRIBUTES = (
    {"name": "Handedness", "value": ["Left", "Right", "Ambidextrous"]},
    {"name": "Education", "value": ["Primary", "Secondary", "Tertiary", "Postgraduate"]},
    {"name": "Occupation", "value": ["Student", "Employed", "Self-employed", "Retired", "Other"]},
)
SUBJECT_FIELDS = ("dateOfBirth", "sex", "countryCode", "state", "city", "attributes")


def _subject_fields(p: Mapping[str, Any]) -> dict[str, Any]:
    if p.get("sex") is not None and p["sex"] not in SEXES:
        raise RpcError(Code.INVALID_PARAMS, 'The sex must be "M", "F" or "U".')
    if p.get("dateOfBirth") is not None and not _DATE.match(p["dateOfBirth"]):
        raise RpcError(Code.INVALID_PARAMS, "The dateOfBirth must be YYYY-MM-DD.")
    if p.get("attributes") is not None and not all(
        isinstance(a, dict) and "name" in a and "value" in a for a in p["attributes"]
    ):
        raise RpcError(Code.INVALID_PARAMS, "attributes: objects with name and value.")
    return {k: p[k] for k in SUBJECT_FIELDS if p.get(k) is not None}


def _subject_name(p: Mapping[str, Any]) -> str:
    name = p["subjectName"]
    if not name or len(name) > 30:  # "Must be 30 characters or less" (D)
        raise RpcError(Code.INVALID_PARAMS, "The subjectName must have 1 to 30 characters.")
    return str(name)


def create_subject(svc: CortexService, call: Call) -> Any:
    name = _subject_name(call.params)
    if name in svc.store.subjects:
        raise RpcError(Code.INVALID_PARAMS, f"The subject {name} already exists.")  # [U]
    subject = {"subjectName": name, "dateOfBirth": "", "sex": "U", "countryCode": "",
               "state": "", "city": "", "attributes": [], "experimentsCount": 0}  # fmt: skip
    subject.update(_subject_fields(call.params))
    subject["modifiedDatetime"] = iso(svc.epoch_now())
    svc.store.subjects[name] = subject
    svc.store.save()
    return subject


def update_subject(svc: CortexService, call: Call) -> Any:
    name = _subject_name(call.params)
    subject = svc.store.subjects.get(name)
    if subject is None:
        raise RpcError(Code.INVALID_PARAMS, f"The subject {name} does not exist.")  # [U]
    subject.update(_subject_fields(call.params))
    subject["modifiedDatetime"] = iso(svc.epoch_now())
    svc.store.save()
    return subject


def delete_subjects(svc: CortexService, call: Call) -> Any:
    success, failure = [], []
    for name in call.params["subjects"]:
        if svc.store.subjects.pop(name, None) is None:
            failure.append({"code": Code.INVALID_PARAMS.value, "message": "No such subject.",
                            "subjectName": name})  # fmt: skip
        else:
            success.append({"subjectName": name})
    svc.store.save()
    return {"failure": failure, "success": success}


def query_subjects(svc: CortexService, call: Call) -> Any:
    """Mirrors queryRecords: ``query`` keys match fields exactly (``subjectName`` also
    as a substring via ``keyword``) [U]."""
    p = call.params
    query = dict(p["query"])
    keyword = str(query.pop("keyword", "")).lower()
    found = [
        dict(sub) for sub in svc.store.subjects.values()
        if all(sub.get(k) == v for k, v in query.items())
        and keyword in sub["subjectName"].lower()
    ]  # fmt: skip
    for order in reversed(p["orderBy"]):
        ((key, direction),) = dict(order).items()
        found.sort(key=lambda x: str(x.get(key, "")), reverse=str(direction).upper() == "DESC")
    offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 0)
    page = found[offset : offset + limit] if limit else found[offset:]
    return {"count": len(found), "limit": limit, "offset": offset, "subjects": page}


def get_demographic_attributes(svc: CortexService, call: Call) -> Any:
    return [dict(a, value=list(a["value"])) for a in DEMOGRAPHIC_ATTRIBUTES]


def get_user_information(svc: CortexService, call: Call) -> Any:
    """The EmotivID's profile [U fields beyond ``username``]."""
    return {
        "emotivId": svc.user_id,
        "firstName": "Cortex",
        "lastName": "Bridge",
        "email": f"{svc.cfg.username}@example.invalid",
        "username": svc.cfg.username,
        "lastLoginTime": iso(svc.started_epoch - 3600.0),
    }


# ---- headset settings ----------------------------------------------------------------


def update_headset(svc: CortexService, call: Call) -> Any:
    """EPOC+/EPOC X only; the answer means "in progress" and warning 110 (done) or 111
    (failed) follows; 112 when the setting cannot work over Bluetooth (D). Our rule for
    112: Bluetooth needs 128 Hz EEG and motion off (D updateheadset)."""
    h = svc.find_headset(call.params["headset"])
    if h is None or not h.listed or h.status != STATUS_CONNECTED:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE)
    setting = call.params["setting"]
    mode = setting.get("mode", h.model.mode)
    eeg = setting.get("eegRate", h.eeg_rate)
    mems = setting.get("memsRate", h.mems_rate)
    if h.model.mode != "EPOCPLUS" or mode not in ("EPOC", "EPOCPLUS"):
        raise RpcError(Code.INVALID_PARAMS, "Only EPOC+ and EPOC X headsets can be updated.")
    conn_id, hid = call.conn.id, h.id
    if h.connected_by == "bluetooth" and (eeg != 128 or mems != 0):
        svc.at(
            call.mono,
            lambda: svc.warn(
                conn_id,
                112,
                {
                    "behavior": "The setting cannot work with a Bluetooth connection.",
                    "headsetId": hid,
                },
            ),
        )
    elif eeg not in h.model.eeg_rates or mems not in h.model.mems_rates:
        svc.at(
            call.mono + 1.0,
            lambda: svc.warn(
                conn_id,
                111,
                {"behavior": "Failed to update the headset setting.", "headsetId": hid},
            ),
        )
    else:

        def done() -> None:
            h.eeg_rate, h.mems_rate = int(eeg), float(mems)
            svc.close_headset_sessions(h)  # new settings: Cortex re-opens the device [U]
            h.connect(svc.clock.monotonic(), svc.clock.time(), svc.clock_offset)
            svc.warn(
                conn_id, 110, {"behavior": "The headset setting was updated.", "headsetId": hid}
            )

        svc.at(call.mono + 1.0, done)
    return {"headsetId": h.id, "message": "Updating the headset setting is in progress."}


def update_headset_custom_info(svc: CortexService, call: Call) -> Any:
    """``{customName, headbandPosition, headsetId, message}`` (D)."""
    h = svc.find_headset(call.params["headsetId"])
    if h is None or not h.listed:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE)
    position = call.params.get("headbandPosition")
    if position is not None:
        if h.model.key != "epocx" or position not in ("back", "top"):
            raise RpcError(Code.INVALID_PARAMS, 'headbandPosition is "back" or "top" (EPOC X).')
        h.headband_position = position
    if call.params.get("customName") is not None:
        h.custom_name = call.params["customName"]
    return {"customName": h.custom_name, "headbandPosition": h.headband_position,
            "headsetId": h.id, "message": "Update headset custom info successfully."}  # fmt: skip


def config_mapping(svc: CortexService, call: Call) -> Any:
    """EPOC Flex mapping configurations: create, get (all), read (one), update, delete
    (D:configmapping; messages as its example, the rest [U])."""
    p = call.params
    status = p["status"]
    configs = svc.store.flex_mappings
    if status == "get":
        return {"message": "Get flex mapping config successful", "value": list(configs.values())}
    if status == "create":
        name, mappings = p.get("name"), p.get("mappings")
        if not name or not isinstance(mappings, dict):
            raise RpcError(Code.MISSING_PARAMS, "This parameter is required: name, mappings")
        _check_mappings(mappings)
        value = {"label": {}, "mappings": dict(mappings), "name": name, "uuid": svc.new_uuid()}
        configs[value["uuid"]] = value
        svc.store.save()
        return {"message": "Create flex mapping config successful", "value": value}
    uuid = p.get("uuid")
    if not uuid:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: uuid")
    found = configs.get(uuid)
    if found is None:
        raise RpcError(Code.INVALID_PARAMS, f"The mapping config {uuid} does not exist.")
    value = found
    if status == "read":
        return {"message": "Read flex mapping config successful", "value": value}
    if status == "update":
        if p.get("mappings") is not None:
            _check_mappings(p["mappings"])
            value["mappings"] = dict(p["mappings"])
        if p.get("name"):
            value["name"] = p["name"]
        svc.store.save()
        return {"message": "Update flex mapping config successful", "value": value}
    if status == "delete":
        del configs[uuid]
        svc.store.save()
        return {"message": "Delete flex mapping config successful", "value": value}
    raise RpcError(Code.INVALID_PARAMS, "The status must be create, get, read, update or delete.")


def _check_mappings(mappings: Any) -> None:
    """``CMS`` and ``DRL`` required, other keys LA..LQ / RA..RQ (D:controldevice)."""
    if not isinstance(mappings, dict) or "CMS" not in mappings or "DRL" not in mappings:
        raise RpcError(Code.INVALID_PARAMS, "A mapping needs CMS and DRL.")
    bad = [k for k in mappings if k not in ("CMS", "DRL", *FLEX_LABELS)]
    if bad or not all(isinstance(v, str) and v for v in mappings.values()):
        raise RpcError(Code.INVALID_PARAMS, f"Bad mapping keys or values: {bad[:3]}")


_SUBJECT = (s("dateOfBirth", False), s("sex", False), s("countryCode", False),
            s("state", False), s("city", False), anything("attributes", False))  # fmt: skip

METHODS: Mapping[str, MethodSpec] = {
    "createSubject": MethodSpec((TOKEN, s("subjectName"), *_SUBJECT), create_subject, token=True),
    "updateSubject": MethodSpec((TOKEN, s("subjectName"), *_SUBJECT), update_subject, token=True),
    "deleteSubjects": MethodSpec((TOKEN, str_list("subjects")), delete_subjects, token=True),
    "querySubjects": MethodSpec(
        (TOKEN, obj("query"), anything("orderBy"), integer("limit", False),
         integer("offset", False)),
        query_subjects, token=True,
    ),
    "getDemographicAttributes": MethodSpec((TOKEN,), get_demographic_attributes, token=True),
    "getUserInformation": MethodSpec((TOKEN,), get_user_information, token=True),
    "updateHeadset": MethodSpec(
        (TOKEN, s("headset"), obj("setting")), update_headset, token=True
    ),
    "updateHeadsetCustomInfo": MethodSpec(
        (TOKEN, s("headsetId"), s("headbandPosition", False), s("customName", False)),
        update_headset_custom_info, token=True,
    ),
    "configMapping": MethodSpec(
        (TOKEN, s("status"), s("uuid", False), s("name", False), obj("mappings", False)),
        config_mapping, token=True,
    ),
}  # fmt: skip
