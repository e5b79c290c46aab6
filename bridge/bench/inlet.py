"""An LSL inlet on a thread that notes each sample's timestamp and arrival time.

``pull_sample`` wakes as soon as liblsl hands the sample over, so ``local_clock()``
right after it is the moment a consumer could act on the sample. Kept in the benchmark
process; the bridge runs elsewhere.
"""

from __future__ import annotations

import threading
from types import TracebackType

import pylsl

RESOLVE_TIMEOUT_S = 15.0


class InletRecorder:
    """``with InletRecorder(source_id) as rec: ...; rec.samples`` -> [(stamp, arrival, first value)]."""

    def __init__(self, source_id: str, max_buflen: int = 60) -> None:
        found = pylsl.resolve_byprop("source_id", source_id, 1, RESOLVE_TIMEOUT_S)
        if not found:
            raise RuntimeError(f"no LSL stream with source_id {source_id}")
        self.inlet = pylsl.StreamInlet(found[0], max_buflen=max_buflen)
        self.inlet.open_stream(RESOLVE_TIMEOUT_S)
        self.samples: list[tuple[float, float, float]] = []
        self.recording = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lsl-inlet", daemon=True)

    def _run(self) -> None:
        inlet, clock, keep = self.inlet, pylsl.local_clock, self.samples.append
        while not self._stop.is_set():
            sample, stamp = inlet.pull_sample(timeout=0.2)
            if stamp is None:
                continue
            now = clock()
            if self.recording:
                keep((stamp, now, float(sample[0])))

    def __enter__(self) -> InletRecorder:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(2)
        self.inlet.close_stream()
