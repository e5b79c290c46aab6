"""The one value every marker source produces and every marker consumer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

MarkerValue = int | str


@dataclass(frozen=True, slots=True)
class Marker:
    """An event marker on its way to Cortex ``injectMarker``.

    ``value`` is what Cortex stores as the marker value: an integer >= 0 when the source
    sent a number (or a decimal string such as ``"768"``), else the text itself (Cortex
    accepts "a string or an integer"; negative integers are sent as text because Cortex
    refuses them as numbers). ``label`` is a human-readable name (the text, the OSC
    label argument, or the number written out). ``lsl_time`` is the moment of the event
    on this machine's LSL clock (``pylsl.local_clock()``), already corrected for the
    sender's clock; ``origin`` says where it came from (``lsl:<stream name>`` or
    ``osc:<host>:<port>``) for the log and for Cortex's ``port`` field. ``uid`` is given
    by the queue: unique across runs, it survives retries and reconnects, and travels in
    ``injectMarker``'s ``extras`` so that the bridge can ask Cortex whether a marker whose
    answer was lost was recorded before it sends it again.
    """

    value: MarkerValue
    label: str
    lsl_time: float
    origin: str
    uid: str = field(default="", compare=False)  # the queue's identity (see above)

    @property
    def port(self) -> str:
        """Cortex's ``port`` field ("where the marker comes from"): ``LSL`` or ``OSC``."""
        kind = self.origin.partition(":")[0]
        return kind.upper() if kind else "Software"


def coerce_value(raw: object) -> MarkerValue | None:
    """A Cortex marker value from what a source sent; None when nothing usable.

    Integers (and integral floats) >= 0 stay numbers; decimal strings of digits become
    numbers; other text stays text; negative numbers become text. NaN, infinities,
    booleans and empty text are not markers.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else str(raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            return None
        whole = int(raw)  # EmotivPRO truncates numeric markers to an integer, so do we
        return whole if whole >= 0 else str(whole)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        if text.isascii() and text.isdigit():
            return int(text)
        return text
    return None


def make_marker(raw: object, lsl_time: float, origin: str, label: str | None = None) -> Marker | None:
    """A :class:`Marker` from a raw value, or None if the value is not usable."""
    value = coerce_value(raw)
    if value is None:
        return None
    text = label if label else (raw.strip() if isinstance(raw, str) else str(value))
    return Marker(value, text, lsl_time, origin)
