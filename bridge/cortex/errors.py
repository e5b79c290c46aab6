"""What the bridge does about every Cortex error code and warning: data, not branches.

Cortex answers a failed request with a JSON-RPC ``error`` and tells the client about
events with unsolicited ``warning`` objects (cortex_api.md §1.3, §6, §9). Each code that
the references document gets one row here: what it means, what the bridge does about it,
and one line for the operator. The lifecycle code looks the answer up instead of growing
an ``if`` per code, so a code seen for the first time in the field becomes one new row.

Sources (``source`` of each row): ``cortex_api.md`` §6 (warnings), §9.1 (v2+ errors),
§9.2 (1.x errors), ``cortex_api_more.md`` §F/§G (the complete lists found), and the
Cortex 1.x docs page ``seeds/001_*.txt`` ("Errors"), whose table gives the 1.x numbers.
Codes shared by both dialects mean the same in both (the 1.x table and the v2 sources
agree wherever both name a code), so one table serves both.

Pure: no I/O, nothing from asyncio, websockets or pylsl; tested with plain data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bridge.cortex.protocol import CortexError
from bridge.errors import BridgeError, ExitCode, Reconnect, Refused, UserActionNeeded

__all__ = [
    "ACTIVATION_ERRORS",
    "ERRORS",
    "METHOD_RULES",
    "WARNINGS",
    "Action",
    "ErrorRule",
    "WarningEvent",
    "WarningRule",
    "error_rule",
    "escalate",
    "warning_rule",
]


class Action(StrEnum):
    """What the bridge does about an error answer."""

    RETRY = "retry"  # transient: same call again after backoff
    REAUTHORIZE = "reauthorize"  # token invalid/expired: authorize, then retry
    REOPEN = "reopen"  # close the WebSocket and connect again
    WAIT_FOR_USER = "wait_for_user"  # the user must act in EMOTIV Launcher: one clear line
    # saying what to do, retried with a backoff growing to an hour
    RESTART_SESSION = "restart_session"  # close this headset's session, start it again
    DROP_STREAM = "drop_stream"  # this stream (or this one marker) cannot be had here:
    # never retried
    DEGRADE = "degrade"  # a licence limit: go on without it (e.g. open instead of active
    # session), said once
    FATAL = "fatal"  # end the bridge with ErrorRule.exit_code
    IGNORE = "ignore"  # nothing to do (the call's goal already holds)


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One error code: its name, the bridge's action, a line for the operator."""

    code: int
    name: str
    action: Action
    hint: str  # one line for the operator; never a secret
    source: str  # reference section / citation
    exit_code: ExitCode | None = None  # FATAL only


class WarningEvent(StrEnum):
    """What a warning tells the bridge (several codes can mean the same event)."""

    SESSION_ENDED = "session_ended"  # 0, 1: the session's subscriptions are gone
    HEADSET_LOST = "headset_lost"  # 103
    HEADSET_CONNECTED = "headset_connected"  # 104
    HEADSET_CONNECT_FAILED = "headset_connect_failed"  # 31, 100-102, 113
    SCAN_FINISHED = "scan_finished"  # 142
    ACCESS_NEEDED = "access_needed"  # 7: the user has not approved the application yet
    ACCESS_GRANTED = "access_granted"  # 9
    ACCESS_REJECTED = "access_rejected"  # 10
    USER_LOGGED_IN = "user_logged_in"  # 2: a wait for login can end now
    USER_LOGGED_OUT = "user_logged_out"  # 3, 16: the token is useless until login
    REOPEN_CONNECTION = "reopen_connection"  # 11, 12: "please re-open the connection"
    EULA_NOT_ACCEPTED = "eula_not_accepted"  # 6, 28
    EULA_ACCEPTED = "eula_accepted"  # 17: a wait for the EULA can end now
    LICENCE_NOTICE = "licence_notice"  # 26
    RECORD_SAVED = "record_saved"  # 18, 30
    PROFILE_CHANGED = "profile_changed"  # 13-15
    HEADSET_SETTINGS = "headset_settings"  # 110-112 (updateHeadset outcomes)
    DISK_SPACE = "disk_space"  # 19, 20
    CORTEX_READY = "cortex_ready"  # 23
    INFO = "info"  # nothing to act on; said at the row's level


@dataclass(frozen=True, slots=True)
class WarningRule:
    """One warning code: the event it means and how loudly to say it."""

    code: int
    name: str
    event: WarningEvent
    level: int  # logging level to say it at
    hint: str
    source: str


# Source citations, short: "A" = cortex_api.md, "M" = cortex_api_more.md, seed 001 = the
# Cortex 1.x docs page (its "Errors" table).
_A9 = "cortex_api.md §9.1"
_M_G = "cortex_api_more.md §G"
_V1 = "seeds/001 Errors (Cortex 1.x)"
_A6 = "cortex_api.md §6"
_M_F = "cortex_api_more.md §F"

_LAUNCHER = "EMOTIV Launcher"
_BUG = "the bridge sent a request Cortex could not use; retrying (please report it)"

_R, _RA, _W, _RS, _D, _DG, _F, _I = (
    Action.RETRY,
    Action.REAUTHORIZE,
    Action.WAIT_FOR_USER,
    Action.RESTART_SESSION,
    Action.DROP_STREAM,
    Action.DEGRADE,
    Action.FATAL,
    Action.IGNORE,
)

# (code, name, action, hint, source[, exit code])
_ERROR_ROWS: tuple[tuple[int, str, Action, str, str] | tuple[int, str, Action, str, str, ExitCode], ...] = (
    # JSON-RPC codes (docs headings, also in the 1.x table)
    (-32700, "PARSE_ERROR", _R, f"Cortex could not parse a request: {_BUG}",
     f"{_A9} [D]; {_M_G}; {_V1}"),
    (-32600, "INVALID_REQUEST", _R, f"Cortex rejected a request's shape: {_BUG}",
     f"{_A9} [D]; {_M_G}; {_V1}"),
    (-32601, "METHOD_NOT_FOUND", _DG,
     "this Cortex does not have the method (an older version); going on without it",
     f"{_A9} [D]; {_M_G}; {_V1}"),
    (-32602, "INVALID_PARAMS", _R, f"Cortex rejected a request's parameters: {_BUG}",
     f"{_A9} [D, O #105]; {_M_G}; {_V1}"),
    (-32603, "INTERNAL_ERROR", _R, "Cortex had an internal error; retrying",
     f"{_A9} [D]; {_M_G}; {_V1}"),
    # Cortex codes
    (-32000, "SERVER_INTERNAL_ERROR", _R,
     "the EMOTIV cloud had an error (maintenance?); retrying", f"{_A9} [D]; {_M_G}"),
    (-32001, "INVALID_USERNAME_PASSWORD", _F,
     "Cortex 1.x refused the user name or password: correct them in the configuration",
     f"{_V1}; cortex_api.md §9.2 [T]", ExitCode.AUTH),
    (-32002, "INVALID_LICENSE", _F,
     "the EMOTIV cloud does not know the licence id: correct cortex.license or leave it empty",
     f"{_A9} [D, O #130 #146 #184 #223]; {_M_G}; {_V1}; README exit code 3", ExitCode.AUTH),
    (-32003, "NO_INTERNET", _R,
     "Cortex cannot reach the EMOTIV cloud: check the internet connection of the computer "
     f"running {_LAUNCHER}; retrying", f"{_A9} [D]; {_M_G}; {_V1}"),
    (-32004, "HEADSET_NOT_FOUND", _RS,
     "the headset is not available (switched off, out of range, or a flaky dongle link); "
     "starting its session again", f"{_A9} [D, O #93]; {_M_G}; {_V1}"),
    (-32005, "SESSION_CONFLICT", _RS,
     "a session already exists on this headset; closing it and starting again",
     f"{_A9} [T]; {_V1}"),
    (-32006, "NO_LICENSE_TO_ACTIVATE", _DG,
     "no valid licence to activate a session: going on with an unactivated session "
     "(no EEG, low-rate performance metrics)", _V1),
    (-32007, "SESSION_NOT_FOUND", _RS,
     "Cortex no longer knows the session (closed or invalid); starting it again",
     f"{_A9} [T, D]; {_M_G}; {_V1}"),
    (-32008, "SESSION_CLOSED", _RS, "the session was closed; starting it again", _V1),
    (-32009, "SESSION_UPDATED", _R, "the session was being updated; retrying", _V1),
    (-32010, "SESSION_HEADSET_DISCONNECTED", _RS,
     "the session's headset was disconnected; starting its session again", _V1),
    (-32011, "RECORDING_STOPPED", _R, "the session's recording has been stopped; a new record is opened", _V1),
    (-32012, "SESSION_NOT_ACTIVATED", _DG,
     "this needs an activated session (a licence); going on without it",
     f"{_A9} [T]; {_V1}"),
    (-32013, "INVALID_STATUS", _R, f"Cortex rejected a session status: {_BUG}", _V1),
    (-32014, "TOKEN_INVALID", _RA, "Cortex refused the token; authorizing again",
     f"{_A9} [T]; {_V1}"),
    (-32015, "TOKEN_EXPIRED", _RA, "the Cortex token expired; authorizing again",
     f"{_A9} [T]; {_V1}"),
    (-32016, "STREAM_UNAVAILABLE", _D,
     "the stream is unavailable for this headset or licence (e.g. motion disabled, no EEG "
     "licence); going on without it", f"{_A9} [O #42 #48 #55]; {_M_G}; {_V1}"),
    (-32017, "RECORDING_STARTED", _I, "a recording is already running in this session", _V1),
    (-32018, "MISSING_PARAMS", _R, f"Cortex says a required parameter is missing: {_BUG}",
     f"{_A9} [O #129]; {_V1}"),
    (-32019, "SESSION_LIMIT", _DG,
     "the session limit on this device is reached (set cortex.debit above 0 to activate); "
     "going on with an unactivated session", f"{_A9} [O #22 #33 #42]; {_V1}"),
    (-32020, "USB_CABLE_REQUIRED", _DG,
     "Cortex 1.x wants the headset on its USB cable for this; going on without it", _V1),
    (-32021, "INVALID_CREDENTIALS", _F,
     "Cortex refused the client id or client secret: correct them in the configuration",
     f"{_A9} [O #174, D]; {_M_G}; {_V1}", ExitCode.AUTH),
    (-32022, "DEVICE_LIMIT", _W,
     "the EmotivID has reached its limit of devices: remove one in your EMOTIV account, "
     "the bridge retries", _V1),
    (-32023, "MISSING_CLIENT_ID", _F,
     "Cortex 1.x got no client id: set cortex.client_id in the configuration", _V1,
     ExitCode.CONFIG),
    (-32024, "LICENSE_EXPIRED", _W,
     f"the EMOTIV licence has expired: renew it (see {_LAUNCHER}); the bridge retries",
     f"{_A9} [T]; {_V1}"),
    (-32025, "DEBIT_TOO_HIGH", _F,
     "cortex.debit is greater than the licence's maxDebit: lower it in the configuration",
     _V1, ExitCode.CONFIG),
    (-32026, "DAILY_DEBIT_LIMIT", _W,
     "the licence's daily debit limit is exceeded: lower cortex.debit or wait for tomorrow; "
     "the bridge retries", _V1),
    (-32027, "NO_LICENSE_PERMISSION", _W,
     "the application may not use this licence: in your EMOTIV account give it access "
     "(or untick \"My App requires EEG access\"); the bridge retries",
     f"{_A9} [O #19 #145 #207]; {_V1}"),
    (-32028, "SESSION_SOFT_LIMIT", _DG,
     "the licence's session soft limit is exceeded; going on with an unactivated session",
     _V1),
    (-32029, "SESSION_HARD_LIMIT", _DG,
     "the licence's session hard limit is exceeded; going on with an unactivated session",
     _V1),
    (-32030, "SESSION_DATA_EXISTS", _R, "Cortex says the session data already exists; retrying",
     _V1),
    (-32031, "INVALID_PROFILE", _DG, "Cortex rejected the profile name; going on without it",
     f"{_A9} [T, O #144]; {_V1}"),
    (-32032, "USER_LOGGED_IN", _W,
     f"another EmotivID is logged in: log out in {_LAUNCHER} and log in with the right one; "
     "the bridge retries", f"{_A9} [T]; {_V1}"),
    (-32033, "NOT_LOGGED_IN", _W,
     f"nobody is logged in to Cortex: log in to {_LAUNCHER} with your EmotivID; "
     "the bridge retries", f"{_A9} [T]; {_V1}"),
    (-32034, "TOKEN_NOT_FIT", _RA,
     "the token belongs to another user (a new login?); authorizing again",
     f"{_A9} [E]; {_V1}"),
    (-32035, "ACCOUNT_MISMATCH", _RA,
     "the account does not match the logged-in user; authorizing again", _V1),
    (-32036, "PROFILE_ERROR", _DG, "Cortex could not process the profile; going on without it",
     f"{_A9} [T]; {_V1}"),
    (-32037, "TRAINING_NOT_SUPPORTED", _DG,
     "training for this action is not supported; going on without it", _V1),
    (-32038, "EXTENDER_NOT_FOUND", _R, "Cortex did not find the extender; retrying", _V1),
    (-32039, "REQUEST_TIMEOUT", _R, "a Cortex request timed out; retrying",
     f"{_A9} [T]; {_V1}"),
    (-32040, "MULTIPLE_ACTIVE_SESSIONS", _RS,
     "another session is active on this headset; closing it and starting again", _V1),
    (-32041, "EULA_NOT_ACCEPTED", _W,
     f"the user has not accepted the EULA: accept it in {_LAUNCHER}; the bridge retries",
     f"{_A9} [T]; {_V1}"),
    (-32044, "PROFILE_CONFLICT", _DG, "the profile is in conflict; going on without it",
     f"{_A9} [T]"),
    (-32046, "PROFILE_ACCESS_DENIED", _DG,
     "the profile is loaded by another application; going on without it",
     f"{_A9} [E, T]; {_M_G}"),
    (-32102, "NO_ACCESS_RIGHT", _W,
     f"the application is not approved: approve it in {_LAUNCHER}; the bridge retries",
     f"{_A9} [E]"),
    (-32108, "LOGIN_TOKEN_ERROR", _W,
     f"the EMOTIV cloud refused the user's login: log out of {_LAUNCHER} and log in again; "
     "the bridge retries", f"{_A9} [E]; {_M_G} (f)"),
    (-32109, "AUTHORIZE_TOKEN_ERROR", _RA, "Cortex had a token error; authorizing again",
     f"{_A9} [E]"),
    (-32115, "MARKER_TOO_OLD", _D,
     "the marker's time is too far in the past; this marker is dropped",
     f"{_A9} [O #154, D anchor]; {_M_G} (h)"),
    (-32130, "CLOUD_TOKEN_REFRESHING", _R, "Cortex is refreshing its cloud token; retrying",
     f"{_A9} [E]"),
    (-32135, "TOKEN_APP_MISMATCH", _RA,
     "the token does not match this application; authorizing again", f"{_A9} [E]"),
    (-32142, "APP_NOT_APPROVED", _W,
     "the application is not published/approved by EMOTIV: approve it in your EMOTIV "
     "account; the bridge retries", f"{_A9} [T]"),
    (-32152, "HEADSET_NOT_READY", _R, "the headset is not ready yet; retrying", f"{_A9} [T]"),
    (-32170, "NOT_REAUTHORIZED", _RA, "Cortex wants the application to authorize again",
     f"{_A9} [E]"),
    (-32232, "EEG_LICENSE_REQUIRED", _DG,
     "EEG needs a valid EEG licence (contact EMOTIV); going on without EEG", f"{_A9} [T]"),
)

# Per-method meanings that differ from the code's general one. (method, code, action, hint)
_METHOD_ROWS: tuple[tuple[str, int, Action, str], ...] = (
    # Subscribe refusals (failure items; bridge/cortex/session.py): a licence refusal is
    # asked for again within the session at a backoff growing to LICENCE_PATIENCE (a
    # licence bought meanwhile is found; issue 15: never a WARNING every 30 s); a stream
    # the headset's model never has (streams.MODEL_LACKS) is never asked for again,
    # whatever the code; a DROP_STREAM row is not asked for again in the session.
    ("subscribe", -32016, _R,
     "the stream is unavailable for this headset or licence (e.g. no EEG licence); asking "
     "again at a backoff growing to an hour, never for a stream the model does not have"),
    ("subscribe", -32012, _R,
     "the stream needs an activated session; asking again at a backoff growing to an hour"),
    ("subscribe", -32232, _R,
     "EEG needs a valid EEG licence; asking again at a backoff growing to an hour"),
    ("subscribe", -32602, _D,
     "this Cortex does not know the stream (an older version); not subscribing to it again"),
    # The headset went away under a new session: start over with it.
    ("createSession", -32004, _RS,
     "the headset is not available for a session; starting its session again"),
    # Licence limits at activation: an open session instead of an active one.
    *(
        (method, code, _DG,
         "the session could not be activated (licence); going on with an unactivated "
         "session: no EEG, low-rate performance metrics")
        for method in ("createSession", "updateSession")
        for code in (-32002, -32006, -32019, -32024, -32027, -32028, -32029)
    ),
    # Dialect and feature probes: their absence is an answer, not a fault.
    ("getCortexInfo", -32601, _DG, "no getCortexInfo: an older Cortex (1.x dialect?)"),
    ("syncWithHeadsetClock", -32601, _DG,
     "this Cortex has no syncWithHeadsetClock; using the wall clock"),
    # Connecting a headset that is not around yet: ask again later.
    ("controlDevice", -32004, _R, "the headset is not in range yet; retrying"),
    # A marker Cortex will never take is dropped; the stream of markers goes on.
    ("injectMarker", -32602, _D, "Cortex rejected the marker's parameters; this marker is dropped"),
    ("injectMarker", -32018, _D, "the marker missed a required parameter; this marker is dropped"),
    ("injectMarker", -32115, _D,
     "the marker's time is too far in the past; this marker is dropped"),
    # Undoing what is already undone (at shutdown; the session is closed next anyway).
    ("stopRecord", -32011, _I, "the recording was already stopped"),
)

UNKNOWN_ERROR_SOURCE = "not in the references: the bridge's safe default"
UNKNOWN_WARNING_SOURCE = UNKNOWN_ERROR_SOURCE


def _error_table(
    rows: Iterable[tuple[int, str, Action, str, str] | tuple[int, str, Action, str, str, ExitCode]],
) -> Mapping[int, ErrorRule]:
    table: dict[int, ErrorRule] = {}
    for row in rows:
        code, name, action, hint, source = row[:5]
        exit_code = row[5] if len(row) == 6 else None
        if code in table:
            raise ValueError(f"error {code} twice")
        table[code] = ErrorRule(code, name, action, hint, source, exit_code)
    return MappingProxyType(table)


ERRORS: Mapping[int, ErrorRule] = _error_table(_ERROR_ROWS)


def _method_table(rows: Iterable[tuple[str, int, Action, str]]) -> Mapping[tuple[str, int], ErrorRule]:
    table: dict[tuple[str, int], ErrorRule] = {}
    for method, code, action, hint in rows:
        general = ERRORS[code]
        if (method, code) in table:
            raise ValueError(f"{method} {code} twice")
        table[(method, code)] = ErrorRule(
            code, general.name, action, hint, f"{general.source}; {method}"
        )
    return MappingProxyType(table)


METHOD_RULES: Mapping[tuple[str, int], ErrorRule] = _method_table(_METHOD_ROWS)

# Codes that mean the licence does not allow an activated session: the rows on which
# createSession goes on with an unactivated one (derived, so the table stays the one
# source).
ACTIVATION_ERRORS: frozenset[int] = frozenset(
    code for (method, code), rule in METHOD_RULES.items()
    if method == "createSession" and rule.action is Action.DEGRADE
)


def error_rule(code: int, method: str = "") -> ErrorRule:
    """The rule for an error answer to ``method``; an unknown code gets a safe default.

    The default retries with backoff: it loses nothing (a transient fault heals, a
    permanent one is summarised by the caller's repeat logging) and names the code, so
    the operator can report it and it can become a row here.
    """
    rule = METHOD_RULES.get((method, code)) or ERRORS.get(code)
    if rule is not None:
        return rule
    where = f" to {method}" if method else ""
    return ErrorRule(
        code,
        "UNKNOWN",
        Action.RETRY,
        f"Cortex answered{where} with error {code}, which the bridge does not know; "
        "retrying with a backoff",
        UNKNOWN_ERROR_SOURCE,
    )


# ------------------------------------------------------------------------------ warnings

_DEBUG, _INFO, _WARNING, _ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR
_E = WarningEvent

# (code, name, event, level, hint, source)
_WARNING_ROWS: tuple[tuple[int, str, WarningEvent, int, str, str], ...] = (
    (0, "STREAMS_STOPPED", _E.SESSION_ENDED, _WARNING,
     "Cortex stopped the session's subscriptions (headset disconnected or session closed); "
     "starting the session again", f"{_A6} [D]; {_M_F}"),
    (1, "SESSION_CLOSED", _E.SESSION_ENDED, _WARNING,
     "Cortex closed the session (headset disconnected); starting it again",
     f"{_A6} [D]; {_M_F}"),
    (2, "USER_LOGGED_IN", _E.USER_LOGGED_IN, _INFO, f"a user logged in to {_LAUNCHER}",
     f"{_A6} [D]; {_M_F}"),
    (3, "USER_LOGGED_OUT", _E.USER_LOGGED_OUT, _WARNING,
     f"the user logged out of {_LAUNCHER}: log in again for the bridge to go on",
     f"{_A6} [D]; {_M_F}"),
    (4, "EXTENDER_EXPORT_SUCCESS", _E.INFO, _INFO, "an extender export succeeded",
     f"{_A6} [E]; {_M_F}"),
    (5, "EXTENDER_EXPORT_FAILED", _E.INFO, _WARNING, "an extender export failed",
     f"{_A6} [E]; {_M_F}"),
    (6, "EULA_NOT_ACCEPTED", _E.EULA_NOT_ACCEPTED, _WARNING,
     f"the user has not accepted the EULA: accept it in {_LAUNCHER}",
     f"{_A6} [E]; {_M_F}; cortex_api.md §2.2 authorize"),
    (7, "NO_ACCESS_RIGHT", _E.ACCESS_NEEDED, _WARNING,
     f"the application is not approved: approve it in {_LAUNCHER}", f"{_A6} [E]; {_M_F}"),
    (8, "ACCESS_RIGHT_REQUESTED", _E.INFO, _INFO,
     f"access was requested: approve the application in {_LAUNCHER}", f"{_A6} [E]; {_M_F}"),
    (9, "ACCESS_RIGHT_GRANTED", _E.ACCESS_GRANTED, _INFO,
     f"the user approved the application in {_LAUNCHER}", f"{_A6} [D]; {_M_F}"),
    (10, "ACCESS_RIGHT_REJECTED", _E.ACCESS_REJECTED, _ERROR,
     f"the user rejected the application in {_LAUNCHER}", f"{_A6} [D]; {_M_F}"),
    (11, "CANNOT_DETECT_OS_USER_INFO", _E.REOPEN_CONNECTION, _WARNING,
     "Cortex asks the application to re-open the connection; reconnecting",
     f"{_A6} [E, O #82]; {_M_F}"),
    (12, "CANNOT_DETECT_OS_USER_NAME", _E.REOPEN_CONNECTION, _WARNING,
     "Cortex could not detect the OS user; reconnecting", f"{_A6} [E]; {_M_F}"),
    (13, "PROFILE_LOADED", _E.PROFILE_CHANGED, _INFO, "a training profile was loaded",
     f"{_A6} [D]; {_M_F}"),
    (14, "PROFILE_UNLOADED", _E.PROFILE_CHANGED, _INFO, "a training profile was unloaded",
     f"{_A6} [D]; {_M_F}"),
    (15, "PROFILE_AUTO_UNLOADED", _E.PROFILE_CHANGED, _INFO, "Cortex unloaded a training profile",
     f"{_A6} [D]; {_M_F}"),
    (16, "USER_LOGGED_IN_OTHER_OS_USER", _E.USER_LOGGED_OUT, _WARNING,
     f"the user is logged in to {_LAUNCHER} under another OS account: log in under the "
     "account Cortex runs in", f"{_A6} [E]; {_M_F}"),
    (17, "EULA_ACCEPTED", _E.EULA_ACCEPTED, _INFO, "the user accepted the EULA",
     f"{_A6} [D]; {_M_F}"),
    (18, "RECORD_SAVED", _E.RECORD_SAVED, _INFO, "a record's data has been saved",
     f"{_A6} [D, E]; {_M_F}"),
    (19, "DISK_SPACE_LOW", _E.DISK_SPACE, _WARNING,
     "the disk of the computer running Cortex has less than 1 GB free",
     f"{_A6} [D]; {_M_F}"),
    (20, "DISK_SPACE_CRITICAL", _E.DISK_SPACE, _ERROR,
     "the disk of the computer running Cortex has less than 300 MB free: Cortex disconnects "
     "every headset until space is freed", f"{_A6} [D]; {_M_F}"),
    (21, "WARNING_21", _E.INFO, _INFO, "Cortex warning 21 (added in 2.2.1, meaning not documented)",
     f"{_A6} [D]; {_M_F}"),
    (22, "WARNING_22", _E.INFO, _INFO, "Cortex warning 22 (added in 2.2.1, meaning not documented)",
     f"{_A6} [D]; {_M_F}"),
    (23, "CORTEX_READY", _E.CORTEX_READY, _INFO, "Cortex is ready", f"{_A6} [E]; {_M_F}"),
    (26, "LICENSE_EXPIRING", _E.LICENCE_NOTICE, _WARNING,
     "the EMOTIV licence will expire in a few days", f"{_A6} [D]; {_M_F}"),
    (28, "PRIVATE_EULA_NOT_ACCEPTED", _E.EULA_NOT_ACCEPTED, _WARNING,
     f"the user has not accepted the private EULA: accept it in {_LAUNCHER}",
     f"{_A6} [E]; {_M_F}"),
    (30, "RECORD_POST_PROCESSING_DONE", _E.RECORD_SAVED, _INFO,
     "a record's post-processing is done", f"{_A6} [E]; {_M_F}"),
    (31, "BLUETOOTH_PERMISSION", _E.HEADSET_CONNECT_FAILED, _WARNING,
     "EMOTIV Launcher lacks the Bluetooth permission: grant it in the OS settings",
     f"{_A6} [E]; {_M_F}"),
    (100, "HEADSET_WRONG_INFORMATION", _E.HEADSET_CONNECT_FAILED, _WARNING,
     "Cortex got wrong information from the headset; it could not be connected",
     f"{_A6} [E]; {_M_F}"),
    (101, "HEADSET_CANNOT_CONNECT", _E.HEADSET_CONNECT_FAILED, _WARNING,
     "the headset could not be connected: check it is on and in range",
     f"{_A6} [E]; {_M_F}"),
    (102, "HEADSET_CONNECTING_TIMEOUT", _E.HEADSET_CONNECT_FAILED, _WARNING,
     "connecting the headset timed out: check it is on and in range", f"{_A6} [E]; {_M_F}"),
    (103, "HEADSET_DISCONNECTED_TIMEOUT", _E.HEADSET_LOST, _WARNING,
     "Cortex disconnected the headset after 30 s without data: check it is on and in range",
     f"{_A6} [E, O #196]; {_M_F}"),
    (104, "HEADSET_CONNECTED", _E.HEADSET_CONNECTED, _INFO, "a headset connected",
     f"{_A6} [E]; {_M_F}"),
    (110, "HEADSET_SETTINGS_UPDATED", _E.HEADSET_SETTINGS, _INFO,
     "the headset's settings were updated", f"{_A6} [D]; {_M_F}"),
    (111, "HEADSET_SETTINGS_FAILED", _E.HEADSET_SETTINGS, _WARNING,
     "updating the headset's settings failed", f"{_A6} [D]; {_M_F}"),
    (112, "HEADSET_CANNOT_WORK_WITH_BTLE", _E.HEADSET_SETTINGS, _WARNING,
     "the headset's setting cannot work over Bluetooth (128 Hz, motion off needed)",
     f"{_A6} [D, E]; {_M_F}"),
    (113, "HEADSET_CANNOT_CONNECT_DISABLE_MOTION", _E.HEADSET_CONNECT_FAILED, _WARNING,
     "the headset could not be connected: disable its motion sensors and try again",
     f"{_A6} [E]; {_M_F}"),
    (142, "HEADSET_SCANNING_FINISHED", _E.SCAN_FINISHED, _DEBUG, "the headset scan finished",
     f"{_A6} [D, E]; {_M_F}"),
)


def _warning_table(
    rows: Iterable[tuple[int, str, WarningEvent, int, str, str]],
) -> Mapping[int, WarningRule]:
    table: dict[int, WarningRule] = {}
    for code, name, event, level, hint, source in rows:
        if code in table:
            raise ValueError(f"warning {code} twice")
        table[code] = WarningRule(code, name, event, level, hint, source)
    return MappingProxyType(table)


WARNINGS: Mapping[int, WarningRule] = _warning_table(_WARNING_ROWS)


def warning_rule(code: int) -> WarningRule:
    """The rule for a warning; an unknown code is said at INFO and acted on by nobody."""
    rule = WARNINGS.get(code)
    if rule is not None:
        return rule
    return WarningRule(
        code,
        "UNKNOWN",
        WarningEvent.INFO,
        logging.INFO,
        f"Cortex warning {code}, which the bridge does not know",
        UNKNOWN_WARNING_SOURCE,
    )


# ------------------------------------------------------------------------- escalation


# How long the bridge waits at most between two tries while the user must act: a login,
# an agreement or an approval is found within 5 minutes; a licence (bought, renewed, its
# daily debit reset) within the hour (issue 15).
USER_PATIENCE = 300.0
LICENCE_PATIENCE = 3600.0
LICENCE_WAITS = frozenset({-32022, -32024, -32026, -32027})  # device limit, expired,
# daily debit, no permission to use the licence


def escalate(exc: CortexError) -> BridgeError:
    """What an error answer becomes where a connection or a session gives up on it: the
    rule's action as an exception :func:`bridge.supervise.classify` understands.

    FATAL ends the bridge with the rule's exit code and hint; WAIT_FOR_USER waits
    patiently with one line saying what to do; REOPEN reconnects at once; everything else
    stays the :class:`CortexError` it was (retried with backoff, or a session restart
    where a session gave up)."""
    rule = error_rule(exc.code, exc.method)
    if rule.action is Action.FATAL:
        return Refused(f"{rule.hint} (Cortex error {exc.code} to {exc.method})",
                       rule.exit_code or ExitCode.FAILURE)
    if rule.action is Action.WAIT_FOR_USER:
        patience = LICENCE_PATIENCE if exc.code in LICENCE_WAITS else USER_PATIENCE
        return UserActionNeeded(f"{rule.hint} (Cortex error {exc.code})", patience)
    if rule.action is Action.REOPEN:
        return Reconnect(f"Cortex error {exc.code} to {exc.method}: {rule.hint}")
    return exc
