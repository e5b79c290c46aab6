"""Profiles and training (D:bci, cortex_api_more.md §A-B): the user's persistent
profiles, the one loaded on each headset, and the training state machine.

A loaded profile is a working copy (training and the advanced BCI setters change it);
``setupProfile save`` writes it back to the user's store. The loaded profile decides what
``com``/``fac`` detect (:func:`refresh_detection`). Codes the docs name are used; the
1.x table (seed 001) supplies the numbers the v2 docs lost (-32031, -32036, -32037,
-32044, -32045, -32046); the rest are [U] in ``docs/simulator.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.simulator.headsets import (
    DETECTION_INFO,
    DETECTION_PREFIX,
    FE_TRAINABLE,
    TRAINING_EVENTS,
)
from bridge.simulator.jsonrpc import TOKEN, Code, RpcError, s
from bridge.simulator.model import Call, LoadedProfile, Session
from bridge.simulator.signals import Detection
from bridge.simulator.spec import MethodSpec

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

GUEST = "Guest"  # loadGuestProfile's profile name [U]
MAX_ACTIVE = 4  # "Maximum 4 mental command actions are actived" (E live_advance.py)


def new_profile(svc: CortexService, name: str, channels: list[str]) -> dict[str, Any]:
    return {
        "uuid": svc.new_uuid(),
        "name": name,
        "readOnly": False,
        "eegChannels": channels,
        "mentalCommand": {"trained": {}, "total": 0, "active": [], "sensitivity": [5, 5, 5, 5],
                          "lastScore": 0.0},
        "facialExpression": {"trained": {}, "total": 0, "signature": "universal",
                             "thresholds": {}},
    }  # fmt: skip


def _headset(svc: CortexService, hid: Any) -> Any:
    h = svc.find_headset(str(hid)) if hid else None
    if h is None or not h.listed:
        raise RpcError(Code.HEADSET_NOT_AVAILABLE, f"The headset {hid} is not available.")
    return h


def _stored(svc: CortexService, name: Any) -> dict[str, Any]:
    profile = svc.store.profiles.get(str(name))
    if profile is None:
        raise RpcError(Code.INVALID_PROFILE, f"The profile {name} does not exist.")
    return profile  # type: ignore[no-any-return]


def _mine(call: Call, lp: LoadedProfile) -> None:
    assert call.claims is not None
    if lp.app_id != call.claims.app_id:
        raise RpcError(Code.PROFILE_ACCESS_DENIED)


def refresh_detection(svc: CortexService, hid: str) -> None:
    """What ``com``/``fac`` may say on this headset now (signals.Detection)."""
    h = svc.find_headset(hid)
    if h is None:
        return
    lp = svc.loaded.get(hid)
    if lp is None:
        h.detection = None
        return
    mc, fe = lp.data["mentalCommand"], lp.data["facialExpression"]
    active = tuple(a for a in mc["active"] if a in mc["trained"])
    trained_fe = frozenset(fe["trained"]) if fe["signature"] == "trained" else None
    h.detection = Detection(active, tuple(mc["sensitivity"][: len(active)]), trained_fe)


# ---- queryProfile / getCurrentProfile / setupProfile / loadGuestProfile --------------


def query_profile(svc: CortexService, call: Call) -> Any:
    return [
        {"eegChannels": list(p["eegChannels"]), "name": p["name"], "readOnly": p["readOnly"],
         "uuid": p["uuid"]}
        for p in svc.store.profiles.values()
    ]  # fmt: skip


def get_current_profile(svc: CortexService, call: Call) -> Any:
    """``{name (null if none), loadedByThisApp}`` (E python/cortex.py); ``uuid`` [U]."""
    assert call.claims is not None
    h = _headset(svc, call.params["headset"])
    lp = svc.loaded.get(h.id)
    if lp is None:
        return {"loadedByThisApp": False, "name": None}
    return {"loadedByThisApp": lp.app_id == call.claims.app_id, "name": lp.name,
            "uuid": lp.data["uuid"]}  # fmt: skip


def _load(svc: CortexService, call: Call, h: Any, data: dict[str, Any], guest: bool) -> None:
    assert call.claims is not None
    current = svc.loaded.get(h.id)
    if current is not None:
        if current.app_id != call.claims.app_id:
            raise RpcError(Code.PROFILE_ACCESS_DENIED)
        raise RpcError(Code.PROFILE_ALREADY_LOADED)  # "you must unload it first" (D)
    if not guest and set(data["eegChannels"]) != set(h.sensors):
        # Since 3.6.5 a profile loads only on headsets whose channels it supports (D:bci).
        raise RpcError(Code.PROFILE_ERROR, f"The profile {data['name']} does not fit {h.id}.")
    svc.loaded[h.id] = LoadedProfile(
        data["name"], call.claims.app_id, call.conn.id, copy.deepcopy(data), guest
    )
    refresh_detection(svc, h.id)
    svc.warn(call.conn.id, 13, {"behavior": "Profile is loaded", "headset": h.id,
                                "profile": data["name"]})  # fmt: skip


def _unload(svc: CortexService, call: Call, hid: str) -> LoadedProfile:
    lp = svc.loaded.get(hid)
    if lp is None:
        raise RpcError(Code.NO_PROFILE_LOADED)
    _mine(call, lp)
    del svc.loaded[hid]
    refresh_detection(svc, hid)
    svc.warn(call.conn.id, 14, {"behavior": "Profile is unloaded", "headset": hid,
                                "profile": lp.name})  # fmt: skip
    return lp


def setup_profile(svc: CortexService, call: Call) -> Any:
    p = call.params
    status, name = p["status"], p["profile"]
    handler = _SETUP.get(status)
    if handler is None:
        raise RpcError(Code.INVALID_PARAMS, f"The status must be one of {', '.join(_SETUP)}.")
    if status in ("load", "unload", "save") and not p.get("headset"):
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: headset")
    if status not in ("unload", "save") and not name:
        raise RpcError(Code.INVALID_PROFILE, "The profile name must not be empty.")
    result_name = handler(svc, call, name)
    svc.store.save()
    return {"action": status, "message": f"The profile is {_DONE[status]} successfully.",
            "name": result_name}  # fmt: skip


def _create(svc: CortexService, call: Call, name: str) -> str:
    if name in svc.store.profiles or len(name) > 100:
        raise RpcError(Code.INVALID_PROFILE, f"The profile name {name} is already used.")
    hid = call.params.get("headset")
    lp = svc.loaded.get(str(hid)) if hid else None
    if lp is not None:  # "a copy of a loaded profile" (D)
        data = copy.deepcopy(lp.data)
        data.update(uuid=svc.new_uuid(), name=name, readOnly=False)
    else:
        h = svc.find_headset(str(hid)) if hid else None
        channels = list(h.sensors) if h is not None else list(svc.headsets[0].sensors)
        data = new_profile(svc, name, channels)
    svc.store.profiles[name] = data
    return name


def _load_status(svc: CortexService, call: Call, name: str) -> str:
    _load(svc, call, _headset(svc, call.params["headset"]), _stored(svc, name), guest=False)
    return name


def _unload_status(svc: CortexService, call: Call, name: str) -> str:
    # "Cortex will ignore this parameter" (D): the name is the unloaded profile's.
    return _unload(svc, call, _headset(svc, call.params["headset"]).id).name


def _save(svc: CortexService, call: Call, name: str) -> str:
    h = _headset(svc, call.params["headset"])
    lp = svc.loaded.get(h.id)
    if lp is None:
        raise RpcError(Code.NO_PROFILE_LOADED)
    _mine(call, lp)
    if lp.guest and (not name or name == GUEST):
        raise RpcError(Code.INVALID_PROFILE, "Save the guest profile under a new name.")
    target = name or lp.name
    data = copy.deepcopy(lp.data)
    if target != lp.name:  # "new name -> new profile" (D)
        data.update(uuid=svc.new_uuid(), name=target)
    svc.store.profiles[target] = data
    return target


def _rename(svc: CortexService, call: Call, name: str) -> str:
    new = call.params.get("newProfileName")
    if not new:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: newProfileName")
    data = _stored(svc, name)
    if new in svc.store.profiles:
        raise RpcError(Code.INVALID_PROFILE, f"The profile name {new} is already used.")
    for lp in svc.loaded.values():
        if lp.name == name:
            _mine(call, lp)
            lp.name = lp.data["name"] = new
    del svc.store.profiles[name]
    data["name"] = new
    svc.store.profiles[new] = data
    return str(new)


def _delete(svc: CortexService, call: Call, name: str) -> str:
    _stored(svc, name)
    for hid, lp in list(svc.loaded.items()):
        if lp.name == name and not lp.guest:
            _mine(call, lp)
            _unload(svc, call, hid)  # "automatically unloaded" (D)
    del svc.store.profiles[name]
    return name


_SETUP = {"create": _create, "load": _load_status, "unload": _unload_status, "save": _save,
          "rename": _rename, "delete": _delete}  # fmt: skip
_DONE = {"create": "created", "load": "loaded", "unload": "unloaded", "save": "saved",
         "rename": "renamed", "delete": "deleted"}  # fmt: skip


def load_guest_profile(svc: CortexService, call: Call) -> Any:
    """Load an empty profile nobody saved [U: only the docs' menu entry was found]."""
    h = _headset(svc, call.params["headset"])
    _load(svc, call, h, new_profile(svc, GUEST, list(h.sensors)), guest=True)
    return {"action": "loadGuest", "message": "The guest profile is loaded successfully.",
            "name": GUEST}  # fmt: skip


# ---- getDetectionInfo / training -----------------------------------------------------


def get_detection_info(svc: CortexService, call: Call) -> Any:
    detection = call.params["detection"]
    if detection not in DETECTION_INFO:
        raise RpcError(
            Code.INVALID_PARAMS, 'The detection must be "mentalCommand" or "facialExpression".'
        )
    return {k: list(v) for k, v in DETECTION_INFO[detection].items()}


def schedule_training(
    svc: CortexService,
    session: Session,
    detection: str,
    status: str,
    mono: float,
    outcome: str = "Succeeded",
    on_done: Any = None,
) -> None:
    """The ``sys`` events a training request sets off (both dialects): ``start`` emits
    ``<prefix>_Started`` now and ``<prefix>_<outcome>`` after the training time; any
    other status cancels a pending result and emits its own event now."""
    prefix = DETECTION_PREFIX[detection]
    pending = session.training_timers.pop(detection, None)
    if pending is not None:
        pending.cancel()
    if status == "start":
        svc.at(mono, lambda: svc.emit_sys(session, detection, f"{prefix}_Started"))

        def done() -> None:
            session.training_timers.pop(detection, None)
            if on_done is not None:
                on_done()
            svc.emit_sys(session, detection, f"{prefix}_{outcome}")

        session.training_timers[detection] = svc.at(mono + svc.cfg.training_duration_s, done)
    else:
        event = f"{prefix}_{TRAINING_EVENTS[status]}"
        svc.at(mono, lambda: svc.emit_sys(session, detection, event))


def next_outcome(svc: CortexService) -> str:
    outcomes = svc.cfg.training_outcomes or ("succeeded",)
    outcome = outcomes[svc.trainings_started % len(outcomes)]
    svc.trainings_started += 1
    return "Failed" if outcome == "failed" else "Succeeded"


def training(svc: CortexService, call: Call) -> Any:
    """start -> Started, then Succeeded or Failed ("poor quality", D) after the training
    time; accept (after Succeeded) -> Completed and the action is trained into the
    loaded profile; reject (after Succeeded or Failed) -> Rejected; reset -> Reset;
    erase -> DataErased and the action's training is gone. Needs a profile loaded on the
    session's headset (D:bci)."""
    p = call.params
    detection, status, action = p["detection"], p["status"], p["action"]
    info = DETECTION_INFO.get(detection)
    if info is None:
        raise RpcError(
            Code.INVALID_PARAMS, 'The detection must be "mentalCommand" or "facialExpression".'
        )
    if status not in info["controls"]:
        raise RpcError(
            Code.INVALID_PARAMS, f"The status must be one of {', '.join(info['controls'])}."
        )
    if action not in info["actions"]:
        raise RpcError(Code.INVALID_PARAMS, f"The action {action} does not exist.")
    if detection == "facialExpression" and action not in FE_TRAINABLE:
        raise RpcError(Code.TRAINING_UNSUPPORTED)  # "FE can only train neutral, ..." (D)
    session = svc.session_for(call, p["session"])
    lp = svc.loaded.get(session.headset.id)
    if lp is None:
        raise RpcError(Code.NO_PROFILE_LOADED)
    _mine(call, lp)
    if lp.data.get("readOnly"):
        raise RpcError(Code.PROFILE_ERROR, "A read-only profile cannot be trained.")
    state = lp.training
    key = f"{detection}:{action}"
    result = state.get(key)
    if status == "accept" and result != "Succeeded":
        raise RpcError(Code.INVALID_PARAMS, "Only a successful training can be accepted.")
    if status == "reject" and result not in ("Succeeded", "Failed"):
        raise RpcError(Code.INVALID_PARAMS, "There is no training result to reject.")
    part = lp.data[detection]
    outcome = "Succeeded"
    if status == "start":
        outcome = next_outcome(svc)
        state.pop(key, None)

        def record_result(o: str = outcome) -> None:
            state[key] = o
            if detection == "mentalCommand":
                lp.data["mentalCommand"]["lastScore"] = 0.8 if o == "Succeeded" else 0.2
    else:
        record_result = None  # type: ignore[assignment]
        state.pop(key, None)
        if status == "accept":
            part["trained"][action] = part["trained"].get(action, 0) + 1
            part["total"] += 1
            if (
                detection == "mentalCommand"
                and action != "neutral"
                and action not in part["active"]
                and len(part["active"]) < MAX_ACTIVE
            ):
                part["active"].append(action)
        elif status == "erase":
            part["trained"].pop(action, None)
            if action in part.get("active", []):
                part["active"].remove(action)
        refresh_detection(svc, session.headset.id)
    schedule_training(svc, session, detection, status, call.mono, outcome, record_result)
    return {
        "action": action,
        "message": f"Set up training successfully for action {action} with status {status}",
        "status": status,
    }


METHODS: Mapping[str, MethodSpec] = {
    "queryProfile": MethodSpec((TOKEN,), query_profile, token=True),
    "getCurrentProfile": MethodSpec((TOKEN, s("headset")), get_current_profile, token=True),
    "setupProfile": MethodSpec(
        (TOKEN, s("status"), s("profile"), s("headset", False), s("newProfileName", False)),
        setup_profile, token=True,
    ),
    "loadGuestProfile": MethodSpec((TOKEN, s("headset")), load_guest_profile, token=True),
    "getDetectionInfo": MethodSpec((s("detection"),), get_detection_info),
    "training": MethodSpec(
        (TOKEN, s("session"), s("detection"), s("status"), s("action")), training, token=True
    ),
}  # fmt: skip
