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

from bridge.cortex.protocol import CortexWarning, WarningCode
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


class Router:
    def __init__(self, board: StatusBoard, hooks: WarningHooks | None = None) -> None:
        self.board = board
        self.hooks = hooks or WarningHooks()
        self.routes: dict[str, SessionRoutes] = {}
        self._warnings: dict[int, Callable[[CortexWarning], None]] = {
            WarningCode.STREAMS_STOPPED: self._session_ended,
            WarningCode.SESSION_CLOSED: self._session_ended,
            WarningCode.ACCESS_GRANTED: lambda w: self.hooks.access_answered(True),
            WarningCode.ACCESS_REJECTED: lambda w: self.hooks.access_answered(False),
            WarningCode.HEADSET_DATA_TIMEOUT: self._headset_lost,
            WarningCode.HEADSET_CONNECTED: self._headset_connected,
            WarningCode.HEADSET_SCAN_FINISHED: _debug,
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
        handler = self._warnings.get(warning.code, _info)
        handler(warning)

    def _session_ended(self, warning: CortexWarning) -> None:
        sid = warning.session_id
        routes = self.routes.get(sid) if sid else None
        if routes is not None:
            routes.end(f"warning {warning.code}: {warning.text()}")
        log.info("Cortex warning %d: %s", warning.code, warning.text())

    def _headset_lost(self, warning: CortexWarning) -> None:
        """103: the headset is gone; end its sessions now rather than at the next poll."""
        log.warning("Cortex warning 103: %s", warning.text())
        hid = warning.headset_id
        if hid is None:
            return
        self.hooks.headset_lost(hid)
        for routes in self.routes.values():
            if routes.headset == hid:
                routes.end("warning 103: the headset is disconnected")

    def _headset_connected(self, warning: CortexWarning) -> None:
        """104 only spares the next headset poll. Late 104/142 while streaming change
        nothing: re-authorizing on them breaks sessions (cortex_api.md §6)."""
        if warning.headset_id is not None:
            self.hooks.headset_connected(warning.headset_id)
        _debug(warning)


def _debug(warning: CortexWarning) -> None:
    log.debug("Cortex warning %d: %s", warning.code, warning.text())


def _info(warning: CortexWarning) -> None:
    log.info("Cortex warning %d: %s", warning.code, warning.text())
