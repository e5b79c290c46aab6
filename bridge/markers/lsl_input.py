"""LSL marker streams in: a continuous resolver and one inlet per stream, in a thread.

pylsl calls block (opening an inlet, ``time_correction``), so they run in one background
thread that never touches the event loop; each decoded :class:`Marker` is handed over
through ``deliver`` (the service passes ``loop.call_soon_threadsafe(queue.put, ...)``).

Our own outlets are never read: the resolver predicate excludes every ``source_id``
starting with ``cortex-bridge:`` (whatever the configured predicate says) and each
found stream is checked again before an inlet is opened, so the echo outlet cannot feed
markers back into Cortex.

Inlets are opened with ``recover=False`` and keyed by the stream's uid: a restarted
stimulus program is a new stream (new uid) that the resolver finds and we open afresh,
while the old inlet reports itself lost and is closed. (With liblsl's recovery on, the
old inlet would also reattach to the new stream and every marker would arrive twice.)
Markers pushed before our inlet is connected are not seen: LSL buffers for connected
inlets only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pylsl
import pylsl.util

from bridge.clock import plausible_marker_time
from bridge.markers.decode import Layout, StreamShape, decode, layout_of
from bridge.markers.marker import Marker

log = logging.getLogger(__name__)

OWN_SOURCE_PREFIX = "cortex-bridge:"
DEFAULT_PREDICATE = "type='Markers'"
POLL_SECONDS = 0.005  # pull period: markers are stamped at the sender, latency is cosmetic
RESOLVE_SECONDS = 0.5
CORRECTION_SECONDS = 5.0  # time_correction() refresh period (liblsl measures in background)
OPEN_TIMEOUT = 5.0
CORRECTION_TIMEOUT = 2.0

_LSL_TIMEOUTS = (pylsl.util.TimeoutError, TimeoutError)


def effective_predicate(predicate: str) -> str:
    """The configured XPath predicate, restricted to streams that are not ours."""
    return f"({predicate}) and not(starts-with(source_id,'{OWN_SOURCE_PREFIX}'))"


def is_own_stream(source_id: str) -> bool:
    return source_id.startswith(OWN_SOURCE_PREFIX)


@dataclass
class _Inlet:
    inlet: pylsl.StreamInlet
    name: str
    layout: Layout
    origin: str
    correction: float = 0.0
    next_correction: float = 0.0
    warned_restamp: bool = False


class LslMarkerInput:
    """Reads every LSL stream matching ``predicate`` and delivers its markers."""

    def __init__(
        self,
        deliver: Callable[[Marker], None],
        predicate: str = DEFAULT_PREDICATE,
        *,
        poll_seconds: float = POLL_SECONDS,
        resolve_seconds: float = RESOLVE_SECONDS,
    ) -> None:
        self._deliver = deliver
        self.predicate = effective_predicate(predicate)
        self._poll = poll_seconds
        self._resolve_every = resolve_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inlets: dict[str, _Inlet] = {}
        self._ignored: set[str] = set()  # uids of streams whose format cannot carry markers
        self._lock = threading.Lock()

    # ---- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lsl-marker-input", daemon=True)
        self._thread.start()
        log.info("listening for LSL marker streams matching %s", self.predicate)

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the LSL marker input thread did not stop within %.0f s", timeout)

    @property
    def open_streams(self) -> list[str]:
        """Names of the marker streams we currently read (a snapshot)."""
        with self._lock:
            return [i.name for i in self._inlets.values()]

    # ---- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            resolver = pylsl.ContinuousResolver(pred=self.predicate, forget_after=5.0)
        except Exception as exc:  # a malformed predicate: say so, keep the daemon running
            log.error("markers.lsl_predicate: liblsl refused %r (%s); LSL markers are off",
                      self.predicate, exc)
            return
        next_resolve = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_resolve:
                        next_resolve = now + self._resolve_every
                        self._open_new(resolver)
                    for uid, entry in list(self._inlets.items()):
                        self._pull(uid, entry)
                except Exception:  # a liblsl surprise must not end marker input for good
                    log.exception("LSL marker input: unexpected error; carrying on")
                    self._stop.wait(1.0)
                self._stop.wait(self._poll)
        finally:
            with self._lock:
                inlets, self._inlets = list(self._inlets.values()), {}
            for entry in inlets:
                _close(entry.inlet)
            del resolver

    def _open_new(self, resolver: pylsl.ContinuousResolver) -> None:
        for info in resolver.results():
            uid = info.uid()
            if uid in self._inlets or uid in self._ignored or is_own_stream(info.source_id()):
                continue
            shape = StreamShape(info.name(), info.channel_format(), info.channel_count())
            layout = layout_of(shape)
            if layout is None:
                log.warning(
                    "LSL marker stream %r ignored: channel format %d cannot carry markers",
                    shape.name, shape.channel_format,
                )
                self._ignored.add(uid)
                continue
            try:
                inlet = pylsl.StreamInlet(info, max_buflen=360, recover=False)
                inlet.open_stream(OPEN_TIMEOUT)
            except Exception as exc:
                log.warning("LSL marker stream %r: cannot open an inlet (%s)", shape.name, exc)
                continue
            entry = _Inlet(inlet, shape.name, layout, f"lsl:{shape.name}")
            self._refresh_correction(entry, time.monotonic())
            with self._lock:
                self._inlets[uid] = entry
            extra = (
                f"; {shape.channel_count} channels, reading the first"
                if layout is Layout.FIRST_CHANNEL else ""
            )
            log.info(
                "reading LSL marker stream %r (source_id %r, %s%s)",
                shape.name, info.source_id() or "-", layout.value, extra,
            )

    def _refresh_correction(self, entry: _Inlet, now: float) -> None:
        try:
            entry.correction = float(entry.inlet.time_correction(CORRECTION_TIMEOUT))
        except _LSL_TIMEOUTS:
            pass  # keep the last value; liblsl keeps measuring
        except pylsl.util.LostError:
            return
        entry.next_correction = now + CORRECTION_SECONDS

    def _pull(self, uid: str, entry: _Inlet) -> None:
        now = time.monotonic()
        if now >= entry.next_correction:
            self._refresh_correction(entry, now)
        try:
            samples, stamps = entry.inlet.pull_chunk(timeout=0.0)
        except pylsl.util.LostError:
            log.info("LSL marker stream %r is gone", entry.name)
            with self._lock:
                self._inlets.pop(uid, None)
            _close(entry.inlet)
            return
        if not stamps:
            return
        pulled_at = pylsl.local_clock()
        for sample, stamp in zip(samples, stamps, strict=False):
            marker = decode(entry.layout, sample, stamp, entry.correction, entry.origin)
            if marker is None:
                continue  # nothing usable (empty text, NaN)
            if not plausible_marker_time(marker.lsl_time, pulled_at):
                if not entry.warned_restamp:
                    entry.warned_restamp = True
                    log.warning(
                        "LSL marker stream %r: timestamp %.3f is not in the LSL clock "
                        "(now %.3f); its markers are stamped on arrival instead",
                        entry.name, marker.lsl_time, pulled_at,
                    )
                marker = Marker(marker.value, marker.label, pulled_at, marker.origin)
            try:
                self._deliver(marker)
            except RuntimeError:  # the event loop is closing: we are shutting down
                return


def _close(inlet: pylsl.StreamInlet) -> None:
    with contextlib.suppress(Exception):  # closing a lost inlet may raise; nothing to do
        inlet.close_stream()
