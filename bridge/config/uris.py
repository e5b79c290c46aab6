"""Rules for the URLs and URIs a configuration names, checked at load time."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

STREAM_URI_SCHEMES: Final = ("rtmp", "rtsp", "rtmps")


def check_stream_uri(uri: str) -> str:
    """The URI if Emogg can pull it (rtmp, rtsp or rtmps with a host); else ValueError.

    The message names the scheme only: a stream URI often carries a stream key.
    """
    try:
        parts = urlsplit(uri.strip())
        host = parts.hostname
    except ValueError:
        raise ValueError("is not a valid URI") from None
    scheme = parts.scheme.lower()
    if scheme not in STREAM_URI_SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"must be an rtmp://, rtsp:// or rtmps:// URI (got {shown})")
    if not host:
        raise ValueError(f"must name a host ({scheme}://HOST/...)")
    return uri.strip()
