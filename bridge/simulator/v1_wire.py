"""Cortex 1.x on the wire: error codes, column names, row shapes, headset and marker
objects, as the seed page ``001`` (the 1.x docs) shows them. Data only, no state; the
service that uses them is :mod:`bridge.simulator.v1`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bridge.simulator.device import STATUS_CONNECTED, VirtualHeadset
from bridge.simulator.headsets import BANDS, COM_COLS, FAC_COLS
from bridge.simulator.jsonrpc import Code, RpcError

V1_PORT = 54321  # "The Cortex service listens on port 54321"
V1_TOKEN_LIFETIME_S = 172_800.0  # "Auth tokens are valid for 48 hours"
DEFAULT_TOKEN_LIFETIME_S = 259_200.0  # SimulatorConfig's (v2) default


class V1Code(IntEnum):
    """The 1.x error codes (seed page, "Errors"), names after their descriptions."""

    INVALID_USER = -32001
    INVALID_LICENSE = -32002
    NO_INTERNET = -32003
    NO_HEADSET = -32004
    SESSION_EXISTS = -32005
    NO_LICENSE_TO_ACTIVATE = -32006
    SESSION_NOT_FOUND = -32007
    SESSION_CLOSED = -32008
    SESSION_UPDATED = -32009
    HEADSET_DISCONNECTED = -32010
    RECORDING_STOPPED = -32011
    NOT_ACTIVATED = -32012
    INVALID_STATUS = -32013
    INVALID_TOKEN = -32014
    TOKEN_EXPIRED = -32015
    STREAM_UNAVAILABLE = -32016
    RECORDING_STARTED = -32017
    MISSING_PARAMS = -32018
    SESSION_LIMIT = -32019
    USB_ONLY = -32020
    INVALID_CLIENT = -32021
    DEVICE_LIMIT = -32022
    MISSING_CLIENT_ID = -32023
    LICENSE_EXPIRED = -32024
    DEBIT_TOO_HIGH = -32025
    DAILY_DEBIT = -32026
    NO_LICENSE_PERMISSION = -32027
    SOFT_LIMIT = -32028
    HARD_LIMIT = -32029
    SESSION_DATA_EXISTS = -32030
    INVALID_PROFILE = -32031
    LOGOUT_FIRST = -32032
    LOGIN_FIRST = -32033
    TOKEN_USER_MISMATCH = -32034
    ACCOUNT_MISMATCH = -32035
    PROFILE_ERROR = -32036
    TRAINING_UNSUPPORTED = -32037
    EXTENDER_NOT_FOUND = -32038
    TIMED_OUT = -32039
    MULTIPLE_ACTIVATION = -32040
    EULA_NOT_ACCEPTED = -32041


# Verbatim from the seed page's error table (its typographic quotes kept as ASCII).
V1_MESSAGES: Mapping[int, str] = {
    Code.PARSE_ERROR: "Invalid JSON was received by the server.",
    Code.INVALID_REQUEST: "The JSON sent is not a valid Request object.",
    Code.METHOD_NOT_FOUND: "The method does not exist / is not available.",
    Code.INVALID_PARAMS: "Invalid method parameter(s).",
    Code.INTERNAL_ERROR: "Internal JSON-RPC error.",
    V1Code.INVALID_USER: "Incorrect user name or password.",
    V1Code.INVALID_LICENSE: "Invalid license key.",
    V1Code.NO_INTERNET: "No Internet connection.",
    V1Code.NO_HEADSET: "No headset connected.",
    V1Code.SESSION_EXISTS: "There is an active session already with this headset.",
    V1Code.NO_LICENSE_TO_ACTIVATE: "No valid license to activate a new session.",
    V1Code.SESSION_NOT_FOUND: "Session does not exist.",
    V1Code.SESSION_CLOSED: "The session was closed.",
    V1Code.SESSION_UPDATED: "Current session has been updated.",
    V1Code.HEADSET_DISCONNECTED: "The headset of current session has been disconnected.",
    V1Code.RECORDING_STOPPED: "The recording of current session has been stopped.",
    V1Code.NOT_ACTIVATED: "The current session must be activated first.",
    V1Code.INVALID_STATUS: "Invalid status.",
    V1Code.INVALID_TOKEN: "Invalid auth token.",
    V1Code.TOKEN_EXPIRED: "Auth token expired.",
    V1Code.STREAM_UNAVAILABLE: "Stream unavailable or already been subscribed.",
    V1Code.RECORDING_STARTED: "The recording of current session has been started.",
    V1Code.MISSING_PARAMS: "Missing required parameters.",
    V1Code.SESSION_LIMIT: "Session limit has been reached for current device.",
    V1Code.USB_ONLY: "The headset has to be connected by USB cable.",
    V1Code.INVALID_CLIENT: "Invalid client ID or client secret key.",
    V1Code.DEVICE_LIMIT: "You have exceeded the limit on the number of devices.",
    V1Code.MISSING_CLIENT_ID: "Missing client ID.",
    V1Code.LICENSE_EXPIRED: "The license is expired.",
    V1Code.DEBIT_TOO_HIGH: "Request 'debit' is greater than 'maxDebit' on the license.",
    V1Code.DAILY_DEBIT: "Daily debit limit exceeded.",
    V1Code.NO_LICENSE_PERMISSION: "Application does not have permission to use the license.",
    V1Code.SOFT_LIMIT: "Session soft limit exceeded.",
    V1Code.HARD_LIMIT: "Session hard limit exceeded.",
    V1Code.SESSION_DATA_EXISTS: "Session data already existed.",
    V1Code.INVALID_PROFILE: "Invalid profile name.",
    V1Code.LOGOUT_FIRST: "Logout before login with new account.",
    V1Code.LOGIN_FIRST: "You must be logged in before calling authorize.",
    V1Code.TOKEN_USER_MISMATCH: "Token does not match with current user.",
    V1Code.ACCOUNT_MISMATCH: "Account does not match with current user.",
    V1Code.PROFILE_ERROR: "Error processing profile.",
    V1Code.TRAINING_UNSUPPORTED: "Training for this action is not supported.",
    V1Code.EXTENDER_NOT_FOUND: "Extender ID not found.",
    V1Code.TIMED_OUT: "Request timed out.",
    V1Code.MULTIPLE_ACTIVATION: "Multiple sessions cannot be activated on the same headset.",
    V1Code.EULA_NOT_ACCEPTED: "EULA has not been accepted by the user.",
}


def v1_error(code: int, behavior: str | None = None) -> RpcError:
    return RpcError(code, behavior, V1_MESSAGES.get(code, "Error."))


# ---- streams and columns -------------------------------------------------------------

V1_STREAMS = ("mot", "eeg", "com", "fac", "met", "dev", "pow", "sys")  # no eq in 1.x
# met columns in the order of the seed page's met table.
V1_MET_COLS = ("int", "str", "rel", "exc", "eng", "lex", "foc")
# sys frames name the detection in words: ["Mental Command", "MC_Started"].
DETECTION_NAMES: Mapping[str, str] = {
    "mentalCommand": "Mental Command",
    "facialExpression": "Facial Expression",
}
# The seed page's eeg column table says IED_MARKER_HARDWARE / IED_MARKER, its Markers
# concept and injectMarker pages say IEE_MARKER / IEE_MARKER_HARDWARE. We follow the
# examples (the injectMarker table's column headers) for the names and the column table
# for the order: ..., IEE_MARKER_HARDWARE, IEE_MARKER.
MARKER_HARDWARE_COL = "IEE_MARKER_HARDWARE"
MARKER_COL = "IEE_MARKER"


def v1_cols(stream: str, h: VirtualHeadset) -> list[Any]:
    """The ``cols`` of one stream of one headset in 1.x naming (seed page, Data types).

    eeg puts ``IED_RAW_CQ`` before the sensors, as the Insight example does; mot has no
    interpolation flag; dev has no ``OVERALL``/``BatteryPercent``; ``sys`` is
    ``["event", "msg"]`` (the training workflow's subscribe answer)."""
    sensors, motion = h.sensors, h.motion_sensors
    table: dict[str, Callable[[], list[Any]]] = {
        "eeg": lambda: [
            "IED_COUNTER",
            "IED_INTERPOLATED",
            "IED_RAW_CQ",
            *(f"IED_{x}" for x in sensors),
            MARKER_HARDWARE_COL,
            MARKER_COL,
        ],
        "mot": lambda: ["IMD_COUNTER", *(f"IMD_{x}" for x in motion)],
        "dev": lambda: ["Battery", "Signal", [f"IEE_CHAN_{x}" for x in sensors]],
        "pow": lambda: [f"IED_{x}/{band}" for x in sensors for band, _, _ in BANDS],
        "met": lambda: list(V1_MET_COLS),
        "com": lambda: list(COM_COLS),
        "fac": lambda: list(FAC_COLS),
        "sys": lambda: ["event", "msg"],
    }
    return table[stream]()


def _eeg_row(row: list[Any], n: int) -> list[Any]:
    # v2 row: COUNTER, INTERPOLATED, sensors..., RAW_CQ, MARKER_HARDWARE, MARKERS
    return [row[0], row[1], row[2 + n], *row[2 : 2 + n], 0, 0]


def _mot_row(row: list[Any], n: int) -> list[Any]:
    return [row[0], *row[2:]]


def _dev_row(row: list[Any], n: int) -> list[Any]:
    return [row[0], row[1], list(row[2][:-1])]


def _same_row(row: list[Any], n: int) -> list[Any]:
    return row


# The device produces v2-shaped rows (one physics); these reshape them for the 1.x cols.
V1_ROWS: Mapping[str, Callable[[list[Any], int], list[Any]]] = {
    "eeg": _eeg_row,
    "mot": _mot_row,
    "dev": _dev_row,
    "pow": _same_row,
    "met": _same_row,
    "com": _same_row,
    "fac": _same_row,
}

# Headset modes: the seed page knows "EPOC" (Insight's example says EPOC) and "EPOCPLUS".
V1_MODES: Mapping[str, str] = {"insight": "EPOC", "epocx": "EPOCPLUS"}

# getDetectionInfo("mentalCommand"), verbatim from the seed page (with MC_NoEvent).
V1_MC_EVENTS = [
    "MC_NoEvent", "MC_Started", "MC_Succeeded", "MC_Failed", "MC_Completed", "MC_DataErased",
    "MC_Rejected", "MC_Reset", "MC_AutoSamplingNeutralCompleted", "MC_SignatureUpdated",
]  # fmt: skip


def v1_headset_json(h: VirtualHeadset) -> dict[str, Any]:
    """The 1.x headset object: no motionSensors/customName, ``sensors`` empty ("use in
    the future"), ``label``; a headset that is not connected is ``pending`` with an
    unknown transport, like the seed page's Bluetooth example [U for non-BT headsets]."""
    m = h.model
    connected = h.status == STATUS_CONNECTED and not h.lost
    mems = h.mems_rate
    return {
        "connectedBy": m.connected_by if connected else "unknown",
        "dongle": m.dongle if connected else "",
        "firmware": m.firmware if connected else "",
        "id": h.id,
        "label": "",
        "sensors": [],
        "settings": {
            "eegRate": h.eeg_rate,
            "eegRes": m.eeg_res,
            "memsRate": int(mems) if float(mems).is_integer() else mems,
            "memsRes": m.mems_res,
            "mode": V1_MODES.get(m.key, m.mode),
        },
        "status": "connected" if connected else "pending",
    }


@dataclass
class MarkerType:
    """One entry of the session's ``markers``: a (label, port) pair and its events."""

    code: int  # the IEE_MARKER_HARDWARE value of its markers
    label: str
    port: str
    enums: list[str] = field(default_factory=list)
    events: list[list[Any]] = field(default_factory=list)

    def wire_value(self, value: Any) -> int:
        """The IEE_MARKER value: the number, or the string's 1-based index in enums."""
        if isinstance(value, str):
            if value not in self.enums:
                self.enums.append(value)
            return self.enums.index(value) + 1
        return int(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "enums": list(self.enums),
            "events": [list(e) for e in self.events],
            "label": self.label,
            "port": self.port,
        }
