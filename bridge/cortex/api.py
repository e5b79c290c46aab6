"""Typed Cortex calls: parameter names and result shapes in one place.

Each method sends exactly the documented parameter names (cortex_api.md §2 to §8) and
checks the shape of what comes back, raising :class:`ShapeError` (a malformed answer,
counted by the daemon) rather than letting a ``KeyError`` escape.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.clock import SyncReading
from bridge.errors import BridgeError, Transient


class ShapeError(Transient):
    """Cortex answered, but not in the documented shape."""


class Requester(Protocol):
    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class Subscription:
    """One ``success`` item of ``subscribe``: the stream, its columns and the session id."""

    stream: str
    cols: list[Any]
    sid: str


@dataclass(frozen=True, slots=True)
class SubscribeFailure:
    """A stream Cortex did not subscribe. ``permanent``: this Cortex has no such stream
    at all (a 1.x service asked for ``eq``), so retrying cannot help; otherwise (licence,
    headset not ready) the daemon retries."""

    stream: str
    code: int
    message: str
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class AccessState:
    granted: bool
    message: str


def _obj(value: Any, method: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{method}: expected an object, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str, method: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ShapeError(f"{method}: result has no string '{key}'")
    return value


class CortexApi:
    """The Cortex v2 methods the bridge uses, on top of any :class:`Requester`."""

    def __init__(self, conn: Requester) -> None:
        self._conn = conn
        self.token: str | None = None
        self.authorize_warning: dict[str, Any] | None = None
        self.dialect_note = ""  # what dialect detection found, and from what (check says it)

    def _token(self) -> str:
        if self.token is None:
            raise BridgeError("not authorized with Cortex yet")
        return self.token

    async def get_cortex_info(self) -> dict[str, Any]:
        return _obj(await self._conn.request("getCortexInfo"), "getCortexInfo")

    async def has_access_right(self, client_id: str, client_secret: str) -> AccessState:
        return await self._access("hasAccessRight", client_id, client_secret)

    async def request_access(self, client_id: str, client_secret: str) -> AccessState:
        return await self._access("requestAccess", client_id, client_secret)

    async def _access(self, method: str, client_id: str, client_secret: str) -> AccessState:
        result = _obj(
            await self._conn.request(
                method, {"clientId": client_id, "clientSecret": client_secret}
            ),
            method,
        )
        granted = result.get("accessGranted")
        if not isinstance(granted, bool):
            raise ShapeError(f"{method}: result has no boolean 'accessGranted'")
        message = result.get("message")
        return AccessState(granted, message if isinstance(message, str) else "")

    async def authorize(
        self, client_id: str, client_secret: str, license_id: str = "", debit: int = 0
    ) -> str:
        """Authorize and keep the token; ``license`` is omitted unless configured."""
        params: dict[str, Any] = {"clientId": client_id, "clientSecret": client_secret}
        if license_id:
            params["license"] = license_id
        if debit:
            params["debit"] = debit
        result = _obj(await self._conn.request("authorize", params), "authorize")
        self.token = _str(result, "cortexToken", "authorize")
        # The docs' result may carry a warning (6: licence agreement not accepted, ...).
        warning = result.get("warning")
        self.authorize_warning = warning if isinstance(warning, dict) else None
        return self.token

    async def generate_new_token(self, client_id: str, client_secret: str) -> str:
        result = _obj(
            await self._conn.request(
                "generateNewToken",
                {"cortexToken": self._token(), "clientId": client_id, "clientSecret": client_secret},
            ),
            "generateNewToken",
        )
        self.token = _str(result, "cortexToken", "generateNewToken")
        return self.token

    async def query_headsets(self, headset_id: str | None = None) -> list[dict[str, Any]]:
        params = {"id": headset_id} if headset_id else {}
        result = await self._conn.request("queryHeadsets", params)
        if not isinstance(result, list):
            raise ShapeError("queryHeadsets: expected an array")
        return [h for h in result if isinstance(h, dict) and isinstance(h.get("id"), str)]

    async def control_device(self, command: str, headset: str | None = None) -> Any:
        params: dict[str, Any] = {"command": command}
        if headset is not None:
            params["headset"] = headset
        return await self._conn.request("controlDevice", params)

    async def create_session(self, headset: str, status: str) -> dict[str, Any]:
        result = await self._conn.request(
            "createSession", {"cortexToken": self._token(), "headset": headset, "status": status}
        )
        return _obj(result, "createSession")

    async def update_session(self, session: str, status: str) -> dict[str, Any]:
        result = await self._conn.request(
            "updateSession", {"cortexToken": self._token(), "session": session, "status": status}
        )
        return _obj(result, "updateSession")

    async def query_sessions(self) -> list[dict[str, Any]]:
        result = await self._conn.request("querySessions", {"cortexToken": self._token()})
        if not isinstance(result, list):
            raise ShapeError("querySessions: expected an array")
        return [s for s in result if isinstance(s, dict)]

    async def subscribe(
        self, session: str, streams: Sequence[str]
    ) -> tuple[list[Subscription], list[SubscribeFailure]]:
        result = _obj(
            await self._conn.request(
                "subscribe",
                {"cortexToken": self._token(), "session": session, "streams": list(streams)},
            ),
            "subscribe",
        )
        success: list[Subscription] = []
        for item in result.get("success") or []:
            if (
                isinstance(item, dict)
                and isinstance(item.get("streamName"), str)
                and isinstance(item.get("cols"), list)
                and isinstance(item.get("sid"), str)
            ):
                success.append(Subscription(item["streamName"], item["cols"], item["sid"]))
            else:
                raise ShapeError("subscribe: a success item lacks streamName, cols or sid")
        failure: list[SubscribeFailure] = []
        for item in result.get("failure") or []:
            if isinstance(item, dict) and isinstance(item.get("streamName"), str):
                code = item.get("code")
                message = item.get("message")
                failure.append(
                    SubscribeFailure(
                        item["streamName"],
                        code if isinstance(code, int) else 0,
                        message if isinstance(message, str) else "",
                    )
                )
        return success, failure

    async def unsubscribe(self, session: str, streams: Sequence[str]) -> Any:
        return await self._conn.request(
            "unsubscribe",
            {"cortexToken": self._token(), "session": session, "streams": list(streams)},
        )

    async def sync_with_headset_clock(self, headset: str) -> SyncReading:
        """One clock exchange; the caller keeps the reading with the shortest round trip."""
        sent = time.monotonic()
        result = _obj(
            await self._conn.request(
                "syncWithHeadsetClock",
                {"headset": headset, "monotonicTime": sent, "systemTime": time.time()},
            ),
            "syncWithHeadsetClock",
        )
        round_trip = time.monotonic() - sent
        adjustment = result.get("adjustment")
        if not isinstance(adjustment, int | float) or isinstance(adjustment, bool):
            raise ShapeError("syncWithHeadsetClock: result has no numeric 'adjustment'")
        return SyncReading(float(adjustment), round_trip)

    async def get_detection_info(self, detection: str) -> dict[str, Any]:
        result = await self._conn.request("getDetectionInfo", {"detection": detection})
        return _obj(result, "getDetectionInfo")

    async def create_record(self, session: str, title: str, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"cortexToken": self._token(), "session": session, "title": title}
        params.update({k: v for k, v in extra.items() if v is not None})
        return _obj(await self._conn.request("createRecord", params), "createRecord")

    async def get_record_infos(self, record_ids: list[str]) -> list[dict[str, Any]]:
        """Record objects with their markers (cortex_api_more.md §C.6: the shape is not
        documented; the simulator's is an array of records, each with ``markers``)."""
        result = await self._conn.request(
            "getRecordInfos", {"cortexToken": self._token(), "recordIds": record_ids}
        )
        if not isinstance(result, list):
            raise ShapeError(f"getRecordInfos: expected an array, got {type(result).__name__}")
        return [r for r in result if isinstance(r, dict)]

    async def stop_record(self, session: str) -> dict[str, Any]:
        result = await self._conn.request(
            "stopRecord", {"cortexToken": self._token(), "session": session}
        )
        return _obj(result, "stopRecord")

    async def inject_marker(
        self,
        session: str,
        time_ms: float,
        value: str | int,
        label: str,
        port: str | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "cortexToken": self._token(),
            "session": session,
            "time": time_ms,
            "value": value,
            "label": label,
        }
        if port:
            params["port"] = port
        if extras:
            params["extras"] = dict(extras)
        return _obj(await self._conn.request("injectMarker", params), "injectMarker")


def token_expiry(token: str) -> float | None:
    """The ``exp`` (epoch seconds) of a JWT-shaped Cortex token, or None if unreadable.

    Cortex tokens are JWTs (cortex_api.md §2.2); the signature is Cortex's business,
    we only read the payload to refresh the token before it expires.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None
