"""Rules for the URLs, URIs and host names a configuration names, checked at load time,
and how a URL is shown: never with its user name or password.

A URL may carry ``user:password@`` (a proxy in front of a remote Cortex); the bridge
uses it to connect, but every log line and error message goes through :func:`shown_url`
or :func:`scrub_userinfo`, so credentials written into a URL stay out of the journal.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

STREAM_URI_SCHEMES: Final = ("rtmp", "rtsp", "rtmps")
MAX_HOST_LENGTH: Final = 253
"""RFC 1035: a name is at most 253 characters written out, each label at most 63."""
MAX_LABEL_LENGTH: Final = 63
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
# ``scheme://userinfo@`` anywhere in a text: what :func:`scrub_userinfo` removes.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?:[^/\s@?#'\"]*@)+")


def check_stream_uri(uri: str) -> str:
    """The URI if Emogg can pull it (rtmp, rtsp or rtmps with a host); else ValueError.

    The message names the scheme only: a stream URI often carries a stream key.
    """
    try:
        parts = urlsplit(uri.strip())
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise ValueError("is not a valid URI") from None
    scheme = parts.scheme.lower()
    if scheme not in STREAM_URI_SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"must be an rtmp://, rtsp:// or rtmps:// URI (got {shown})")
    if not host:
        raise ValueError(f"must name a host ({scheme}://HOST/...)")
    if host_problem(host) is not None:
        raise ValueError(f"its host is not a valid host name or address ({scheme}://HOST/...)")
    return uri.strip()


def host_problem(host: str) -> str | None:
    """Why ``host`` is neither an IP address nor a valid DNS name, or None if it is one.

    Checked at load time because the resolver and the TLS layer fail on a bad name with
    an exception (``label too long``) far from the key that caused it. Names with
    non-ASCII letters must encode with IDNA; underscores are tolerated (some LANs use them).
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if not text:
        return "the host is empty"
    name = text[:-1] if text.endswith(".") else text
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return f"{_short(text)} is not a valid host name"
    if len(name) > MAX_HOST_LENGTH:
        return f"the host name is {len(name)} characters long, at most {MAX_HOST_LENGTH} allowed"
    for label in name.split("."):
        if len(label) > MAX_LABEL_LENGTH:
            return (f"the host name has a label of {len(label)} characters, at most "
                    f"{MAX_LABEL_LENGTH} allowed between dots")
        if not _LABEL.fullmatch(label):
            return (f"{_short(text)} is not a valid host name (letters, digits and '-' "
                    "between dots, or an IP address)")
    return None


def url_problem(url: str, schemes: tuple[str, ...], *, port_required: bool) -> str | None:
    """Why ``url`` cannot be used, or None: the scheme, a host, a valid port (1-65535),
    required when ``port_required``. Messages show the URL without its userinfo."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"not a valid URL: {shown_url(url)!r} (is the port a number from 1 to 65535?)"
    wanted = " or ".join(f"{s}://" for s in schemes)
    if parts.scheme not in schemes or not parts.hostname:
        return f"must be a {wanted} URL with a host, got {shown_url(url)!r}"
    problem = host_problem(parts.hostname)
    if problem is not None:
        return problem
    if port == 0:
        return f"the port must be a number from 1 to 65535, got {shown_url(url)!r}"
    if port is None and port_required:
        return (f"must name the port (without one it would be {_default_port(parts)}), "
                f"e.g. {parts.scheme}://{parts.hostname}:6868, got {shown_url(url)!r}")
    return None


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme in ("wss", "https") else 80


def shown_url(url: str) -> str:
    """``url`` without ``user:password@``: the form every message and log line uses."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_userinfo(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def scrub_userinfo(text: str) -> str:
    """``text`` with the userinfo of every ``scheme://user:pass@`` in it removed, for
    texts that quote a URL we did not build (an exception's message)."""
    return _USERINFO.sub(r"\g<scheme>", text) if "@" in text else text


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
