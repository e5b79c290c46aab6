"""JSON-RPC 2.0 as Cortex speaks it: parsing requests, error objects, warnings, encoding.

Pure functions and data; the service decides what to answer, this module only knows
what the answers look like on the wire (cortex_api.md §1.3, §6, §9).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_dumps = orjson.dumps


def encode(obj: Any) -> str:
    """Compact JSON text, as Cortex sends it (every data frame goes through here).

    orjson is several times faster than the standard encoder on rows of floats, which is
    most of what the simulator writes; what orjson refuses (integers beyond 64 bits,
    non-string keys, objects it does not know) goes to the standard encoder. NaN becomes
    ``null`` with orjson, as it does in Cortex's own (Qt) JSON writer.
    """
    try:
        return _dumps(obj).decode()
    except TypeError:
        return _ENCODER.encode(obj)


class Code(IntEnum):
    """Error codes the simulator sends. See ``docs/simulator.md`` for which are [U]."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    INVALID_LICENSE = -32002
    HEADSET_NOT_AVAILABLE = -32004
    SESSION_CONFLICT = -32005
    SESSION_NOT_FOUND = -32007
    SESSION_NOT_ACTIVATED = -32012
    TOKEN_INVALID = -32014
    TOKEN_EXPIRED = -32015
    STREAM_UNAVAILABLE = -32016
    MISSING_PARAMS = -32018
    SESSION_LIMIT = -32019
    INVALID_CREDENTIALS = -32021
    LICENSE_EXPIRED = -32024
    NO_LICENSE_PERMISSION = -32027
    INVALID_PROFILE = -32031
    NOT_LOGGED_IN = -32033
    PROFILE_ERROR = -32036
    TRAINING_UNSUPPORTED = -32037
    EULA_NOT_ACCEPTED = -32041
    PROFILE_ALREADY_LOADED = -32044
    NO_PROFILE_LOADED = -32045
    PROFILE_ACCESS_DENIED = -32046
    NO_ACCESS_RIGHT = -32102
    MARKER_TOO_OLD = -32115
    # Record errors: Cortex 2's docs lost these numbers; the 1.x table (seed 001) has
    # "The recording of current session has been stopped/started" [V1 numbers, U for v2].
    NO_RECORD = -32011
    RECORD_IN_PROGRESS = -32017


MESSAGES: Mapping[int, str] = {
    Code.PARSE_ERROR: "Parse error.",
    Code.INVALID_REQUEST: "Invalid Request.",
    Code.METHOD_NOT_FOUND: "Method not found.",
    Code.INVALID_PARAMS: "Invalid Parameters.",  # observed (#105)
    Code.INTERNAL_ERROR: "Internal error.",
    Code.INVALID_LICENSE: "Invalid License Key.",  # observed
    Code.HEADSET_NOT_AVAILABLE: "The headset is currently not available.",  # observed (#93)
    Code.SESSION_CONFLICT: "The session already exists for this application and headset.",
    Code.SESSION_NOT_FOUND: "The session does not exist.",
    Code.SESSION_NOT_ACTIVATED: "The session must be activated.",
    Code.TOKEN_INVALID: "The Cortex token is invalid.",
    Code.TOKEN_EXPIRED: "The Cortex token has expired.",
    Code.STREAM_UNAVAILABLE: "The stream is unavailable or unsupported.",  # observed
    Code.MISSING_PARAMS: "Missing the required parameters.",  # observed (#129)
    Code.SESSION_LIMIT: "Session limit on this device has been reached.",  # observed
    Code.INVALID_CREDENTIALS: "The client id or client secret is incorrect.",
    Code.LICENSE_EXPIRED: "The license is expired.",  # seed 001 table
    Code.NO_LICENSE_PERMISSION: "The application does not have permission to use the license.",
    Code.INVALID_PROFILE: "Invalid profile name.",  # seed 001 table
    Code.NOT_LOGGED_IN: "The user has not logged in to EMOTIV Launcher.",
    Code.PROFILE_ERROR: "Error processing profile.",  # seed 001 table
    Code.TRAINING_UNSUPPORTED: "Training for this action is not supported.",  # seed 001
    Code.EULA_NOT_ACCEPTED: "EULA has not been accepted by the user.",  # seed 001 table
    Code.PROFILE_ALREADY_LOADED: "Current headset has linked with a profile.",  # seed 001
    Code.NO_PROFILE_LOADED: "Current headset does not link with any profile.",  # seed 001
    Code.PROFILE_ACCESS_DENIED: (
        "Your application does not have access to the profile of another application."
    ),  # seed 001 table
    Code.NO_ACCESS_RIGHT: "The user has not granted access right to this application.",
    Code.RECORD_IN_PROGRESS: "The recording of current session has been started.",  # seed 001
    Code.NO_RECORD: "The recording of current session has been stopped.",  # seed 001
    Code.MARKER_TOO_OLD: "The marker timestamp is invalid (too far in the past).",  # observed
}


class RpcError(Exception):
    """Raised by a handler; becomes a JSON-RPC error object."""

    def __init__(self, code: int, behavior: str | None = None, message: str | None = None) -> None:
        self.code = int(code)
        self.message = message if message is not None else MESSAGES.get(code, "Error.")
        self.behavior = behavior
        # The id of the request, when the error is raised before a request was parsed.
        self.request_id: Any = None
        super().__init__(f"{self.code} {self.message}")

    def to_error(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code}
        if self.behavior is not None:
            err["data"] = {"behavior": self.behavior}
        err["message"] = self.message
        return err


def response(rid: Any, result: Any) -> str:
    return encode({"id": rid, "jsonrpc": "2.0", "result": result})


def error_response(rid: Any, err: RpcError) -> str:
    return encode({"error": err.to_error(), "id": rid, "jsonrpc": "2.0"})


def warning(code: int, message: Any) -> str:
    return encode({"jsonrpc": "2.0", "warning": {"code": code, "message": message}})


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    params: dict[str, Any]
    id: Any
    has_id: bool


def parse_request(text: str) -> Request:
    """A request, or :class:`RpcError` (-32700 not JSON, -32600 not a request, -32602
    params not an object). The error carries the id when one could be read."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise RpcError(Code.PARSE_ERROR) from None
    if not isinstance(obj, dict):
        raise RpcError(Code.INVALID_REQUEST, "A request must be a JSON object.")
    has_id = "id" in obj
    rid = obj.get("id")
    if has_id and not _valid_id(rid):
        raise _with_id(RpcError(Code.INVALID_REQUEST, "The id must be a number or a string."), None)
    if obj.get("jsonrpc") != "2.0":
        raise _with_id(RpcError(Code.INVALID_REQUEST, 'The field "jsonrpc" must be "2.0".'), rid)
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise _with_id(RpcError(Code.INVALID_REQUEST, 'The field "method" is required.'), rid)
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _with_id(RpcError(Code.INVALID_PARAMS, "The params must be an object."), rid)
    return Request(method, params, rid, has_id)


def _valid_id(rid: Any) -> bool:
    if isinstance(rid, bool):
        return False
    return isinstance(rid, int | float | str)


def _with_id(err: RpcError, rid: Any) -> RpcError:
    err.request_id = rid
    return err


# ---- parameter specs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """One documented parameter: name, a type check and whether Cortex requires it."""

    name: str
    check: Callable[[Any], bool]
    expect: str
    required: bool = True


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_obj(v: Any) -> bool:
    return isinstance(v, dict)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_any(v: Any) -> bool:
    return True


def s(name: str, required: bool = True) -> Param:
    return Param(name, _is_str, "a string", required)


def num(name: str, required: bool = True) -> Param:
    return Param(name, _is_num, "a number", required)


def integer(name: str, required: bool = True) -> Param:
    return Param(name, _is_int, "an integer", required)


def boolean(name: str, required: bool = True) -> Param:
    return Param(name, _is_bool, "a boolean", required)


def obj(name: str, required: bool = True) -> Param:
    return Param(name, _is_obj, "an object", required)


def str_list(name: str, required: bool = True) -> Param:
    return Param(name, _is_str_list, "an array of strings", required)


def anything(name: str, required: bool = True) -> Param:
    return Param(name, _is_any, "a value", required)


TOKEN = s("cortexToken")


def check_params(spec: tuple[Param, ...], params: Mapping[str, Any], strict: bool = True) -> None:
    """-32602 for a parameter the method does not document ("invalid name", D:error-codes)
    when ``strict``, then -32018 for the first missing required parameter (in documented
    order, as Cortex reports one at a time), then -32602 for the first one of the wrong
    type. A null value counts as missing; so does an empty ``cortexToken`` [U]."""
    if strict:
        known = {p.name for p in spec}
        extra = sorted(k for k in params if k not in known)
        if extra:
            raise RpcError(Code.INVALID_PARAMS, f"Unknown parameter: {extra[0]}")
    for p in spec:
        value = params.get(p.name)
        missing = value is None or (p.name in ("cortexToken", "_auth") and value == "")
        if p.required and missing:
            raise RpcError(Code.MISSING_PARAMS, f"This parameter is required: {p.name}")
    for p in spec:
        value = params.get(p.name)
        if value is not None and not p.check(value):
            raise RpcError(Code.INVALID_PARAMS, f"The parameter {p.name} must be {p.expect}.")
