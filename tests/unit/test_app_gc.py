"""The start-up heap is frozen once, so a full collection no longer walks it.

Freezing is process-wide: the fixture gives the test process its collector back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bridge.app import freeze_startup_objects


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_freeze_takes_the_start_up_heap_out_of_full_collections() -> None:
    gc.collect()  # what is garbage now would not be frozen (a long test run leaves some)
    before = len(gc.get_objects())
    assert before > 20_000  # the test process's imports alone
    freeze_startup_objects()
    frozen = gc.get_freeze_count()
    assert frozen >= 0.9 * before
    assert len(gc.get_objects()) < 0.05 * before  # what a full collection still walks
    freeze_startup_objects()
    assert gc.get_freeze_count() == frozen  # once per process
