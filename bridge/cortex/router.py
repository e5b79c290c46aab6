"""What arrives unasked on the Cortex socket, sent where it belongs: data frames to their
session's pipelines by ``sid``, warnings to the lifecycle, malformed frames counted.

This runs on the connection's reader for every frame, so the data path is one dict
look-up per frame and per stream key; warnings are rare and go through a table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.cortex.errors import WarningEvent, WarningRule, warning_rule
from bridge.cortex.protocol import CortexWarning
from bridge.pipeline import StreamPipeline
from bridge.status import StatusBoard

log = logging.getLogger(__name__)

PENDING_FRAMES_LIMIT = 20_000
MALFORMED_LOG_COUNTS = frozenset({1, 10, 100, 1000})


@dataclass
class SessionRoutes:
    """Where a session's frames go; frames that arrive before their pipeline is built
    (the reader may run ahead of the subscribe call) wait in ``pending``."""

    headset: str
    pipelines: dict[str, StreamPipeline] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()


@dataclass
class WarningHooks:
    """What the lifecycle does about the warnings that concern it."""

    access_answered: Callable[[bool], None] = lambda granted: None
    headset_lost: Callable[[str], None] = lambda headset: None
    headset_connected: Callable[[str], None] = lambda headset: None
    headset_failed: Callable[[str, str], None] = lambda headset, why: None
    user_acted: Callable[[], None] = lambda: None
    reopen: Callable[[str], None] = lambda reason: None


class Router:
    def __init__(self, board: StatusBoard, hooks: WarningHooks | None = None) -> None:
        self.board = board
        self.hooks = hooks or WarningHooks()
        self.routes: dict[str, SessionRoutes] = {}
        # What each warning event does (cortex/errors.py maps every code to its event);
        # an event without an entry is only said, at its row's level.
        self._events: dict[WarningEvent, Callable[[CortexWarning, WarningRule], None]] = {
            WarningEvent.SESSION_ENDED: self._session_ended,
            WarningEvent.ACCESS_GRANTED: lambda w, rule: self.hooks.access_answered(True),
            WarningEvent.ACCESS_REJECTED: self._access_rejected,
            WarningEvent.HEADSET_LOST: self._headset_lost,
            WarningEvent.HEADSET_CONNECTED: self._headset_connected,
            WarningEvent.HEADSET_CONNECT_FAILED: self._headset_failed,
            WarningEvent.SCAN_FINISHED: lambda w, rule: None,
            WarningEvent.USER_LOGGED_IN: self._user_acted,
            WarningEvent.EULA_ACCEPTED: self._user_acted,
            WarningEvent.REOPEN_CONNECTION: self._reopen,
        }

    # ------------------------------------------------------------------ data

    def on_data(self, frame: dict[str, Any]) -> None:
        sid = frame["sid"]
        routes = self.routes.get(sid) if type(sid) is str else None  # a list is unhashable
        if routes is None:
            self.board.unrouted_frames += 1
            return
        pipelines = routes.pipelines
        for key in frame:
            pipeline = pipelines.get(key)
            if pipeline is not None:
                pipeline.handle(frame[key], frame.get("time"))
                return
        if len(routes.pending) < PENDING_FRAMES_LIMIT:
            routes.pending.append(frame)
        else:
            self.board.unrouted_frames += 1

    def replay_pending(self, routes: SessionRoutes) -> None:
        """Frames that came before their pipeline, now that it exists."""
        pending, routes.pending = routes.pending, []
        for frame in pending:
            self.on_data(frame)

    def on_malformed(self, reason: str) -> None:
        count = self.board.malformed_frames = self.board.malformed_frames + 1
        if count in MALFORMED_LOG_COUNTS or count % 10000 == 0:
            log.warning("malformed message from Cortex (%s); %d so far", reason, count)

    # -------------------------------------------------------------- warnings

    def on_warning(self, warning: CortexWarning) -> None:
        rule = warning_rule(warning.code)
        log.log(rule.level, "Cortex warning %d (%s): %s", warning.code, rule.hint,
                warning.text())
        action = self._events.get(rule.event)
        if action is not None:
            action(warning, rule)

    def _session_ended(self, warning: CortexWarning, rule: WarningRule) -> None:
        sid = warning.session_id
        routes = self.routes.get(sid) if sid else None
        if routes is not None:
            routes.end(f"warning {warning.code}: {warning.text()}")

    def _access_rejected(self, warning: CortexWarning, rule: WarningRule) -> None:
        self.hooks.access_answered(False)

    def _headset_lost(self, warning: CortexWarning, rule: WarningRule) -> None:
        """103: the headset is gone; end its sessions now rather than at the next poll."""
        hid = warning.headset_id
        if hid is None:
            return
        self.hooks.headset_lost(hid)
        for routes in self.routes.values():
            if routes.headset == hid:
                routes.end(f"warning {warning.code}: the headset is disconnected")

    def _headset_connected(self, warning: CortexWarning, rule: WarningRule) -> None:
        """104 only spares the next headset poll. Late 104/142 while streaming change
        nothing: re-authorizing on them breaks sessions (cortex_api.md §6)."""
        if warning.headset_id is not None:
            self.hooks.headset_connected(warning.headset_id)

    def _headset_failed(self, warning: CortexWarning, rule: WarningRule) -> None:
        """100-102, 113, 31: Cortex gave up connecting the headset; the session waiting
        for it ends now instead of at its 30 s deadline."""
        if warning.headset_id is not None:
            self.hooks.headset_failed(warning.headset_id, f"warning {warning.code}: {rule.hint}")

    def _user_acted(self, warning: CortexWarning, rule: WarningRule) -> None:
        self.hooks.user_acted()

    def _reopen(self, warning: CortexWarning, rule: WarningRule) -> None:
        self.hooks.reopen(f"Cortex warning {warning.code}: {rule.hint}")
