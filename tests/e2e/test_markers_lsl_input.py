"""The LSL marker input against real pylsl outlets: formats, timestamps, and never our own
outlets (whatever the predicate says)."""

from __future__ import annotations

import threading
import time

import pylsl

from bridge.markers.lsl_input import LslMarkerInput
from bridge.markers.marker import Marker


def test_reads_every_format_and_skips_our_own_outlets(unique_id: str) -> None:
    names = {fmt: f"mk-{fmt}-{unique_id}" for fmt in ("str", "int", "pro", "own")}
    outlets = {
        "str": pylsl.StreamOutlet(pylsl.StreamInfo(
            names["str"], "Markers", 1, 0, pylsl.cf_string, f"t-str-{unique_id}")),
        "int": pylsl.StreamOutlet(pylsl.StreamInfo(
            names["int"], "Markers", 1, 0, pylsl.cf_int32, f"t-int-{unique_id}")),
        "pro": pylsl.StreamOutlet(pylsl.StreamInfo(
            names["pro"], "Markers", 3, 0, pylsl.cf_double64, f"t-pro-{unique_id}")),
        # Looks like the bridge's echo outlet: must never be read.
        "own": pylsl.StreamOutlet(pylsl.StreamInfo(
            names["own"], "Markers", 1, 0, pylsl.cf_string, f"cortex-bridge:{unique_id}:markers")),
    }
    got: list[Marker] = []
    lock = threading.Lock()

    def deliver(marker: Marker) -> None:
        with lock:
            got.append(marker)

    predicate = " or ".join(f"name='{n}'" for n in names.values())
    source = LslMarkerInput(deliver, predicate, resolve_seconds=0.2)
    source.start()
    try:
        for key in ("str", "int", "pro"):
            assert outlets[key].wait_for_consumers(15), key
        now = pylsl.local_clock()
        outlets["str"].push_sample(["stim A"], now - 0.010)
        outlets["int"].push_sample([769], now - 0.020)
        # EmotivPRO layout: the event 0.25 s before it was sent (epoch seconds).
        epoch = time.time()
        outlets["pro"].push_sample([epoch - 0.25, 42.0, epoch], now - 0.030)
        outlets["own"].push_sample(["echo"], now)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if len(got) >= 3:
                    break
            time.sleep(0.05)
        time.sleep(0.3)  # room for a wrong fourth marker to show up
        assert sorted(source.open_streams) == sorted(names[k] for k in ("str", "int", "pro"))
    finally:
        source.stop()
    by_origin = {m.origin: m for m in got}
    assert len(got) == 3, got
    assert not outlets["own"].have_consumers()
    s, i, p = (by_origin[f"lsl:{names[k]}"] for k in ("str", "int", "pro"))
    assert (s.value, s.label) == ("stim A", "stim A")
    assert (i.value, i.label) == (769, "769")
    assert p.value == 42
    # Same machine: time_correction() is ~0, so the stamps come back as pushed.
    assert abs(s.lsl_time - (now - 0.010)) < 1e-3
    assert abs(i.lsl_time - (now - 0.020)) < 1e-3
    assert abs(p.lsl_time - (now - 0.030 - 0.25)) < 1e-3
