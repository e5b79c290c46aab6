"""The simulator, the bridge's catalog and the reference agree on detection vocabularies.

Seed 001's fac example carries ``"lookD"`` as ``eyeAct``; ``horiEye`` is the name of a
detection in getDetectionInfo (cortex_api_more.md §B.1), never a frame value. Every action
the simulator can put in a ``com``/``fac`` frame must have a channel in the bridge's
default vocabularies, and a frame with an action the catalog does not know must be
counted and logged, not silently turned into zeros.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from cortex_examples import EPOCPLUS

from bridge.simulator import signals
from bridge.simulator.headsets import DETECTION_INFO
from bridge.streams import DEFAULT_VOCABULARIES, build_plan

SEED_001 = Path("/work/shared/reference/seeds/001_ccc06e0d4aac5ab4.txt")


def _emitted(table: tuple[float, tuple[tuple[str, float], ...]]) -> set[str]:
    return {"neutral", *(name for name, _ in table[1])}


def test_every_simulated_action_has_a_catalog_channel() -> None:
    assert _emitted(signals.FAC_EYE) <= set(DEFAULT_VOCABULARIES["eye"])
    assert _emitted(signals.FAC_UPPER) <= set(DEFAULT_VOCABULARIES["upper"])
    assert _emitted(signals.FAC_LOWER) <= set(DEFAULT_VOCABULARIES["lower"])
    assert set(signals.COM_ACTIONS) <= set(DEFAULT_VOCABULARIES["com"])
    assert set(DETECTION_INFO["mentalCommand"]["actions"]) == set(DEFAULT_VOCABULARIES["com"])


def test_eye_actions_are_frame_values_not_detection_names() -> None:
    assert "horiEye" not in _emitted(signals.FAC_EYE)
    assert "lookD" in _emitted(signals.FAC_EYE)
    values = {signals.fac_row(t / 32.0, 7, 0)[0] for t in range(32 * 600)}
    assert values <= set(DEFAULT_VOCABULARIES["eye"])
    assert {"lookL", "lookR"} <= values


@pytest.mark.skipif(not SEED_001.exists(), reason="reference seed page not present")
def test_seed_001_eye_action_is_in_the_catalog() -> None:
    text = SEED_001.read_text(encoding="utf-8", errors="replace")
    match = re.search(r'"fac":\s*\[\s*"(\w+)"', text)
    assert match is not None
    assert match.group(1) in DEFAULT_VOCABULARIES["eye"]


def test_unknown_action_is_counted_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    plan = build_plan("fac", ["eyeAct", "uAct", "uPow", "lAct", "lPow"], EPOCPLUS)
    with caplog.at_level(logging.WARNING, logger="bridge.streams"):
        for _ in range(3):
            sample = plan.extract(["squint", "frown", 0.4, "smile", 0.5])
    assert plan.unknown_actions == {"squint": 3}
    said = [r for r in caplog.records if "squint" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert 0.4 in sample and 0.5 in sample  # the known parts of the frame still arrive
