"""Backoff delays, headset selection and COUNTER gap arithmetic: pure functions."""

from __future__ import annotations

import pytest

from bridge.backoff import Backoff
from bridge.pipeline import counted_drops
from bridge.selection import choose_headsets, explain, select_headsets, unopenable_reason


def test_backoff_grows_jittered_and_caps() -> None:
    top = Backoff(initial=0.5, cap=4.0, rand=lambda: 1.0)
    assert [top.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    low = Backoff(initial=0.5, cap=4.0, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(4)] == [0.25, 0.5, 1.0, 2.0]
    top.reset()
    assert top.next_delay() == 0.5
    with pytest.raises(ValueError):
        Backoff(initial=2.0, cap=1.0)


HEADSETS = [
    {"id": "INSIGHT-11111111", "status": "discovered"},
    {"id": "EPOCX-22222222", "status": "connected"},
    {"id": "EPOCX-33333333", "status": "connected"},
    {"status": "connected"},  # no id: ignored
]


def test_default_is_first_connected() -> None:
    assert [h["id"] for h in select_headsets(HEADSETS, [])] == ["EPOCX-22222222"]


def test_default_falls_back_to_first_discovered() -> None:
    only_discovered = [HEADSETS[0]]
    assert [h["id"] for h in select_headsets(only_discovered, [])] == ["INSIGHT-11111111"]
    assert select_headsets([], []) == []


def test_patterns_select_every_match() -> None:
    chosen = select_headsets(HEADSETS, ["EPOCX-*", "INSIGHT-11111111"])
    assert [h["id"] for h in chosen] == ["INSIGHT-11111111", "EPOCX-22222222", "EPOCX-33333333"]
    assert select_headsets(HEADSETS, ["MN8-*"]) == []


@pytest.mark.parametrize(
    ("previous", "current", "modulus", "gap", "expected"),
    [
        (5, 6, 128, 1.0, 0),  # consecutive
        (5, 9, 128, 4.0, 3),  # three lost
        (127, 0, 128, 1.0, 0),  # wrap
        (126, 1, 128, 3.0, 2),  # lost across the wrap
        (5, 6, 128, 129.0, 128),  # a whole second lost: only the time can tell
        (5, 9, 128, None, 3),  # no time: the counter decides
        (5, 6, 128, 640.0, 0),  # a clock step of 5 s disagrees with the counter: ignored
    ],
)
def test_counted_drops(
    previous: int, current: int, modulus: int, gap: float | None, expected: int
) -> None:
    assert counted_drops(previous, current, modulus, gap) == expected


USB = {"id": "EPOCX-12345678", "status": "connected", "connectedBy": "usb cable"}
DONGLE = {"id": "EPOCPLUS-3B9AXXXX", "status": "connected", "connectedBy": "dongle"}


def test_default_skips_a_usb_cabled_headset_and_says_why() -> None:
    """seed 000: Cortex cannot open a session on a USB-cabled headset; the wireless one
    next to it is taken, and the skipped one has its reason."""
    selection = choose_headsets([USB, DONGLE], [])
    assert [h["id"] for h in selection.chosen] == [DONGLE["id"]]
    assert "USB cable" in selection.skipped[USB["id"]]
    notices = explain(selection, [])
    assert len(notices) == 1 and not notices[0].loud  # something else is bridged: INFO
    alone = explain(choose_headsets([USB], []), [])
    assert len(alone) == 1 and alone[0].loud and USB["id"] in alone[0].text


def test_connected_by_is_read_loosely() -> None:
    assert unopenable_reason({"connectedBy": "USB Cable"}) is not None
    assert unopenable_reason({"connectedBy": "bluetooth"}) is None
    assert unopenable_reason({}) is None


def test_patterns_matching_only_usb_cabled_headsets_say_so() -> None:
    selection = choose_headsets([USB, DONGLE], ["EPOCX-*"])
    assert selection.chosen == [] and selection.only_unopenable
    (notice,) = explain(selection, ["EPOCX-*"])
    assert notice.loud and "matches only headsets Cortex cannot open" in notice.text
    assert "EPOCX-*" in notice.text and USB["id"] in notice.text
    both = choose_headsets([USB, DONGLE], ["EPOC*"])
    assert [h["id"] for h in both.chosen] == [DONGLE["id"]] and not both.only_unopenable
    assert choose_headsets([USB, DONGLE], ["MN8-*"]).skipped == {}


def test_the_default_choice_stays_with_the_headset_being_connected() -> None:
    """The first discovered headset is chosen and connected; while Cortex lists it as
    ``connecting`` the next discovered one must not be taken as well."""
    connecting = {"id": "INSIGHT-1", "status": "connecting"}
    other = {"id": "EPOCX-2", "status": "discovered"}
    assert [h["id"] for h in choose_headsets([connecting, other], []).chosen] == ["EPOCX-2"]
    kept = choose_headsets([connecting, other], [], running=["INSIGHT-1"]).chosen
    assert [h["id"] for h in kept] == ["INSIGHT-1"]
    gone = choose_headsets([other], [], running=["INSIGHT-1"]).chosen  # no longer listed
    assert [h["id"] for h in gone] == ["EPOCX-2"]
