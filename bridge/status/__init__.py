"""The operator's and the recording's view of the bridge: counters and the terminal view
(:mod:`.board`), diagnostics events (:mod:`.events`), the LSL diagnostics and status
outlets (:mod:`.lsl`), the status snapshot (:mod:`.snapshot`) and the status page
(:mod:`.server`).

The board and the event hub are imported from here by the rest of the product; the I/O
parts are imported from their own modules by the application only.
"""

from bridge.status.board import HeadsetStatus, StatusBoard, StreamStats, TerminalView
from bridge.status.events import Event, EventHub, EventName, NoEvents

__all__ = [
    "Event",
    "EventHub",
    "EventName",
    "HeadsetStatus",
    "NoEvents",
    "StatusBoard",
    "StreamStats",
    "TerminalView",
]
