"""Counters per stream and the operator's view of them.

Counters are plain attributes bumped on the hot path; rates and text are computed only
when a status line or the terminal view is drawn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from bridge.status.events import EventHub, NoEvents

_NO_EVENTS = NoEvents()
TYPICAL_DELIVERY_DELAY = 0.2  # s: Cortex delivers samples about 200 ms after their birth

# How each clock mapping is made, in a user's words (bridge.clock.ClockSource values).
CLOCK_METHODS = {"sync": "headset clock sync", "epoch": "wall clock"}


def duration_text(seconds: float) -> str:
    """``0.2041`` -> ``204 ms``, ``-0.00042`` -> ``-0.4 ms``, ``12.3456`` -> ``12.346 s``."""
    if abs(seconds) >= 10:
        return f"{seconds:.3f} s"
    if abs(seconds) >= 0.01:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


def clock_text(source: str, offset: float, wall_minus_lsl: float,
               latency: float | None) -> str:
    """The clock of one headset for a person: how it is mapped, how far Cortex's clock is
    from this machine's wall clock (``offset`` is Cortex time minus LSL time, so
    subtracting wall minus LSL leaves Cortex minus wall), and the newest sample's age.

    ``sync +0.4 ms vs wall, latency 204 ms``: 0 ms for a Cortex on this machine, the NTP
    disagreement for a remote one; latency is Cortex's delivery delay plus up to a sample.
    """
    method = CLOCK_METHODS.get(source, source)
    text = f"{method}, Cortex {'+' if offset >= wall_minus_lsl else ''}" \
           f"{duration_text(offset - wall_minus_lsl)} vs wall"
    if latency is not None:
        text += f", latency {duration_text(latency)}"
    return text


def _lsl_clocks() -> tuple[float, float]:
    """(now on the LSL clock, wall clock minus LSL clock), read when a status is drawn."""
    import pylsl

    from bridge.clock import epoch_minus_lsl

    return pylsl.local_clock(), epoch_minus_lsl()


@dataclass(slots=True)
class StreamStats:
    headset: str
    stream: str
    samples: int = 0
    dropped: int = 0
    interpolated: int = 0
    malformed: int = 0
    last_lsl_time: float = 0.0
    state: str = "starting"
    # Where this stream's diagnostics go (gaps): the board's hub.
    events: EventHub = _NO_EVENTS
    # For the rate: the sample count and time at the previous report.
    _mark_samples: int = 0
    _mark_time: float = field(default_factory=time.monotonic)

    def take_rate(self, now: float | None = None) -> float:
        """Samples per second since the previous call."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._mark_time
        rate = (self.samples - self._mark_samples) / elapsed if elapsed > 0 else 0.0
        self._mark_samples, self._mark_time = self.samples, now
        return rate


@dataclass(slots=True)
class HeadsetStatus:
    headset: str
    state: str = "waiting"
    clock_source: str = ""
    clock_offset: float = 0.0
    sessions: int = 0  # sessions opened so far (a second one is a restart)
    stalled_at: float | None = None  # LSL time the last stall began, until data resumes


class StatusBoard:
    """Everything the status view shows, owned by the daemon."""

    def __init__(
        self,
        events: EventHub | None = None,
        clocks: Callable[[], tuple[float, float]] = _lsl_clocks,
    ) -> None:
        self.events = events if events is not None else EventHub()
        self._clocks = clocks
        self.streams: dict[tuple[str, str], StreamStats] = {}
        self.headsets: dict[str, HeadsetStatus] = {}
        self.cortex_state = "starting"
        self.malformed_frames = 0
        self.unrouted_frames = 0

    def stream(self, headset: str, stream: str) -> StreamStats:
        key = (headset, stream)
        stats = self.streams.get(key)
        if stats is None:
            stats = self.streams[key] = StreamStats(headset, stream, events=self.events)
        return stats

    def headset(self, headset: str) -> HeadsetStatus:
        status = self.headsets.get(headset)
        if status is None:
            status = self.headsets[headset] = HeadsetStatus(headset)
        return status

    def timing(self, headset: str, lsl_now: float) -> tuple[str, float | None, float | None, str]:
        """(clock method, offset, delivery delay, where the delay comes from) of a headset
        now: the outlets' timing provenance. The delay is the newest sample's age on the
        headset's busiest stream once data flows, else Cortex's typical delay."""
        status = self.headsets.get(headset)
        method = status.clock_source if status else ""
        offset = status.clock_offset if status and status.clock_source else None
        flowing = [s for s in self.streams.values() if s.headset == headset and s.samples]
        if flowing:
            newest = max(flowing, key=lambda s: s.samples)
            return method, offset, lsl_now - newest.last_lsl_time, "measured: newest sample's age"
        return method, offset, TYPICAL_DELIVERY_DELAY, "typical Cortex delivery delay"

    def rows(self) -> list[tuple[str, str, str, float, int, int, str]]:
        """(headset, stream, state, rate, samples, drops, clock) per stream, sorted."""
        rows = []
        clocks = self._clocks() if any(h.clock_source for h in self.headsets.values()) else None
        for (hid, name), stats in sorted(self.streams.items()):
            hs = self.headsets.get(hid)
            clock = "-"
            if hs and hs.clock_source and clocks is not None:
                now, wall_minus_lsl = clocks
                latency = now - stats.last_lsl_time if stats.samples else None
                clock = clock_text(hs.clock_source, hs.clock_offset, wall_minus_lsl, latency)
            rows.append(
                (hid, name, stats.state, stats.take_rate(), stats.samples, stats.dropped, clock)
            )
        return rows

    def render_table(self) -> str:
        """The terminal view: one line per stream."""
        header = f"Cortex: {self.cortex_state}   malformed frames: {self.malformed_frames}"
        lines = [header, f"{'headset':<20} {'stream':<6} {'state':<12} {'rate':>8} "
                 f"{'samples':>9} {'drops':>6}  clock, latency"]
        for hid, name, state, rate, samples, drops, clock in self.rows():
            lines.append(
                f"{hid:<20} {name:<6} {state:<12} {rate:8.1f} {samples:9d} {drops:6d}  {clock}"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """One short line for ``systemctl status`` (sd_notify STATUS=): no rates, no
        per-stream detail, nothing secret."""
        streaming = [s for s in self.streams.values() if s.state == "streaming"]
        headsets = {s.headset for s in streaming}
        samples = sum(s.samples for s in self.streams.values())
        drops = sum(s.dropped for s in self.streams.values())
        text = (
            f"Cortex {self.cortex_state}; {len(streaming)} stream(s) from {len(headsets)} "
            f"headset(s); {samples} samples, {drops} dropped"
        )
        if self.malformed_frames:
            text += f", {self.malformed_frames} malformed"
        return text

    def render_line(self) -> str:
        """The periodic log line when stderr is not a terminal."""
        parts = [f"cortex={self.cortex_state}"]
        said_clock: set[str] = set()
        for hid, name, state, rate, samples, drops, clock in self.rows():
            part = f"{hid}/{name}:{state} {rate:.1f}Hz n={samples} drop={drops}"
            if clock != "-" and hid not in said_clock and name in ("eeg", "mot", "met"):
                said_clock.add(hid)  # once per headset, from a regular stream's latency
                part += f" clock={clock}"
            parts.append(part)
        if self.malformed_frames:
            parts.append(f"malformed={self.malformed_frames}")
        return "status " + "; ".join(parts)


class TerminalView:
    """The live status table at the bottom of a terminal, redrawn in place.

    Log records would be overwritten by the redraw, so :meth:`attach` installs a logging
    filter that erases the table before any record is printed; the next tick draws it
    again below the new lines.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lines = 0

    def draw(self, text: str) -> None:
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        self._lines = text.count("\n") + 1

    def clear(self) -> None:
        if self._lines:
            # Cursor up to the table's first line, then erase to the end of the screen.
            self.stream.write(f"\x1b[{self._lines}F\x1b[J")
            self.stream.flush()
            self._lines = 0

    def attach(self) -> None:
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._before_log)

    def detach(self) -> None:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._before_log)

    def _before_log(self, record: logging.LogRecord) -> bool:
        self.clear()
        return True
