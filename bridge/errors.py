"""Exit codes and the exceptions that map onto them.

A user mistake (bad config, wrong credentials) ends in a clear one-line message and a
documented exit code, never a traceback: the CLI catches these types and nothing else.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of the ``cortex-bridge`` command (README, "Exit codes")."""

    OK = 0
    FAILURE = 1  # a runtime failure, or `check` found a problem
    CONFIG = 2  # bad command line or configuration
    AUTH = 3  # Cortex refused the credentials, or the user rejected access
    INTERRUPTED = 130  # 128 + SIGINT: stopped with Ctrl-C


class BridgeError(Exception):
    """An error with a message meant for the operator; carries its exit code."""

    exit_code: ExitCode = ExitCode.FAILURE


class Transient(BridgeError):
    """A failure of the outside world that a new attempt may cure (a lost connection, an
    error answer, an answer of the wrong shape): :func:`bridge.supervise.classify` retries
    these, and every other :class:`BridgeError` ends the bridge. ``retry_after``: the
    peer asked us to wait at least this long."""

    retry_after: float = 0.0


class ConfigError(BridgeError):
    """One or more configuration problems, each a line naming the key."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class AuthError(BridgeError):
    """Cortex refused the client id/secret, or the user rejected the application."""

    exit_code = ExitCode.AUTH
