"""Property: whatever a frame holds, StreamPlan.extract raises FrameError or returns a
sample that a real LSL outlet accepts -- never any other exception.

Frames come in three flavours, so the search reaches past the length check: arbitrary
JSON-like values, lists of exactly the right length with arbitrary elements, and valid
frames with one element replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pylsl
import pytest
from cortex_examples import EXAMPLES, MET_GEN3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.outputs.lsl import LslOutlet, OutletNaming
from bridge.streams import KNOWN_STREAMS, FrameError, HeadsetInfo, StreamPlan, build_plan

HEADSET = HeadsetInfo(
    id=f"EPOCX-HYP{uuid.uuid4().hex[:8]}",
    model="EPOCX",
    sensors=("AF3", "T7", "Pz", "T8", "AF4"),
    eeg_rate=128.0,
    mems_rate=64.0,
)

# Extra layouts worth fuzzing: unknown columns (lenient path) and another met generation.
VARIANTS: dict[str, tuple[str, list[Any], list[Any]]] = {
    **{stream: (stream, cols, frame) for stream, (cols, frame) in EXAMPLES.items()},
    "eeg+unknown": ("eeg", ["COUNTER", "AF3", "MYSTERY", "MARKERS", 7], [1, 2.5, "x", [], None]),
    "met-gen3": ("met", MET_GEN3, [True, 0.5] * 6 + [0.25]),
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
# Cheap elements for long frames (pow has 25 values): generating 25 recursive values
# per example would make the search slow without finding more.
elements: st.SearchStrategy[Any] = (
    scalars | st.just([]) | st.just({}) | st.lists(scalars, max_size=6)
)


def frames(template: list[Any]) -> st.SearchStrategy[Any]:
    n = len(template)
    mutated = st.tuples(st.integers(0, max(n - 1, 0)), json_values).map(
        lambda change: [change[1] if i == change[0] else v for i, v in enumerate(template)]
    )
    return st.one_of(
        json_values,
        st.lists(elements, min_size=n, max_size=n),
        st.lists(elements, min_size=max(n - 1, 0), max_size=n + 1),
        mutated,
    )


@pytest.fixture(scope="module")
def outlets() -> Iterator[dict[str, tuple[StreamPlan, LslOutlet]]]:
    naming = OutletNaming("hyp-{cortex_stream}-{stream}-{headset}")
    made: dict[str, tuple[StreamPlan, LslOutlet]] = {}
    for key, (stream, cols, _) in VARIANTS.items():
        plan = build_plan(stream, cols, HEADSET)
        headset = HeadsetInfo(
            id=f"{HEADSET.id}-{key.replace('+', '-')}", model="EPOCX", eeg_rate=128.0
        )
        made[key] = (plan, LslOutlet(plan, headset, naming))
    yield made
    for _, outlet in made.values():
        outlet.close()


def test_every_stream_is_fuzzed() -> None:
    assert {stream for stream, _, _ in VARIANTS.values()} == set(KNOWN_STREAMS)


@pytest.mark.parametrize("key", sorted(VARIANTS))
def test_extract_raises_only_frame_error(
    key: str, outlets: dict[str, tuple[StreamPlan, LslOutlet]]
) -> None:
    plan, outlet = outlets[key]
    template = VARIANTS[key][2]
    expected_type = str if plan.channel_format == "string" else float

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(frames(template))
    def check(frame: Any) -> None:
        try:
            sample = plan.extract(frame)
        except FrameError:
            return
        assert len(sample) == plan.channel_count
        assert all(type(v) is expected_type for v in sample)
        outlet.push(sample, pylsl.local_clock())

    check()
