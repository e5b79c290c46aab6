"""OSC addresses and rates as data: which address carries which channel, how com/fac
split into per-action numbers, the README's address table, and the rate gate.

Pure: :mod:`bridge.outputs.osc` sends what these decide.
"""

from __future__ import annotations

from typing import Final

from bridge.outputs.osc_codec import address_segment
from bridge.streams import CATALOG, DEFAULT_VOCABULARIES, Layout, StreamPlan

ACTION_ADDRESS: Final = "action"

ACTION_REFRESH_SECONDS: Final = 1.0
"""The per-action numbers of com and fac go out when they change, and every one of them
at least this often (on the sample clock), so a receiver that starts late, or misses a
datagram, is whole again within this time. They are one-hot: of 14 mental-command
numbers one is non-zero, so sending all on every sample was 14 datagrams where one or
two carry news (com and fac together: 800 datagrams/s per headset with the simulator,
now 217, of which 73 are per-action numbers)."""



# ------------------------------------------------------------------------------------------
# Pure helpers (addresses, action groups, rate gate)
# ------------------------------------------------------------------------------------------


def is_action_stream(stream: str) -> bool:
    spec = CATALOG.get(stream)
    return spec is not None and spec.layout is Layout.ONE_HOT


def action_groups(plan: StreamPlan) -> list[tuple[str, list[int]]]:
    """For com/fac: (group path, channel indices) per action group of the catalog.

    The group path is the catalog prefix without its slash (``""`` for com, ``eye``,
    ``upper``, ``lower`` for fac); the indices are the plan's channels in that group.
    Empty for streams that are not one-hot action streams.
    """
    spec = CATALOG.get(plan.stream)
    if spec is None or spec.layout is not Layout.ONE_HOT:
        return []
    groups = []
    for group in spec.groups:
        indices = [i for i, label in enumerate(plan.labels) if label.startswith(group.prefix)]
        if indices:
            groups.append((group.prefix.rstrip("/"), indices))
    return groups


def stream_addresses(base: str, plan: StreamPlan) -> list[str]:
    """The per-channel addresses of a stream under ``base`` (``P/<stream>``), in order."""
    return [f"{base}/{address_segment(label)}" for label in plan.labels]


def planned_addresses(base: str, plan: StreamPlan, layout: str, timed: bool) -> list[str]:
    """Every address one stream is sent on under ``base`` (``P/<stream>``), as the OSC
    sender builds them: the vector (one message), or one per channel (``split``, and
    always for one-hot action streams, which add their ``action`` messages); ``/time``
    with split and timestamps. For ``check``, which lists what ``run`` would send."""
    addresses = [base] if layout == "vector" else []
    if layout == "split" or is_action_stream(plan.stream):
        addresses += stream_addresses(base, plan)
    if timed and layout == "split":
        addresses.append(f"{base}/time")
    for group, _indices in action_groups(plan):
        addresses.append(f"{base}/{group}/{ACTION_ADDRESS}" if group else f"{base}/{ACTION_ADDRESS}")
    return addresses


def address_table(prefix: str = "/emotiv") -> str:
    """The README's address table (markdown), from the catalog and the vocabularies the
    code uses, so the documentation cannot drift (a test compares them)."""
    rows = [
        ("address", "tags", "what"),
        (f"`{prefix}/<stream>`", "`f`…", "vector layout: one message per sample, the "
         "stream's LSL channels in outlet order (`sys`: `ss`; with `timestamps`: `ii` first)"),
        (f"`{prefix}/<stream>/<channel>`", "`f`", "split layout: one message per channel, "
         "the LSL channel label as address (`pow/AF3/theta`, `met/attention`, `dev/cq/AF3`)"),
        (f"`{prefix}/<stream>/<k>`", "`f`…", "vector layout, part k = 0, 1, … of a vector "
         "too large for one 1472-byte datagram"),
        (f"`{prefix}/<stream>/time`", "`ii`", "split layout with `timestamps`: the sample "
         "time (seconds, microseconds)"),
    ]
    for stream, spec in CATALOG.items():
        if spec.layout is not Layout.ONE_HOT:
            continue
        for group in spec.groups:
            path = f"{prefix}/{stream}/{group.prefix}"
            actions = ", ".join(DEFAULT_VOCABULARIES[group.vocabulary_key])
            rows.append((f"`{path}<action>`", "`f`", f"one number per action ({actions}), "
                         "sent when it changes and once a second"))
            rows.append((f"`{path}{ACTION_ADDRESS}`", "`sf`", "the current action's name "
                         "and power"))
    rows.append((f"`{prefix}/status`", "`i`", "1 while samples flow, 0 when not; once a "
                 "second per headset"))
    rows.append((f"`{prefix}/marker`", "`siii`", "marker echo: label, value, seconds, "
                 "microseconds (a value that is no int32: `sfii` or `ssii`)"))
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---|---|---|")
    return "\n".join(lines) + "\n"


class RateGate:
    """Deterministic decimation to at most ``cap_hz`` messages per second.

    Ticks every ``1/cap_hz`` s on the *sample* clock, starting at the first sample; a
    sample is sent when it is the first at (or within half an input period before) the
    next tick. A 128 Hz stream capped at 32 Hz therefore sends exactly every 4th sample,
    whatever the delivery jitter. A gap longer than a tick, or time running backwards
    (a clock re-sync), restarts the ticks at the next sample.
    """

    __slots__ = ("next_due", "period", "tolerance")

    def __init__(self, cap_hz: float, input_rate: float = 0.0) -> None:
        if cap_hz <= 0:
            raise ValueError("a rate cap must be greater than 0 Hz")
        self.period = 1.0 / cap_hz
        half_input = 0.5 / input_rate if input_rate > 0 else 0.0
        self.tolerance = min(half_input, 0.5 * self.period)
        self.next_due: float | None = None

    def admit(self, t: float) -> bool:
        due = self.next_due
        period = self.period
        if due is None or t > due + period or t < due - 2 * period:
            self.next_due = t + period
            return True
        if t < due - self.tolerance:
            return False
        self.next_due = due + period
        return True


# ------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------
