"""systemd's notification protocol (``sd_notify``) without libsystemd.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``: a Unix datagram socket (a path,
or ``@name`` for the abstract namespace) to which the service sends newline-separated
``KEY=VALUE`` lines: ``READY=1`` once it serves, ``STATUS=...`` for ``systemctl status``,
``WATCHDOG=1`` at least every ``$WATCHDOG_USEC`` (or systemd kills and restarts it),
``RELOADING=1`` and ``STOPPING=1``. Outside systemd the variable is unset and every call
here does nothing. Sending never raises: a missing socket must not stop the bridge.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """One datagram socket to ``$NOTIFY_SOCKET``; a no-op when it is not set."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):
            self._address = b"\0" + address[1:].encode()  # the abstract namespace
        elif address.startswith("/"):
            self._address = address
        self._socket: socket.socket | None = None
        self._failed = False
        self.watchdog_interval = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False if not sent (never raises)."""
        if self._address is None:
            return False
        message = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            if not self._failed:  # say it once: the watchdog would repeat it every few seconds
                self._failed = True
                log.warning("cannot notify systemd (%s)", exc.strerror or exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled
    advises; None without a watchdog, or when ``$WATCHDOG_PID`` names another process."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
