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
    peer asked us to wait at least this long. ``user_action``: only the user can cure it
    (log in, accept the licence agreement), said in one line; retried patiently."""

    retry_after: float = 0.0
    user_action: str = ""


class Reconnect(Transient):
    """Drop this connection and open a new one at once (a reload, a silent peer, Cortex
    asking to re-open the connection)."""


class Refused(BridgeError):
    """The service refused in a way no retry can change; ends the bridge with the exit
    code the refusal calls for."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UserActionNeeded(Transient):
    """Cortex waits for the user (not logged in, licence agreement, approval of the
    application): the message says what to do; retried with a backoff growing to
    ``patience`` (a login is found within minutes, a licence bought within the hour)."""

    def __init__(self, action: str, patience: float = 300.0) -> None:
        super().__init__(action)
        self.user_action = action
        self.patience = patience


class ConfigError(BridgeError):
    """One or more configuration problems, each a line naming the key."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class AuthError(BridgeError):
    """Cortex refused the client id/secret, or the user rejected the application."""

    exit_code = ExitCode.AUTH
