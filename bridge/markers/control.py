"""Records started and stopped by the experimenter (remote control), beside the records
the marker service opens by itself.

By default the bridge opens a record per session as soon as markers flow (Cortex 2.x
injects markers only into a record). An experimenter who says *start* (with a title)
gets a new record in every live session, the title also used for sessions that start
later; *stop* stops them, and from then on the service opens no record of its own:
markers wait in the queue (nothing is lost) until the next *start*. The injector needs
no change for this: the record it asks for is simply not opened while recording is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bridge.cortex.api import CortexApi
from bridge.cortex.protocol import CortexError

log = logging.getLogger(__name__)

TokenCall = Callable[[CortexApi, Callable[[], Awaitable[Any]]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class LiveSession:
    api: CortexApi
    headset: str
    with_token: TokenCall


class RecordControl:
    """The live sessions and whether records may be opened; owned by the marker service."""

    def __init__(self) -> None:
        self.sessions: dict[str, LiveSession] = {}  # session id -> how to reach it
        self.title: str | None = None  # the experimenter's title, for every new record
        self._allowed: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._allowed is None:  # made on the running loop, set: records allowed
            self._allowed = asyncio.Event()
            self._allowed.set()
        return self._allowed

    @property
    def held(self) -> bool:
        return not self._event().is_set()

    async def wait_allowed(self) -> None:
        """Before the service opens a record of its own: wait while recording is held."""
        await self._event().wait()

    async def start(self, title: str, records: dict[str, str]) -> dict[str, Any]:
        """Stop each live session's record of ours, open one titled ``title``."""
        self.title = title
        self._event().set()
        opened: dict[str, str] = {}
        errors: dict[str, str] = {}
        for sid, live in list(self.sessions.items()):
            api = live.api
            if records.get(sid):
                with contextlib.suppress(CortexError, TimeoutError):
                    await live.with_token(api, partial(api.stop_record, sid))
            try:
                result = await live.with_token(
                    api, partial(api.create_record, sid, title))
            except (CortexError, TimeoutError) as exc:
                errors[live.headset] = str(exc)
                continue
            record = result.get("record") if isinstance(result, dict) else None
            record_id = record.get("uuid") if isinstance(record, dict) else None
            records[sid] = opened[live.headset] = str(record_id or "?")
        log.info("record %r started by remote control: %s", title, opened or "no session")
        return {"ok": not errors, "records": opened, "errors": errors}

    async def stop(self, records: dict[str, str]) -> dict[str, Any]:
        """Stop every record of ours; open none until the next :meth:`start`."""
        self._event().clear()
        stopped: list[str] = []
        errors: dict[str, str] = {}
        for sid, live in list(self.sessions.items()):
            record_id = records.pop(sid, None)
            if not record_id:
                continue
            api = live.api
            try:
                await live.with_token(api, partial(api.stop_record, sid))
            except (CortexError, TimeoutError) as exc:
                errors[live.headset] = str(exc)
            else:
                stopped.append(record_id)
        log.info("records stopped by remote control: %s", stopped or "none open")
        return {"ok": not errors, "stopped": stopped, "errors": errors}
