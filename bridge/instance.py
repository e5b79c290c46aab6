"""One bridge per configuration and per headset on a host.

Two bridges started with the same configuration inject every marker twice, take each
other's sessions every few seconds and publish outlets with the same source ids (issue
16: 285 duplicate markers in 30 s). Each running bridge therefore holds an advisory lock
(``flock``) on a file named after its configuration, and one per headset it bridges;
a second bridge finds the lock held and says who holds it. The kernel drops the locks
when a process ends, however it ends, so a crash leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

from bridge.config import Settings
from bridge.errors import BridgeError
from bridge.status.service import settings_digest

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class AlreadyRunning(BridgeError):
    """Another bridge holds the lock."""


def lock_directory() -> Path:
    """systemd's ``RuntimeDirectory``, else the user's runtime directory, else a
    directory of this user's under the temporary directory."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "cortex-bridge"
    return Path(tempfile.gettempdir()) / f"cortex-bridge-{os.getuid()}"


class Lock:
    """An ``flock`` on ``directory/name.lock`` holding the owner's pid and start time."""

    def __init__(self, name: str, directory: Path | None = None) -> None:
        self.path = (directory or lock_directory()) / f"{SAFE_NAME.sub('_', name)}.lock"
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; None when taken, else who holds it (one line)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()}, started {started}".encode())
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def claim_config(settings: Settings, directory: Path | None = None) -> Lock:
    """The configuration's lock, or :class:`AlreadyRunning` naming the bridge that has it."""
    lock = Lock(f"config-{settings_digest(settings)}", directory)
    holder = lock.acquire()
    if holder is not None:
        raise AlreadyRunning(
            f"another cortex-bridge already runs this configuration ({holder}; lock "
            f"{lock.path}); stop it first, or give this one other headsets or outlet names"
        )
    return lock
