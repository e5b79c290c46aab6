"""Advanced BCI (D:advanced-bci, cortex_api_more.md §B.3-B.10): read and tune the
trained signatures of a profile.

Every method takes a profile *name* (read from the store, read-only) or a *session*
(the profile loaded on its headset, read-write, saved by ``setupProfile save``): "You
must set one of these 2 parameters" (D). Emotiv's own example sends both, so both are
accepted and ``session`` wins (§B.9). Result shapes the docs do not show are [U].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.simulator.headsets import DETECTION_INFO
from bridge.simulator.jsonrpc import TOKEN, Code, RpcError, anything, s
from bridge.simulator.model import Call
from bridge.simulator.profiles import MAX_ACTIVE, refresh_detection
from bridge.simulator.signals import hash01
from bridge.simulator.spec import MethodSpec

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

FE_THRESHOLD_DEFAULT = 500  # facialExpressionThreshold range 0-1000 [U]


def _profile(svc: CortexService, call: Call, write: bool = False) -> tuple[dict[str, Any], str]:
    """The profile data a call addresses and the headset it is loaded on ("" if read
    from disk). Writing needs a session (D: profile by name is read-only)."""
    p = call.params
    if p.get("session"):
        session = svc.session_for(call, p["session"])
        lp = svc.loaded.get(session.headset.id)
        if lp is None:
            raise RpcError(Code.NO_PROFILE_LOADED)
        assert call.claims is not None
        if lp.app_id != call.claims.app_id:
            raise RpcError(Code.PROFILE_ACCESS_DENIED)
        return lp.data, session.headset.id
    if write:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: session")
    name = p.get("profile")
    if not name:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: profile or session")
    data = svc.store.profiles.get(name)
    if data is None:
        raise RpcError(Code.INVALID_PROFILE, f"The profile {name} does not exist.")
    return data, ""


def _detection(call: Call) -> str:
    detection = call.params["detection"]
    if detection not in DETECTION_INFO:
        raise RpcError(
            Code.INVALID_PARAMS, 'The detection must be "mentalCommand" or "facialExpression".'
        )
    return str(detection)


def _get_or_set(call: Call) -> str:
    status = call.params["status"]
    if status not in ("get", "set"):
        raise RpcError(Code.INVALID_PARAMS, 'The status must be "get" or "set".')
    return str(status)


def get_trained_signature_actions(svc: CortexService, call: Call) -> Any:
    part = _profile(svc, call)[0][_detection(call)]
    return {
        "totalTimesTraining": part["total"],
        "trainedActions": [{"action": a, "times": n} for a, n in part["trained"].items()],
    }


def get_training_time(svc: CortexService, call: Call) -> Any:
    """``{detection, time}``: "The time should be 8 seconds" (D), here the configured
    training time."""
    detection = _detection(call)
    svc.session_for(call, call.params["session"])
    return {"detection": detection, "time": svc.cfg.training_duration_s}


def mental_command_active_action(svc: CortexService, call: Call) -> Any:
    """get: the active actions (array) [I]; set: at most 4, neutral excluded (E)."""
    status = _get_or_set(call)
    data, hid = _profile(svc, call, write=status == "set")
    mc = data["mentalCommand"]
    if status == "get":
        return list(mc["active"])
    actions = call.params.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise RpcError(Code.INVALID_PARAMS, "The parameter actions must be an array of strings.")
    actions = [a for a in actions if a != "neutral"]
    known = DETECTION_INFO["mentalCommand"]["actions"]
    if len(actions) > MAX_ACTIVE or any(a not in known for a in actions):
        raise RpcError(Code.INVALID_PARAMS, "At most 4 known actions, neutral excluded.")
    mc["active"] = actions
    refresh_detection(svc, hid)
    return {"actions": list(actions), "message": "Set active actions successfully."}


def mental_command_action_sensitivity(svc: CortexService, call: Call) -> Any:
    """get: 4 integers 1-10 in active-action order; set: ``values`` (E live_advance.py).
    The set answer is an object, not the array (Emotiv's example tells them apart)."""
    status = _get_or_set(call)
    data, hid = _profile(svc, call, write=status == "set")
    mc = data["mentalCommand"]
    if status == "get":
        return list(mc["sensitivity"])
    raw = call.params.get("values")
    values: list[int] = list(raw) if isinstance(raw, list) else []
    ok = all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10 for v in values)
    if not ok or not 1 <= len(values) <= 4:
        raise RpcError(Code.INVALID_PARAMS, "values: up to 4 integers from 1 to 10.")
    mc["sensitivity"] = [*values, *mc["sensitivity"][len(values) :]][:4]
    refresh_detection(svc, hid)
    return {"message": "Set sensitivity successfully.", "values": list(mc["sensitivity"])}


def mental_command_brain_map(svc: CortexService, call: Call) -> Any:
    """One object per trained action: ``{action, coordinates: [x, y]}`` [U shape]."""
    data = _profile(svc, call)[0]
    out = []
    for i, action in enumerate(data["mentalCommand"]["trained"]):
        x = round(2 * hash01(svc.seed, i, 1) - 1, 4) if action != "neutral" else 0.0
        y = round(2 * hash01(svc.seed, i, 2) - 1, 4) if action != "neutral" else 0.0
        out.append({"action": action, "coordinates": [x, y]})
    return out


def mental_command_training_threshold(svc: CortexService, call: Call) -> Any:
    """``{currentThreshold, lastTrainingScore}`` (D example 0.83 / 0.40); the threshold
    grows with the number of active actions (D)."""
    mc = _profile(svc, call)[0]["mentalCommand"]
    threshold = round(0.5 + 0.1 * len(mc["active"]), 2)
    return {"currentThreshold": threshold, "lastTrainingScore": mc["lastScore"]}


def mental_command_get_skill_rating(svc: CortexService, call: Call) -> Any:
    """``{action?, rate}`` in 0-1 [U: only the menu entry was found]."""
    mc = _profile(svc, call)[0]["mentalCommand"]
    action = call.params.get("action")
    times = mc["trained"].get(action, 0) if action else sum(mc["trained"].values())
    rate = round(min(1.0, times / 10.0), 3)
    return {"action": action, "rate": rate} if action else {"rate": rate}


def facial_expression_signature_type(svc: CortexService, call: Call) -> Any:
    """get/set "universal" or "trained" (D getDetectionInfo ``signature``); result
    ``{currentSig, availableSig}`` [U]."""
    status = _get_or_set(call)
    data, hid = _profile(svc, call, write=status == "set")
    fe = data["facialExpression"]
    available = ["universal", "trained"] if fe["trained"] else ["universal"]
    if status == "set":
        sig = call.params.get("signature")
        if sig not in available:
            raise RpcError(Code.INVALID_PARAMS, f"The signature must be one of {available}.")
        fe["signature"] = sig
        refresh_detection(svc, hid)
    return {"availableSig": available, "currentSig": fe["signature"]}


def facial_expression_threshold(svc: CortexService, call: Call) -> Any:
    """get/set one action's threshold, 0-1000 [U shape and range]."""
    status = _get_or_set(call)
    data, _ = _profile(svc, call, write=status == "set")
    action = call.params["action"]
    if action not in DETECTION_INFO["facialExpression"]["actions"]:
        raise RpcError(Code.INVALID_PARAMS, f"The action {action} does not exist.")
    thresholds = data["facialExpression"]["thresholds"]
    if status == "set":
        value = call.params.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1000:
            raise RpcError(Code.INVALID_PARAMS, "value: a number from 0 to 1000.")
        thresholds[action] = value
    return {"action": action, "currentThreshold": thresholds.get(action, FE_THRESHOLD_DEFAULT)}


_WHO = (s("profile", False), s("session", False))
_STATUS = s("status")

METHODS: Mapping[str, MethodSpec] = {
    "getTrainedSignatureActions": MethodSpec(
        (TOKEN, s("detection"), *_WHO), get_trained_signature_actions, token=True
    ),
    "getTrainingTime": MethodSpec(
        (TOKEN, s("detection"), s("session")), get_training_time, token=True
    ),
    "mentalCommandActiveAction": MethodSpec(
        (TOKEN, _STATUS, *_WHO, anything("actions", False)),
        mental_command_active_action,
        token=True,
    ),
    "mentalCommandActionSensitivity": MethodSpec(
        (TOKEN, _STATUS, *_WHO, anything("values", False)),
        mental_command_action_sensitivity,
        token=True,
    ),
    "mentalCommandBrainMap": MethodSpec((TOKEN, *_WHO), mental_command_brain_map, token=True),
    "mentalCommandTrainingThreshold": MethodSpec(
        (TOKEN, *_WHO), mental_command_training_threshold, token=True
    ),
    "mentalCommandGetSkillRating": MethodSpec(
        (TOKEN, *_WHO, s("action", False)), mental_command_get_skill_rating, token=True
    ),
    "facialExpressionSignatureType": MethodSpec(
        (TOKEN, _STATUS, *_WHO, s("signature", False)),
        facial_expression_signature_type,
        token=True,
    ),
    "facialExpressionThreshold": MethodSpec(
        (TOKEN, _STATUS, s("action"), *_WHO, anything("value", False)),
        facial_expression_threshold,
        token=True,
    ),
}
