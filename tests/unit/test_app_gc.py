"""The start-up heap is frozen once, so a full collection no longer walks it.

Run in a child interpreter: freezing is process-wide and would change the garbage
collection of the test process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
from bridge.app import freeze_startup_objects
before = len(gc.get_objects())
freeze_startup_objects()
frozen = gc.get_freeze_count()
freeze_startup_objects()
print(json.dumps({"before": before, "frozen": frozen, "again": gc.get_freeze_count(),
                  "tracked": len(gc.get_objects())}))
"""


def test_freeze_takes_the_start_up_heap_out_of_full_collections() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60, check=True)
    seen = json.loads(out.stdout)
    assert seen["before"] > 20_000  # the imports alone: modules, schemas, functions
    assert seen["frozen"] >= 0.9 * seen["before"]
    assert seen["tracked"] < 0.05 * seen["before"]  # what a full collection still walks
    assert seen["again"] == seen["frozen"]  # once per process
