"""The Cortex 1.x dialect (the 2017 API, seed page ``001``): same headsets, other wire.

:class:`CortexServiceV1` is the v2 :class:`~bridge.simulator.service.CortexService` with
the 1.x method table, wire shapes, column names, error codes and clock: the headsets, their
signals, rates, delivery delay and faults are the very same objects (the dialect changes
what the service *says*, not what the headsets *do*), and ``state()`` has the v2 shape plus
``dialect`` and ``cortexStart`` so tests compare the two dialects with the same code.

What 1.x differs in (all from the seed page unless marked [U], see ``docs/simulator.md``):

- tokens are ``_auth`` (48 h); ``login``/``logout``/``getUserLogin`` (strings);
  ``authorize`` may be anonymous ``{}`` (no licence) or ``{client_id, client_secret}``
  (needs a logged-in user); ``acceptLicense`` (EULA); ``generateNewToken {token}``;
- headsets: ``controlBluetoothHeadset``; a headset not connected is ``pending``;
- sessions: ``project``/``title``/``subject``; ``updateSession`` also starts/stops records
  and adds/removes tags; ``session`` is optional ("first session ... do not close");
- ``subscribe`` answers ``[{"<stream>": {"cols": [...]}, "sid": ...}]``; columns are
  ``IED_*``/``IMD_*``/``IEE_*``; sample ``time`` is seconds since Cortex started;
- markers are two numeric eeg columns, ``IEE_MARKER_HARDWARE`` (the marker type's
  ``code``) and ``IEE_MARKER`` (the value; a string's 1-based index in ``enums``);
  ``injectMarker`` needs no record and answers the session object;
- no warnings at all (the 1.x docs describe none); errors -32001 .. -32041.

The 1.x methods are in ``v1_methods.py`` (they receive this service; it receives them as
a :class:`~bridge.simulator.spec.CortexApi`); ``dialects.py`` builds either service.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bridge.simulator import jsonrpc
from bridge.simulator.config import SimulatorConfig
from bridge.simulator.headsets import parse_headset_spec
from bridge.simulator.jsonrpc import MESSAGES, RpcError
from bridge.simulator.model import Call, Clock, Session, Subscription, SystemClock, iso
from bridge.simulator.service import CortexService
from bridge.simulator.spec import CortexApi
from bridge.simulator.v1_wire import (
    DEFAULT_TOKEN_LIFETIME_S,
    DETECTION_NAMES,
    V1_MESSAGES,
    V1_MET_COLS,
    V1_ROWS,
    V1_TOKEN_LIFETIME_S,
    MarkerType,
    V1Code,
    v1_error,
    v1_headset_json,
)

# ---- per-session 1.x state -----------------------------------------------------------


@dataclass
class V1Extra:
    """What a 1.x session object has beyond the v2 one."""

    project: str = ""
    title: str = ""
    subject: str = ""
    experiment_id: int = 0
    tags: list[str] = field(default_factory=list)
    markers: list[MarkerType] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    recording: dict[str, Any] | None = None

    def marker_type(self, label: str, port: str) -> MarkerType:
        for mt in self.markers:
            if mt.label == label and mt.port == port:
                return mt
        mt = MarkerType(len(self.markers) + 1, label, port)
        self.markers.append(mt)
        return mt


@dataclass(frozen=True, slots=True)
class TokenUse:
    """Who a 1.x token was issued to: anonymous tokens carry no licence."""

    user: str  # "" when anonymous
    client_id: str  # "" when anonymous


class CortexServiceV1(CortexService):
    """Cortex 1.x: the v2 service with the 1.x methods, wire shapes and clock."""

    token_param = "_auth"
    dialect = "v1"  # its methods are ``v1_methods.API``

    def __init__(
        self, config: SimulatorConfig, clock: Clock | None = None, api: CortexApi | None = None
    ) -> None:
        clock = clock or SystemClock()
        # "Time since Cortex start": sample times count from this monotonic instant.
        self.start_mono = clock.monotonic()
        cfg = dataclasses.replace(
            config, headsets=[_dongle_connected(_gyro_by_default(h)) for h in config.headsets]
        )
        if cfg.token_lifetime_s == DEFAULT_TOKEN_LIFETIME_S:
            cfg.token_lifetime_s = V1_TOKEN_LIFETIME_S
        super().__init__(cfg, clock, api)
        self.start_epoch = self.started_epoch
        self.met_cols = V1_MET_COLS
        self.logged_in: str | None = cfg.username if cfg.user_logged_in else None
        self.eula_accepted = cfg.eula_accepted
        self.extra: dict[str, V1Extra] = {}
        self.token_uses: dict[str, TokenUse] = {}
        self.profiles: dict[str, str | None] = {}  # name -> headset it is loaded on

    # ---- dialect hooks ---------------------------------------------------------------

    def warn(self, conn_id: int, code: int, message: Any) -> None:
        """The 1.x docs describe no warning objects: the service sends none [U]."""

    def localize(self, err: RpcError) -> RpcError:
        """Errors raised by shared code (parameter checks, tokens) in 1.x wording."""
        if err.code in V1_MESSAGES and err.message == MESSAGES.get(err.code):
            localized = RpcError(err.code, err.behavior, V1_MESSAGES[err.code])
            localized.request_id = err.request_id
            return localized
        return err

    def close_session(self, session: Session, reason: str) -> None:
        extra = self.extra.get(session.id)
        if session.live and extra is not None and extra.recording is not None:
            self.stop_recording(session, extra)
        super().close_session(session, reason)

    def stop_recording(self, session: Session, extra: V1Extra) -> None:
        info = extra.recording
        assert info is not None
        now = iso(self.epoch_now(), "microseconds")
        info["stopMarkerRecording"] = now
        h = session.headset
        mono = self.clock.monotonic()
        info["sampleMarkerEEG"].append(max(0, h.last_due(h.eeg_rate, mono, 0.0)))
        info["sampleMarkerAFF"].append(max(0, h.last_due(h.mems_rate or 1.0, mono, 0.0)))
        mt = extra.marker_type(info["name"], "EmotivProRecording")
        mt.events.append([now, -1])
        extra.recording = None

    # ---- frames ----------------------------------------------------------------------

    def _pump(self, session: Session, sub: Subscription, mono: float) -> None:
        h = session.headset
        end = h.last_due(sub.rate, mono, self.delay_s) + 1
        if sub.flood_end > sub.cursor:
            conn = self.conns.get(session.conn)
            if conn is not None and len(conn.outbox) < 2048:
                end = max(end, min(sub.flood_end, sub.cursor + 512))
        if end <= sub.cursor:
            return
        if h.muted_until > mono:  # fault "mute": what falls due now is never sent
            sub.cursor = end
            return
        stream = sub.stream
        conn = self.conns.get(session.conn)
        if conn is None or not conn.open:
            sub.cursor = end
            return
        rows = h.rows(stream, sub.cursor, end, sub.rate, self.met_cols)
        shape, n = V1_ROWS[stream], len(h.sensors)
        head = f'{{"{stream}":'
        mid = f',"sid":"{session.id}","time":'
        base, rate = h.mono_anchor - self.start_mono, sub.rate
        encode = jsonrpc.encode
        pending = sub.markers
        out = conn.outbox
        for k, row in rows:
            t = base + k / rate
            values = shape(row, n)
            if pending and pending[0].k <= k:
                # Two numeric columns hold one marker: a marker whose sample is taken
                # goes into the next one [U].
                marker = pending.pop(0)
                marker.entry["sentIndex"] = k
                marker.entry["sentTime"] = t
                values[-2] = marker.wire["code"]
                values[-1] = marker.wire["value"]
            out.append(f"{head}{encode(values)}{mid}{t!r}}}")
        h.frames_sent[stream] = h.frames_sent.get(stream, 0) + len(rows)
        sub.cursor = end

    def emit_sys(self, session: Session, detection: str, event: str) -> None:
        """``{"sid": ..., "sys": ["Mental Command", "MC_Started"]}``: no ``time``, as in
        every sys example of the seed page."""
        if not session.live or "sys" not in session.subs:
            return
        h = session.headset
        h.frames_sent["sys"] = h.frames_sent.get("sys", 0) + 1
        name = DETECTION_NAMES.get(detection, detection)
        self.send(session.conn, jsonrpc.encode({"sid": session.id, "sys": [name, event]}))

    # ---- objects ---------------------------------------------------------------------

    def session_json(self, session: Session) -> dict[str, Any]:
        """The 1.x session object (seed page, Data types: Session Object)."""
        extra = self.extra.setdefault(session.id, V1Extra())
        profile = next((p for p, hid in self.profiles.items() if hid == session.headset.id), "")
        return {
            "appId": session.app_id,
            "headset": v1_headset_json(session.headset),
            "id": session.id,
            "license": session.license,
            "logs": {"recordInfos": [dict(r) for r in extra.records]},
            "markers": [m.to_json() for m in extra.markers],
            "owner": session.owner,
            "profile": profile,
            "project": extra.project,
            "recording": extra.recording is not None,
            "started": session.started,
            "status": session.status,
            "stopped": session.stopped,
            "streams": None,  # the examples show null (and {}); never documented [U]
            "subject": extra.subject,
            "tags": list(extra.tags),
            "title": extra.title,
        }

    def v1_session(self, call: Call, sid: Any) -> Session:
        """The named session of the caller, or its first live one when ``sid`` is
        omitted ("Cortex will get first session in session list do not close")."""
        mine = [s for s in self.sessions.values() if s.conn == call.conn.id]
        if sid is None:
            live = [s for s in mine if s.live]
            if not live:
                raise v1_error(V1Code.SESSION_NOT_FOUND, "There is no open session.")
            return live[0]
        session = self.sessions.get(str(sid))
        if session is None or session not in mine:
            raise v1_error(V1Code.SESSION_NOT_FOUND, f"Cannot find the session {sid}.")
        if not session.live:
            raise v1_error(V1Code.SESSION_CLOSED)
        return session

    def state(self) -> dict[str, Any]:
        state = super().state()
        state["dialect"] = "v1"
        state["cortexStart"] = {"monotonic": self.start_mono, "epoch": self.start_epoch}
        state["loggedIn"] = self.logged_in
        state["eulaAccepted"] = self.eula_accepted
        state["profiles"] = dict(self.profiles)
        for item in state["sessions"]:
            extra = self.extra.get(item["id"], V1Extra())
            item.update(
                project=extra.project,
                title=extra.title,
                subject=extra.subject,
                tags=list(extra.tags),
                markers=[m.to_json() for m in extra.markers],
                recordInfos=[dict(r) for r in extra.records],
            )
        return state


def _gyro_by_default(spec_text: str) -> str:
    """1.x documents gyroscope motion columns only (IMD_GYROX..); a headset spec that
    does not choose a motion layout gets ``motion=gyro`` [U]."""
    if parse_headset_spec(spec_text).motion is not None:
        return spec_text
    return f"{spec_text}{',' if ':' in spec_text else ':'}motion=gyro"


def _dongle_connected(spec_text: str) -> str:
    """A headset paired with its USB dongle is connected as soon as it is switched on:
    1.x has no connect call for it (``controlBluetoothHeadset`` is for macOS Bluetooth
    only, seed 001), so a dongle headset without an explicit ``status`` starts
    connected; Bluetooth ones stay ``pending``."""
    spec = parse_headset_spec(spec_text)
    if "status=" in spec_text or (spec.connected_by or spec.model.connected_by) != "dongle":
        return spec_text
    return f"{spec_text}{',' if ':' in spec_text else ':'}status=connected"
