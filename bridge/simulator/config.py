"""The simulator's settings: one dataclass, shared by the CLI, tests and the demo.

Defaults are the real service's where it has one (port 6868, 20 s scan, 30 s headset
timeout, 72 h tokens) and the friendliest value otherwise (access already granted,
licence that can activate sessions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CLIENT_ID = "cortex-bridge-demo"
DEFAULT_CLIENT_SECRET = "cortex-bridge-demo-secret"  # a public demo credential, not a secret


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulator run. ``port=0`` picks a free port."""

    host: str = "127.0.0.1"
    port: int = 6868  # the CLI defaults to 54321 for dialect v1
    dialect: str = "v2"  # "v2" (Cortex 2+) or "v1" (Cortex 1.x, see v1.py)
    tls: bool = True
    ca_out: Path | None = None  # also write the CA PEM here
    tls_dir: Path | None = None  # keep CA + server cert here and reuse them across runs
    headsets: list[str] = field(default_factory=lambda: ["epocx"])
    seed: int | None = None
    signal: str = "realistic"  # or "sine:FREQ[:AMPLITUDE]"
    met_layout: str = "current"  # "current", "2.2.1" or "2.2.0"

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    username: str = "cortex-bridge-user"
    user_logged_in: bool = True
    access: str = "granted"  # "granted", "prompt" (warning 9 later), "reject" (warning 10)
    approval_delay_s: float = 2.0
    token_lifetime_s: float = 259_200.0
    licence: bool = True  # False: activating a session fails with -32019
    licence_scopes: tuple[str, ...] = ("eeg", "pm")
    debit_required: bool = False  # True: activation consumes sessions debited by authorize
    eula_accepted: bool = True  # v1: False -> -32041 until acceptLicense

    scan_delay_s: float = 20.0  # controlDevice refresh -> warning 142
    connect_delay_s: float = 1.0  # controlDevice connect -> connected + warning 104
    power_off_timeout_s: float = 30.0  # headset off -> warning 103
    marker_window_s: float = 60.0  # injectMarker older than this -> -32115
    training_duration_s: float = 8.0  # training start -> *_Succeeded

    delay_ms: float = 0.0  # data delivered this late after sample time
    clock_offset_s: float = 0.0  # headset clocks run this far from time.time()
    response_delays_ms: dict[str, float] = field(default_factory=dict)
    flood: int = 0  # first N eeg frames of each subscription as fast as possible
    control: bool = False  # accept simulator.* control methods on the WebSocket
    faults: list[str] = field(default_factory=list)  # scheduled faults "kind:k=v@T"
    tick_s: float = 0.01

    quirks: list[str] = field(default_factory=list)  # see quirks.py
    # Per-user persistent storage (profiles, records, subjects, opt-out); None: in memory.
    state_dir: Path | None = None
    # Outcome of each training in turn, cycled: "succeeded" or "failed" (poor signal).
    training_outcomes: tuple[str, ...] = ("succeeded",)
    post_processing_s: float = 1.0  # stopRecord -> warning 18, then 30 [U duration]
    # Records of this user made on another computer, uploaded and not downloaded here
    # (syncStatus "notDownloaded", the case requestToDownloadRecordData exists for).
    cloud_records: int = 1
