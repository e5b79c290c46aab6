"""Log lines for a terminal or for journald.

Under systemd stderr goes to the journal, which stamps every line itself and reads a
``<N>`` prefix as the line's priority (sd-daemon(3)), so that ``journalctl -p warning``
picks out warnings and errors. systemd says stderr is the journal by setting
``JOURNAL_STREAM=<device>:<inode>`` of that stream: the prefix is used only when stderr
still is that stream (a child whose stderr was redirected inherits the variable).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TextIO

TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"  # journald adds the time and the unit

# syslog priorities: 3 err, 4 warning, 6 info, 7 debug (sd-daemon(3)).
PRIORITIES = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
DEBUG_PRIORITY = 7


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (CRITICAL and ERROR are both 3)."""
    for threshold, value in PRIORITIES:
        if levelno >= threshold:
            return value
    return DEBUG_PRIORITY


def is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream ``JOURNAL_STREAM`` names."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False  # a replaced stream (pytest, an embedder) is no journal
    return value == f"{st.st_dev}:{st.st_ino}"


class JournalFormatter(logging.Formatter):
    """``<N>logger: message``, the prefix on every line of a multi-line record (journald
    stores each line as an entry of its own)."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def formatter_for(stream: TextIO, environ: Mapping[str, str] | None = None) -> logging.Formatter:
    return JournalFormatter() if is_journal(stream, environ) else logging.Formatter(
        TERMINAL_FORMAT)


__all__ = ["JournalFormatter", "formatter_for", "is_journal", "priority"]
