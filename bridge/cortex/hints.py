"""One line that names the fix for a failed connection to Cortex (pure).

The exception says what went wrong in the terms of the library that raised it
("certificate verify failed: unable to get local issuer certificate", "did not receive a
valid HTTP response"); a user needs the setting to change. :func:`hint_for` looks through
the exception's chain and the URL and returns that, or None when it has nothing better to
say than the error itself. A table of (test, hint) pairs, first match wins.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from websockets.exceptions import InvalidMessage

REMOTE_HOST = "emotiv-cortex.remote"
CA_HINT = ("Emotiv's rootCA.pem (certificates/rootCA.pem in Emotiv/cortex-example)")
# OpenSSL verify codes (X509_V_ERR_*).
CERT_HAS_EXPIRED = 10
HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _verify_code(exc: BaseException) -> int | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return int(exc.verify_code or 0)
    return None


def _name_mismatch(exc: BaseException, url: str) -> str | None:
    if _verify_code(exc) not in (HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH):
        return None
    host = urlsplit(url).hostname or "?"
    return (f"Cortex's certificate is not issued for {host}: connect by the name in it; for "
            f"Emotiv's remote Cortex set cortex.url = \"wss://{REMOTE_HOST}:6868\" and map "
            f"{REMOTE_HOST} to the Cortex machine's address in /etc/hosts")


def _expired(exc: BaseException, url: str) -> str | None:
    if _verify_code(exc) != CERT_HAS_EXPIRED:
        return None
    return (f"a certificate has expired (Emotiv replaced its CA in December 2023): point "
            f"cortex.ca_file at the current {CA_HINT}")


def _untrusted(exc: BaseException, url: str) -> str | None:
    if _verify_code(exc) is None:
        return None
    return (f"Cortex's certificate is not signed by a CA this machine trusts: set "
            f"cortex.ca_file to {CA_HINT}; cortex.tls_verify = false skips the check "
            "(only on a network you trust)")


def _plain_against_tls(exc: BaseException, url: str) -> str | None:
    if urlsplit(url).scheme != "ws":
        return None
    if not isinstance(exc, InvalidMessage | EOFError | ConnectionResetError):
        return None
    secure = urlsplit(url)._replace(scheme="wss").geturl()
    return f"Cortex speaks TLS: set cortex.url = \"{secure}\" (wss://, not ws://)"


def _tls_against_plain(exc: BaseException, url: str) -> str | None:
    if urlsplit(url).scheme != "wss" or not isinstance(exc, ssl.SSLError):
        return None
    if isinstance(exc, ssl.SSLCertVerificationError):
        return None
    if "WRONG_VERSION_NUMBER" not in str(exc) and "record layer" not in str(exc):
        return None
    plain = urlsplit(url)._replace(scheme="ws").geturl()
    return (f"the server does not speak TLS: if it is a plain WebSocket (the simulator with "
            f"--no-tls), set cortex.url = \"{plain}\"")


def _unknown_name(exc: BaseException, url: str) -> str | None:
    if not isinstance(exc, socket.gaierror):
        return None
    host = urlsplit(url).hostname or "?"
    return (f"the name {host} does not resolve: map it to the Cortex machine's address in "
            f"/etc/hosts (e.g. \"192.168.1.20 {host}\") or set cortex.url to its address")


def _nobody_listens(exc: BaseException, url: str) -> str | None:
    if not isinstance(exc, ConnectionRefusedError):
        return None
    return ("nothing listens there: is the EMOTIV Launcher running on that machine? Cortex "
            "runs on Windows, macOS and Raspberry Pi, not on Linux: for Cortex on another "
            "machine set cortex.url (cortex-bridge init remote writes such a config)")


HINTS: tuple[Callable[[BaseException, str], str | None], ...] = (
    _name_mismatch,
    _expired,
    _untrusted,
    _plain_against_tls,
    _tls_against_plain,
    _unknown_name,
    _nobody_listens,
)


def hint_for(exc: BaseException | None, url: str) -> str | None:
    """The fix for ``exc`` (raised connecting to ``url``), or None."""
    if exc is None:
        return None
    for link in _chain(exc):
        for rule in HINTS:
            hint = rule(link, url)
            if hint is not None:
                return hint
    return None


__all__ = ["hint_for"]
