"""OSC addresses and rates as data: which address carries which channel, how com/fac
split into per-action numbers, the labels that name a vector's arguments, the
electrode-only and band-averaged addresses, the EmotivBCI and Mind Monitor address sets
of the presets, the README's address tables, and the rate gate.

Pure: :mod:`bridge.outputs.osc` sends what these decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from bridge.outputs.osc_codec import MAX_DATAGRAM, address_segment, osc_string
from bridge.streams import (
    CATALOG,
    DEFAULT_VOCABULARIES,
    POW_BANDS,
    TEN_TEN_LABELS,
    Layout,
    StreamPlan,
)

ACTION_ADDRESS: Final = "action"

ACTION_REFRESH_SECONDS: Final = 1.0
"""The per-action numbers of com and fac go out when they change, and every one of them
at least this often (on the sample clock), so a receiver that starts late, or misses a
datagram, is whole again within this time. They are one-hot: of 14 mental-command
numbers one is non-zero, so sending all on every sample was 14 datagrams where one or
two carry news (com and fac together: 800 datagrams/s per headset with the simulator,
now 217, of which 73 are per-action numbers)."""

LABELS_ADDRESS: Final = "labels"
"""``<vector address>/labels``: the names of that address's arguments, in order."""

LABELS_REQUEST: Final = "labels/request"
"""``<prefix>/labels/request`` sent to ``osc.listen``: every labels message, now."""

LABELS_INTERVAL_SECONDS: Final = 60.0
"""Labels also go out this often, for a receiver that started after the bridge and
cannot send a request (TouchDesigner's OSC In CHOP only listens)."""

ELECTRODES_ADDRESS: Final = "electrodes"
"""``<prefix>/<stream>/electrodes``: one value per electrode, nothing else."""

TIME_LABELS: Final = ("time/day", "time/second", "time/microsecond")
"""The names of the three time arguments (:func:`bridge.outputs.osc_codec.day_time`)."""

PRESETS: Final = ("native", "emotivbci", "mindmonitor")

PRESET_PREFIXES: Final = {"native": "/emotiv", "emotivbci": "", "mindmonitor": "/muse"}
"""The prefix each preset implies unless ``osc.prefix`` is set."""

# EmotivBCI (github.com/Emotiv/opensoundcontrol README): float32 0..1, -1 while a
# performance metric is inactive. Our channel label(s) per EmotivBCI address; the first
# present wins (Cortex 3 says "attention", Cortex 2 "foc").
EMOTIVBCI_MET: Final = (
    ("att", ("attention", "foc")),
    ("int", ("int",)),
    ("rel", ("rel",)),
    ("str", ("str",)),
    ("exc", ("exc",)),
    ("eng", ("eng",)),
)
EMOTIVBCI_MET_MISSING: Final = ("visualAttention", "cognitiveStress", "auditoryAttention")
"""EmotivBCI metrics that Cortex's ``met`` stream does not carry: never sent."""

EMOTIVBCI_COM: Final = tuple(
    ["neutral", "push", "pull", "left", "right", "lift", "drop", "rotateLeft", "rotateRight", "rotateClockwise", "rotateCounterClockwise", "rotateForwards", "rotateReverse", "disappear"]
)
EMOTIVBCI_FAC: Final = (
    ("eye/", "eyeAct", ("neutral", "lookL", "lookR", "blink", "winkL", "winkR")),
    ("upper/", "uAct", ("neutral", "frown", "surprise")),
    ("lower/", "lAct", ("neutral", "clench", "laugh", "smile", "smirkLeft", "smirkRight")),
)

# Mind Monitor (mind-monitor.com technical manual; MuseIO's paths). Emotiv has no delta
# band; beta is the mean of betaL and betaH.
MIND_MONITOR_BANDS: Final = (
    ("theta", ("theta",)),
    ("alpha", ("alpha",)),
    ("beta", ("betaL", "betaH")),
    ("gamma", ("gamma",)),
)
MIND_MONITOR_MISSING: Final = (
    "delta_absolute", "*_relative", "*_session_score", "touching_forehead", "ppg", "batt",
    "Marker/1..5",
)
HORSESHOE: Final = {4: 1.0, 3: 2.0, 2: 2.0}
"""Emotiv contact quality (4 good .. 0 none) as Muse's horseshoe (1 good, 2 medium,
4 bad); anything else is bad."""



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


def electrode_indices(plan: StreamPlan, sensors: Iterable[str] = ()) -> list[int]:
    """Positions of the channels that hold one value per electrode, in electrode order.

    eeg: the channels typed EEG (not COUNTER, INTERPOLATED, RAW_CQ, MARKER_HARDWARE);
    dev: ``cq/<electrode>`` (not Battery, Signal, cq/OVERALL); eq: ``<electrode>``.
    An electrode is a name of the headset's sensor list, or of 10-10 when it has none.
    Empty for streams with no per-electrode values.
    """
    if plan.stream == "eeg":
        return [i for i, ch in enumerate(plan.channels) if ch.type == "EEG"]
    prefix = {"dev": "cq/", "eq": ""}.get(plan.stream)
    if prefix is None:
        return []
    known = {s.casefold() for s in sensors} or TEN_TEN_LABELS
    return [
        i for i, label in enumerate(plan.labels)
        if label.startswith(prefix) and label[len(prefix):].casefold() in known
    ]


def band_indices(plan: StreamPlan) -> list[tuple[str, list[int]]]:
    """pow: (band, positions of ``<electrode>/<band>``) for each band present."""
    if plan.stream != "pow":
        return []
    found = [
        (band, [i for i, label in enumerate(plan.labels) if label.endswith("/" + band)])
        for band in POW_BANDS
    ]
    return [(band, indices) for band, indices in found if indices]


def labels_messages(
    address: str, labels: Sequence[str], limit: int = MAX_DATAGRAM
) -> list[tuple[str, tuple[str, ...]]]:
    """The labels of ``address`` as (address, names) messages of at most ``limit`` bytes.

    One ``<address>/labels`` when the names fit one datagram (every stream of every
    headset but band power of a 32-channel EPOC Flex), else ``<address>/labels/0``,
    ``/1`` ... with consecutive slices of the names, in order.
    """
    whole = f"{address}/{LABELS_ADDRESS}"
    if _labels_size(whole, labels) <= limit:
        return [(whole, tuple(labels))]
    result: list[tuple[str, tuple[str, ...]]] = []
    chunk: list[str] = []
    for label in labels:
        target = f"{whole}/{len(result)}"
        if chunk and _labels_size(target, [*chunk, label]) > limit:
            result.append((target, tuple(chunk)))
            chunk = []
        chunk.append(label)
    if chunk:
        result.append((f"{whole}/{len(result)}", tuple(chunk)))
    return result


def _labels_size(address: str, labels: Sequence[str]) -> int:
    return (len(osc_string(address)) + len(osc_string("," + "s" * len(labels)))
            + sum(len(osc_string(label)) for label in labels))


def address_table(prefix: str = "/emotiv") -> str:
    """The README's address table (markdown) of the native preset, from the catalog and
    the vocabularies the code uses, so the documentation cannot drift (a test compares)."""
    time3 = "`iii`"
    rows = [
        (f"`{prefix}/<stream>`", "`f`…", "vector layout: one message per sample, the "
         "stream's LSL channels in outlet order (`sys`: `ss`; with `timestamps`: "
         "`iii` first)"),
        (f"`{prefix}/<stream>/{LABELS_ADDRESS}`", "`s`…", "the names of the arguments of "
         f"`{prefix}/<stream>`, in order (with `timestamps`: "
         f"{', '.join(TIME_LABELS)} first); on start, on request and every "
         f"{LABELS_INTERVAL_SECONDS:g} s"),
        (f"`{prefix}/<stream>/{ELECTRODES_ADDRESS}`", "`f`…", "vector layout, eeg, dev and "
         "eq: one value per electrode and nothing else (no COUNTER, INTERPOLATED, RAW_CQ, "
         "MARKER_HARDWARE, battery or overall), in electrode order; names at "
         f"`…/{ELECTRODES_ADDRESS}/{LABELS_ADDRESS}`"),
        (f"`{prefix}/pow/<band>`", "`f`", "the mean over the electrodes of one band ("
         f"{', '.join(POW_BANDS)}), every band-power sample, both layouts"),
        (f"`{prefix}/<stream>/<channel>`", "`f`", "split layout: one message per channel, "
         "the LSL channel label as address (`pow/AF3/theta`, `met/attention`, `dev/cq/AF3`)"),
        (f"`{prefix}/<stream>/<k>`", "`f`…", "vector layout, part k = 0, 1, … of a vector "
         "too large for one 1472-byte datagram (names at `…/<k>/labels`)"),
        (f"`…/{LABELS_ADDRESS}/<j>`", "`s`…", "part j = 0, 1, … of names too long for one "
         "datagram (band power of a 32-channel EPOC Flex)"),
        (f"`{prefix}/<stream>/time`", time3, "split layout with `timestamps`: the sample "
         "time (day, second of the day, microsecond)"),
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
    rows.append((f"`{prefix}/marker`", "`siiii`", "marker echo: label, value, day, second, "
                 "microsecond (a value that is no int32: `sfiii` or `ssiii`)"))
    rows.append((f"`{prefix}/{LABELS_REQUEST}`", "any", "sent *to* the bridge "
                 "(`osc.listen`): every labels message goes out at once"))
    return _markdown(rows)


def preset_table(preset: str) -> str:
    """The README's table of what a compatibility preset sends (markdown), from the same
    tables the preset's sender uses."""
    if preset == "emotivbci":
        rows = [
            ("`/com/<action>`", "`f`", f"{', '.join(EMOTIVBCI_COM)}: the action's power "
             "0..1, 0 for the others; sent when it changes and once a second"),
        ]
        for prefix, group, actions in EMOTIVBCI_FAC:
            rows.append((f"`/fac/{group}/<action>`", "`f`", f"{', '.join(actions)} (our "
                         f"`fac/{prefix}`): as above"))
        names = ", ".join(name for name, _labels in EMOTIVBCI_MET)
        rows.append(("`/met/<metric>`", "`f`", f"{names}: 0..1, -1 while inactive; every "
                     f"metrics sample. Not sent: {', '.join(EMOTIVBCI_MET_MISSING)}"))
        return _markdown(rows)
    if preset == "mindmonitor":
        bands = ", ".join(name for name, _bands in MIND_MONITOR_BANDS)
        rows = [
            ("`/muse/eeg`", "`f`…", "one value per EEG electrode (µV), every sample "
             "(Emotiv's electrodes, not TP9, AF7, AF8, TP10)"),
            ("`/muse/elements/<band>_absolute`", "`f`", f"{bands}: log10 of the mean band "
             "power over the electrodes (beta: of betaL and betaH), every band-power sample"),
            ("`/muse/elements/horseshoe`", "`f`…", "per electrode: 1 good, 2 medium, 4 bad "
             "(from Emotiv's contact quality 4, 3-2, 1-0)"),
            ("`/muse/elements/blink`", "`i`", "1 when a blink starts (eye action blink)"),
            ("`/muse/elements/jaw_clench`", "`i`", "1 when a clench starts (lower-face "
             "action clench)"),
            ("`/muse/acc`", "`fff`", "ACCX, ACCY, ACCZ (g), motion headsets that have them"),
            ("`/muse/gyro`", "`fff`", "GYROX, GYROY, GYROZ (degrees/s), likewise"),
        ]
        rows.append(("not sent", "", ", ".join(f"`{m}`" for m in MIND_MONITOR_MISSING)))
        return _markdown(rows)
    raise ValueError(f"no table for preset {preset!r}")


def _markdown(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| address | tags | what |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
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
