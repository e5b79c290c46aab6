"""Dialect detection from several probes, and 1.x times in milliseconds (issue 15)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from bridge.clock import OriginEstimator
from bridge.cortex.api_v1 import Probe, decide_dialect, find_dialect
from bridge.cortex.protocol import CortexError
from bridge.cortex.v1_frames import V1Frames, time_scale

NF = -32601
INFO = Probe("getCortexInfo", result={"version": "2.7.0"})
NO_INFO = Probe("getCortexInfo", error=NF)
INFO_FAILS = Probe("getCortexInfo", error=-32603)
ACCESS = Probe("hasAccessRight", error=-32018)  # exists: it wants its parameters
NO_ACCESS = Probe("hasAccessRight", error=NF)
NAMES = Probe("getUserLogin", result=["cortextest"])
OBJECTS = Probe("getUserLogin", result=[{"username": "u"}])
EMPTY = Probe("getUserLogin", result=[])


@pytest.mark.parametrize(
    ("probes", "dialect", "sure", "said"),
    [
        ([INFO], "v2", True, "getCortexInfo answered (version 2.7.0)"),
        ([NO_INFO, NO_ACCESS], "v1", True, "hasAccessRight does not exist"),
        # A Cortex 2 in trouble: getCortexInfo fails, but it exists (was: never connected).
        ([INFO_FAILS, ACCESS], "v2", True, "getCortexInfo exists (error -32603)"),
        # A Cortex 2 without getCortexInfo (was: spoken to in 1.x).
        ([NO_INFO, ACCESS, OBJECTS], "v2", True, "getUserLogin lists user objects"),
        ([INFO_FAILS, NO_ACCESS, NAMES], "v1", True, "getUserLogin lists user names"),
        ([NO_INFO, ACCESS, EMPTY], "v2", False, "set cortex.dialect"),
    ],
)
def test_decide_dialect(probes: list[Probe], dialect: str, sure: bool, said: str) -> None:
    for n in range(1, len(probes)):
        assert decide_dialect(probes[:n]) is None  # each probe only when needed
    found = decide_dialect(probes)
    assert found is not None
    assert (found.dialect, found.sure) == (dialect, sure)
    assert said in found.text()


class FakeCortex:
    """Answers probes from a table: a result, or an error code."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.asked.append(method)
        answer = self.answers.get(method, NF)
        if isinstance(answer, int):
            raise CortexError(method, answer, "no")
        return answer


def test_find_dialect_asks_only_what_it_needs() -> None:
    v2 = FakeCortex({"getCortexInfo": {"version": "3.0"}})
    assert asyncio.run(find_dialect(v2)).dialect == "v2" and v2.asked == ["getCortexInfo"]
    v1 = FakeCortex({"getUserLogin": ["someone"]})
    assert asyncio.run(find_dialect(v1)).dialect == "v1"
    assert v1.asked == ["getCortexInfo", "hasAccessRight"]


def test_time_scale_tells_milliseconds_from_seconds() -> None:
    assert time_scale(12.5) == 1.0  # seconds since Cortex start (1.x docs)
    assert time_scale(1_700_000_000.0) == 1.0  # epoch seconds: still seconds
    assert time_scale(1_700_000_000_000.0) == 0.001  # epoch milliseconds


def test_v1_frames_in_milliseconds_are_scaled_counted_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Frames 1/128 s apart in epoch milliseconds: their times come out 1/128 s apart
    (not 7.8 s), counted, said once."""
    now = [100.0]
    frames = V1Frames(OriginEstimator(), lsl_clock=lambda: now[0], epoch_offset=lambda: 0.0)
    out: list[dict[str, Any]] = []
    frames.wrap(out.append)
    frames.learn_session({"id": "s1"})
    start_ms = 1_700_000_000_000.0
    for k in range(5):
        now[0] = 100.0 + k / 128
        frames.handle({"sid": "s1", "com": ["push", 0.5], "time": start_ms + k * 1000 / 128})
    times = [f["time"] for f in out]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(g - 1 / 128) < 1e-6 for g in gaps), gaps
    assert abs(times[-1] - now[0]) < 1e-3  # on the arrival clock, not hours ahead
    assert frames.milliseconds == 5
    assert sum("milliseconds" in r.getMessage() for r in caplog.records) == 1
