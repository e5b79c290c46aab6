"""Sans-I/O JSON-RPC 2.0 for Cortex: build requests, classify what arrives, name errors.

Nothing here touches a socket, so every rule can be tested with plain data. Incoming
frames come in four kinds that share one socket (cortex_api.md §1.3): data samples
(``sid`` key, no ``id``), responses (``result``), errors (``error``) and warnings
(``warning``). The discrimination order is Emotiv's own: ``sid`` first.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from bridge.errors import Transient

RequestId = int | str
JsonObject = dict[str, Any]

# Parameters whose values are secrets: never logged, never put in an exception.
SECRET_PARAMS = frozenset({"clientSecret", "cortexToken", "_auth", "client_secret", "token"})


class ErrorCode(IntEnum):
    """Cortex error codes the bridge reacts to (cortex_api.md §9.1)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    INVALID_LICENSE = -32002
    HEADSET_NOT_FOUND = -32004
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
    NOT_LOGGED_IN = -32033
    TOKEN_NOT_FIT = -32034
    NO_ACCESS_RIGHT = -32102
    MARKER_TOO_OLD = -32115
    TOKEN_APP_MISMATCH = -32135


class WarningCode(IntEnum):
    """Warning codes the bridge reacts to (cortex_api.md §6)."""

    STREAMS_STOPPED = 0
    SESSION_CLOSED = 1
    ACCESS_GRANTED = 9
    ACCESS_REJECTED = 10
    HEADSET_DATA_TIMEOUT = 103
    HEADSET_CONNECTED = 104
    HEADSET_SCAN_FINISHED = 142


class CortexError(Transient):
    """An ``error`` object Cortex answered with."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        self.method = method
        self.code = code
        self.cortex_message = message
        self.data = data
        super().__init__(f"{method}: Cortex error {code}: {message}{self._behavior_suffix()}")

    @property
    def behavior(self) -> str | None:
        """``data.behavior``, Cortex's longer explanation, when it sent one."""
        if isinstance(self.data, Mapping):
            behavior = self.data.get("behavior")
            if isinstance(behavior, str):
                return behavior
        return None

    def _behavior_suffix(self) -> str:
        behavior = self.behavior
        return f" ({behavior})" if behavior else ""


class ConnectionLost(Transient):
    """The WebSocket closed while a request waited for its answer."""


@dataclass(frozen=True, slots=True)
class Response:
    id: RequestId
    result: Any


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    id: RequestId | None
    code: int
    message: str
    data: Any


@dataclass(frozen=True, slots=True)
class CortexWarning:
    code: int
    message: Any

    @property
    def session_id(self) -> str | None:
        """The ``sessionId`` of warnings 0 and 1 (message is an object there)."""
        if isinstance(self.message, Mapping):
            sid = self.message.get("sessionId")
            if isinstance(sid, str):
                return sid
        return None

    @property
    def headset_id(self) -> str | None:
        if isinstance(self.message, Mapping):
            hid = self.message.get("headsetId") or self.message.get("headset")
            if isinstance(hid, str):
                return hid
        return None

    def text(self) -> str:
        """A one-line rendering for the log."""
        if isinstance(self.message, Mapping):
            behavior = self.message.get("behavior")
            if isinstance(behavior, str):
                return behavior
        return str(self.message)


@dataclass(frozen=True, slots=True)
class Malformed:
    """Something that is none of the four kinds; counted and logged, never fatal."""

    reason: str


Control = Response | ErrorResponse | CortexWarning | Malformed


_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError


def decode(raw: str | bytes | memoryview) -> Any:
    """JSON-decode one WebSocket message; a :class:`Malformed` if it is not JSON.

    orjson parses a data frame in a third of the standard module's time (the hot path's
    largest single cost before it). What orjson refuses but Python's ``json`` reads
    (``NaN``/``Infinity``, integers beyond 64 bits, lone surrogate escapes) is tried
    again with ``json``, so the same frames decode to the same values as before.
    """
    try:
        return _loads(raw)
    except _OrjsonError:
        pass
    try:
        return json.loads(bytes(raw) if isinstance(raw, memoryview) else raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return Malformed(f"not JSON: {exc.__class__.__name__}")


def is_data(obj: Any) -> bool:
    """True for a data sample (the hot path checks this before anything else)."""
    return type(obj) is dict and "sid" in obj


def classify(obj: Any) -> Control:
    """Classify a decoded frame that is not a data sample."""
    if isinstance(obj, Malformed):
        return obj
    if not isinstance(obj, dict):
        return Malformed(f"a {type(obj).__name__}, not an object")
    if "result" in obj:
        rid = obj.get("id")
        if isinstance(rid, bool) or not isinstance(rid, int | str):
            return Malformed("a result without a valid id")
        return Response(rid, obj["result"])
    if "error" in obj:
        err = obj["error"]
        rid = obj.get("id")
        if not isinstance(err, dict):
            return Malformed("an error that is not an object")
        code = err.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return Malformed("an error without an integer code")
        message = err.get("message")
        return ErrorResponse(
            rid if _valid_id(rid) else None,
            code,
            message if isinstance(message, str) else "",
            err.get("data"),
        )
    if "warning" in obj:
        warning = obj["warning"]
        if not isinstance(warning, dict):
            return Malformed("a warning that is not an object")
        code = warning.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return Malformed("a warning without an integer code")
        return CortexWarning(code, warning.get("message"))
    return Malformed("none of sid, result, error, warning")


def _valid_id(rid: Any) -> bool:
    return (isinstance(rid, int) and not isinstance(rid, bool)) or isinstance(rid, str)


class RequestBuilder:
    """Numbers requests and encodes them; one per connection."""

    def __init__(self, start: int = 1) -> None:
        self._ids: Iterator[int] = itertools.count(start)

    def build(self, method: str, params: Mapping[str, Any] | None = None) -> tuple[int, str]:
        """The id and the JSON text of a request."""
        rid = next(self._ids)
        request: JsonObject = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = dict(params)
        return rid, json.dumps(request, separators=(",", ":"))


# Parameters that identify the application: logged shortened (enough to tell two apps
# apart, not enough to reuse; a client id's random part is half a credential).
IDENTITY_PARAMS = frozenset({"clientId", "client_id"})
IDENTITY_SHOWN = 4


def redact(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of request parameters safe to log: secret values replaced, client ids
    shortened."""
    if not params:
        return {}
    return {k: _redacted(k, v) for k, v in params.items()}


def _redacted(key: str, value: Any) -> Any:
    if key in SECRET_PARAMS:
        return "***"
    if key in IDENTITY_PARAMS and isinstance(value, str) and len(value) > 2 * IDENTITY_SHOWN:
        return value[:IDENTITY_SHOWN] + "..."
    return value


def data_stream_key(frame: Mapping[str, Any]) -> str | None:
    """The stream name of a data sample: its one key other than ``sid`` and ``time``."""
    for key in frame:
        if key != "sid" and key != "time":
            return key
    return None
