"""hint_for: the setting that fixes a failed connection, from the exception and the URL."""

from __future__ import annotations

import socket
import ssl

from websockets.exceptions import InvalidMessage

from bridge.cortex.hints import hint_for


def verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    exc.verify_code = code
    exc.verify_message = message
    return exc


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def test_each_mistake_names_its_setting() -> None:
    url = "wss://192.168.1.20:6868"
    cases = [
        (verify_error(20, "unable to get local issuer certificate"), url, "cortex.ca_file"),
        (verify_error(20, "unable to get local issuer certificate"), url, "cortex.tls_verify"),
        (verify_error(64, "IP address mismatch"), url, "emotiv-cortex.remote"),
        (verify_error(10, "certificate has expired"), url, "cortex.ca_file"),
        (chained(InvalidMessage("did not receive a valid HTTP response"),
                 EOFError("connection closed")), "ws://h:6868", 'cortex.url = "wss://h:6868"'),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "wss://h:1",
         'cortex.url = "ws://h:1"'),
        (socket.gaierror(-2, "Name or service not known"), "wss://emotiv-cortex.remote:6868",
         "/etc/hosts"),
        (ConnectionRefusedError(111, "refused"), "wss://localhost:6868", "init remote"),
    ]
    for exc, where, needle in cases:
        hint = hint_for(exc, where)
        assert hint is not None and needle in hint, (exc, hint)


def test_nothing_to_add_gives_none() -> None:
    assert hint_for(None, "wss://h:1") is None
    assert hint_for(TimeoutError("no answer"), "wss://h:1") is None
    # A reset on a wss:// URL is a network problem, not a scheme mistake.
    assert hint_for(ConnectionResetError(), "wss://h:1") is None
    # A bad HTTP answer on wss:// is not the ws:// mistake either.
    assert hint_for(InvalidMessage("bad"), "wss://h:1") is None
