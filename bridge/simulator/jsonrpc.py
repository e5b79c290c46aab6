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

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
encode = _ENCODER.encode


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
    NOT_LOGGED_IN = -32033
    NO_ACCESS_RIGHT = -32102
    RECORD_NOT_FOUND = -32110
    RECORD_IN_PROGRESS = -32111
    NO_RECORD = -32112
    MARKER_NOT_FOUND = -32114
    MARKER_TOO_OLD = -32115


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
    Code.NOT_LOGGED_IN: "The user has not logged in to EMOTIV Launcher.",
    Code.NO_ACCESS_RIGHT: "The user has not granted access right to this application.",
    Code.RECORD_NOT_FOUND: "The record does not exist or you don't have the permission to access it.",
    Code.RECORD_IN_PROGRESS: "A record is already in progress for this session.",
    Code.NO_RECORD: "There is no record in progress for this session.",
    Code.MARKER_NOT_FOUND: "The marker does not exist in the current record.",
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


def check_params(spec: tuple[Param, ...], params: Mapping[str, Any]) -> None:
    """-32018 for the first missing required parameter (in documented order, as Cortex
    reports one at a time), then -32602 for the first one of the wrong type. A null
    value counts as missing; so does an empty ``cortexToken`` [U]."""
    for p in spec:
        value = params.get(p.name)
        missing = value is None or (p.name in ("cortexToken", "_auth") and value == "")
        if p.required and missing:
            raise RpcError(Code.MISSING_PARAMS, f"This parameter is required: {p.name}")
    for p in spec:
        value = params.get(p.name)
        if value is not None and not p.check(value):
            raise RpcError(Code.INVALID_PARAMS, f"The parameter {p.name} must be {p.expect}.")
