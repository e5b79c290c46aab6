"""Emogg's REST API: the few session calls the source makes, over stdlib ``http.client``.

The source makes a handful of requests per run (create, get, stop), so a blocking
client run in a worker thread (``asyncio.to_thread``) is enough and needs no new
dependency. The token goes only into the ``Authorization`` header; it is never part of
an exception, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bridge.sources.emogg.protocol import rate_limit_reset, rest_error_message

__all__ = ["EmoggHttpError", "EmoggRest", "Reply"]


class EmoggHttpError(Exception):
    """Emogg answered with an error status (the body's ``message``, never the request)."""

    def __init__(self, method: str, path: str, status: int, message: str,
                 retry_after: float | None = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{method} {path}: {status} {message}")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    data: Any


class EmoggRest:
    """``POST /v1/sessions`` and friends against ``api_url`` (``https://api.emogg.com/v1``)."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0) -> None:
        parts = urlsplit(api_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._ssl = ssl.create_default_context() if self._https else None

    def __repr__(self) -> str:
        scheme = "https" if self._https else "http"
        return f"<EmoggRest {scheme}://{self._host}{self._base}>"

    async def create_session(self, name: str, stream_uri: str) -> dict[str, Any]:
        reply = await self.request("POST", "/sessions", {"name": name, "streamUri": stream_uri})
        return _session(reply)

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return _session(await self.request("GET", f"/sessions/{quote(session_id, safe='')}"))

    async def stop_session(self, session_id: str) -> dict[str, Any]:
        path = f"/sessions/{quote(session_id, safe='')}/stop"
        return _session(await self.request("POST", path))

    async def request(self, method: str, path: str, body: Any = None) -> Reply:
        """One request; :class:`EmoggHttpError` for a status >= 400, ``OSError`` or
        ``TimeoutError`` when Emogg cannot be reached."""
        return await asyncio.to_thread(self._request, method, path, body)

    def _request(self, method: str, path: str, body: Any) -> Reply:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Connection": "close",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self._base + path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            reply_headers = {k: v for k, v in response.getheaders()}
            status = response.status
        except http.client.HTTPException as exc:
            raise OSError(f"bad HTTP response from Emogg ({exc.__class__.__name__})") from None
        finally:
            conn.close()
        if status >= 400:
            raise EmoggHttpError(
                method, path, status, rest_error_message(status, raw),
                rate_limit_reset(reply_headers),
            )
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                raise OSError(f"{method} {path}: Emogg answered {status} with non-JSON") from None
        return Reply(status, reply_headers, data)


def _session(reply: Reply) -> dict[str, Any]:
    data = reply.data
    if not isinstance(data, dict) or not isinstance(data.get("_id"), str):
        raise OSError("Emogg answered without a session object")
    return data
