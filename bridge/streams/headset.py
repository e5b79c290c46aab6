"""What a headset is to the catalog (:class:`HeadsetInfo`), its channels, and the
frame errors every stream shares."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

NAN: Final = math.nan
FLOAT32_MAX: Final = 3.4028234663852886e38
"""The largest float32: a number beyond it would reach an LSL outlet as infinity."""

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class FrameError(ValueError):
    """A Cortex frame that does not fit its stream's plan (wrong length or value types).

    The daemon counts and drops such frames; it is the only exception
    :meth:`StreamPlan.extract` raises, whatever the frame holds.
    """


class UnknownStreamError(ValueError):
    """``build_plan`` was asked for a stream that is not in the catalog."""


# --------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One LSL channel: what goes into ``desc/channels/channel``.

    ``type`` is the XDF/MNE channel type (``EEG``, ``MISC``, ``STIM``, MoCap's
    ``OrientationA`` ...). mne-lsl and MNELAB take it as the MNE channel type, so only
    real EEG sensors are ever typed ``EEG``.
    """

    label: str
    unit: str
    type: str


# Emotiv headset-id prefixes (unity-plugin ``Types.cs``) and how we name the models in
# metadata. The prefix is the reliable way to know the model: ``settings.mode`` says
# ``EPOCPLUS`` for an EPOC X running in EPOC+ mode.
MODEL_NAMES: Final[Mapping[str, str]] = {
    "EPOC": "EPOC",
    "EPOCPLUS": "EPOC+",
    "EPOCX": "EPOC X",
    "INSIGHT": "Insight",
    "INSIGHT2": "Insight 2",
    "EPOCFLEX": "EPOC Flex",
    "FLEX2": "Flex 2",
    "MN8": "MN8",
    "MW20": "MW20",
    "BGX": "X-trodes",
}

# Streams a model never has, whatever the licence (cortex_api.md §5.3: fac "all but MN8";
# EPOC Flex has met/com/fac only with a special mapping, §3.3): refused ones are not retried.
MODEL_LACKS: Final[Mapping[str, frozenset[str]]] = {
    "MN8": frozenset({"fac"}),
    "EPOCFLEX": frozenset({"met", "com", "fac"}),
}

# Models whose motion rate is fixed whatever ``memsRate`` says (cortex_api.md §5.3).
FIXED_MOTION_RATES: Final[Mapping[str, float]] = {"MN8": 6.4}


@dataclass(frozen=True, slots=True)
class HeadsetInfo:
    """What the catalog and the outlet metadata need to know about one headset.

    Built from a Cortex headset object (``queryHeadsets``); every field but ``id`` has
    a harmless default because Cortex versions differ in what they send.
    ``eeg_rate``/``mems_rate`` of ``0.0`` mean "unknown" and "motion disabled".
    """

    id: str
    model: str = "unknown"
    sensors: tuple[str, ...] = ()
    eeg_rate: float = 0.0
    mems_rate: float = 0.0
    firmware: str = ""
    connected_by: str = ""
    eeg_resolution: int = 0  # bits (settings.eegRes); 0 = unknown
    custom_name: str = ""
    # EPOC Flex places its references freely; the headset's flexMappings say where.
    cms: str = ""
    drl: str = ""
    # Who makes the device and which service delivers its data (outlet metadata); a
    # second source (Emogg) describes itself here.
    manufacturer: str = "Emotiv"
    source: str = "Emotiv Cortex"

    @property
    def model_name(self) -> str:
        """Human model name for metadata (``EPOC X``), the model code if unknown."""
        return MODEL_NAMES.get(self.model, self.model)

    @classmethod
    def from_headset_object(cls, obj: Mapping[str, Any]) -> HeadsetInfo:
        """Read a Cortex headset object (cortex_api.md §3.2), tolerating missing fields.

        Only ``id`` is required (it is the stable identity of every outlet); anything
        else missing or of the wrong type falls back to its default.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"a headset object must be a JSON object, not {type(obj).__name__}")
        headset_id = obj.get("id")
        if not isinstance(headset_id, str) or not headset_id.strip():
            raise ValueError("the headset object has no id")
        settings = obj.get("settings")
        if not isinstance(settings, Mapping):
            settings = {}
        model = _model_of(headset_id, settings.get("mode"))
        mems = _number(settings.get("memsRate"))
        if mems is None:
            mems = FIXED_MOTION_RATES.get(model, 0.0)
        sensors = obj.get("sensors")
        flex = _flex_mapping(obj.get("flexMappings", obj.get("flexMapping")))
        return cls(
            id=headset_id,
            model=model,
            sensors=tuple(s for s in sensors if isinstance(s, str) and s)
            if isinstance(sensors, list | tuple)
            else (),
            eeg_rate=_number(settings.get("eegRate")) or 0.0,
            mems_rate=mems,
            firmware=_text(obj.get("firmware")),
            connected_by=_text(obj.get("connectedBy")),
            eeg_resolution=int(_number(settings.get("eegRes")) or 0),
            custom_name=_text(obj.get("customName")),
            cms=_text(flex.get("CMS")),
            drl=_text(flex.get("DRL")),
        )


def _model_of(headset_id: str, mode: Any) -> str:
    """Model code: a known id prefix, else ``settings.mode``, else the raw prefix."""
    prefix = headset_id.split("-", 1)[0].strip().upper()
    if prefix in MODEL_NAMES:
        return prefix
    if isinstance(mode, str) and mode.strip() and mode.strip().upper() != "UNKNOWN":
        return mode.strip().upper()
    if "-" in headset_id and prefix:
        return prefix
    return "unknown"


def _number(value: Any) -> float | None:
    """A finite, non-negative number from a JSON value, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _flex_mapping(value: Any) -> Mapping[str, Any]:
    """``flexMappings`` is the mapping itself or wraps it in ``mappings``; accept both."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get("mappings")
    return inner if isinstance(inner, Mapping) else value


# --------------------------------------------------------------------------------------
