"""LSL outlets with full XDF metadata and a stable identity.

Each (headset, Cortex stream) pair gets one outlet whose ``source_id`` is
``cortex-bridge:<headset id>:<stream>``. Outlets live as long as the daemon
(:class:`OutletRegistry`): LabRecorder loses the first samples after an outlet restarts
and OpenViBE stops altogether, so a Cortex reconnect must find the same outlet again.
Only a changed channel layout (labels, units, types, format, rate, name) forces a new
outlet, because an LSL header is fixed for the outlet's lifetime.

The header is written once, at creation, and LabRecorder copies it into the XDF file:
every stream carries ``desc/channels/channel/{label,unit,type}`` (MNELAB raises on a
channel lacking type or unit), ``manufacturer``, ``acquisition``, ``synchronization``
and ``cortex_stream``; the EEG stream also ``cap`` and ``reference``
(``shared/reference/lsl_osc.md`` §0-§1).

Samples are pushed with explicit timestamps in ``pylsl.local_clock()`` time, computed
from Cortex's device time by :mod:`bridge.clock`; an outlet never stamps on arrival.
"""

from __future__ import annotations

import logging
import math
import socket
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pylsl

from bridge import __version__
from bridge.outputs.lslpush import float32_pusher
from bridge.streams import ChannelSpec, HeadsetInfo, StreamPlan

__all__ = [
    "EMOTIVPRO_LABELS",
    "EMOTIVPRO_NAMING",
    "MANUFACTURER",
    "LslOutlet",
    "OutletClosedError",
    "OutletLayout",
    "OutletNaming",
    "OutletRegistry",
    "make_stream_info",
    "source_id_for",
]

log = logging.getLogger(__name__)

MANUFACTURER: Final = "Emotiv"
SOFTWARE: Final = f"cortex-bridge {__version__}"
SOURCE: Final = "Emotiv Cortex"
SOURCE_ID_PREFIX: Final = "cortex-bridge"

# max_buffered: seconds for regular streams, hundreds of samples for irregular ones
# (liblsl). 360 is liblsl's default: 6 minutes lets LabRecorder (pulling every 500 ms)
# ride out a long stall, and a 14-channel 256 Hz stream needs ~6.6 MB for it per
# consumer, which is fine even for 16 headsets.
MAX_BUFFERED: Final = 360

# EmotivPRO's LSL stream words (Emotiv/labstreaminglayer README), for users whose
# scripts resolve "EmotivDataStream-EEG" and friends. Streams EmotivPRO does not
# publish fall back to our label.
EMOTIVPRO_LABELS: Final[Mapping[str, str]] = {
    "eeg": "EEG",
    "mot": "Motion",
    "met": "Performance-Metrics",
    "dev": "Contact-Quality",
    "eq": "EEG-Quality",
    "pow": "Band-Power",
}

_PLACEHOLDERS: Final = frozenset({"stream", "headset", "cortex_stream", "emotivpro", "host"})


class OutletClosedError(RuntimeError):
    """A push to an outlet that was closed (a bug in the caller, never data-dependent)."""


@dataclass(frozen=True, slots=True)
class OutletNaming:
    """How outlet names are made.

    Placeholders: ``{stream}`` (our label, e.g. ``EEG``), ``{headset}`` (the headset id),
    ``{cortex_stream}`` (``eeg``), ``{emotivpro}`` (EmotivPRO's word, e.g.
    ``Performance-Metrics``), ``{host}`` (``host``: the bridge's name, ``status.name`` or
    the host name, so that bridges on several machines or several bridge processes on
    one never publish two streams of one name). Names must be unique on a host (LabRecorder shows
    "name (host)" and cannot tell two equal names apart, OpenViBE resolves by name), so
    a template must name the stream; leaving out ``{headset}`` is allowed for
    single-headset set-ups that want EmotivPRO's names.
    """

    name_template: str = "Emotiv-{stream}-{headset}"
    host: str = ""  # empty: this machine's host name

    def __post_init__(self) -> None:
        try:
            fields = {
                name for _, name, _, _ in string.Formatter().parse(self.name_template) if name
            }
        except ValueError as exc:
            raise ValueError(f"outlet name template {self.name_template!r}: {exc}") from None
        unknown = fields - _PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"outlet name template {self.name_template!r} has unknown placeholders "
                f"{sorted(unknown)}; use {sorted(_PLACEHOLDERS)}"
            )
        if not fields & {"stream", "cortex_stream", "emotivpro"}:
            raise ValueError(
                f"outlet name template {self.name_template!r} must contain {{stream}}, "
                "{cortex_stream} or {emotivpro}, or every stream of a headset gets one name"
            )

    def name_for(self, plan: StreamPlan, headset: HeadsetInfo) -> str:
        return self.name_template.format(
            stream=plan.label,
            headset=headset.id,
            cortex_stream=plan.stream,
            emotivpro=EMOTIVPRO_LABELS.get(plan.stream, plan.label),
            host=self.host or socket.gethostname(),
        )


EMOTIVPRO_NAMING: Final = OutletNaming("EmotivDataStream-{emotivpro}")


def source_id_for(headset_id: str, stream: str) -> str:
    """``cortex-bridge:<headset>:<stream>``: stable across restarts, unique per pair.

    liblsl recovers inlets (and LabRecorder re-adds streams) by source_id, so it must
    never change for a given headset and stream, and must never be empty.
    """
    if not headset_id or not stream:
        raise ValueError("a source_id needs a headset id and a stream name")
    return f"{SOURCE_ID_PREFIX}:{headset_id}:{stream}"


# --------------------------------------------------------------------------------------
# EEG reference (desc/reference)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    """Where a model's CMS (the reference) and DRL (noise cancellation) electrodes sit."""

    scheme: str
    cms: str
    drl: str
    note: str


# Emotiv knowledge base ("Everything you need to know about reference sensors",
# "Are CMS/DRL references positioned as usually around the mastoid?") and the EPOC X
# manual ("14 (plus CMS/DRL references at P3/P4 locations M1/M2)"): all signals are the
# potential difference to CMS; the references themselves are not recorded.
_EPOC_REFERENCE = ReferenceInfo(
    "CMS/DRL",
    "P3",
    "P4",
    "CMS at P3 and DRL at P4 by default; the alternative placement on the mastoids "
    "(CMS M1/left, DRL M2/right) cannot be detected from Cortex",
)
REFERENCES: Final[Mapping[str, ReferenceInfo]] = {
    "EPOC": _EPOC_REFERENCE,
    "EPOCPLUS": _EPOC_REFERENCE,
    "EPOCX": _EPOC_REFERENCE,
    "INSIGHT": ReferenceInfo("CMS/DRL", "M1", "M1", "CMS and DRL both on the left mastoid"),
    # Unverified: Insight 2 is assumed to keep the Insight placement.
    "INSIGHT2": ReferenceInfo(
        "CMS/DRL", "M1", "M1", "assumed as Insight (left mastoid); not documented"
    ),
}
# EPOC Flex uses the EPOC referencing circuit with free placement: its flexMappings say
# where CMS and DRL are. MN8, MW20 and X-trodes: not documented -> "unknown".
_FLEX_MODELS: Final = frozenset({"EPOCFLEX", "FLEX2"})
UNKNOWN: Final = "unknown"


def reference_for(headset: HeadsetInfo) -> ReferenceInfo:
    """The documented reference of the headset's model, or one marked unknown."""
    if headset.model in _FLEX_MODELS:
        return ReferenceInfo(
            "CMS/DRL",
            headset.cms or UNKNOWN,
            headset.drl or UNKNOWN,
            "EPOC Flex: placement from the headset's flex mapping",
        )
    return REFERENCES.get(
        headset.model,
        ReferenceInfo(UNKNOWN, UNKNOWN, UNKNOWN, "reference placement not documented"),
    )


# --------------------------------------------------------------------------------------
# StreamInfo
# --------------------------------------------------------------------------------------


def make_stream_info(
    plan: StreamPlan,
    headset: HeadsetInfo,
    naming: OutletNaming,
    *,
    extra_sync: Mapping[str, str] | None = None,
) -> pylsl.StreamInfo:
    """The full LSL header of the outlet for ``plan`` on ``headset``.

    ``extra_sync`` adds (or overrides) elements of ``desc/synchronization``, e.g. the
    clock source or a measured offset spread.
    """
    info = pylsl.StreamInfo(
        name=naming.name_for(plan, headset),
        type=plan.lsl_type,
        channel_count=plan.channel_count,
        nominal_srate=plan.nominal_rate,
        channel_format=plan.channel_format,
        source_id=source_id_for(headset.id, plan.stream),
    )
    desc = info.desc()
    _append_channels(desc, plan.channels)
    desc.append_child_value("manufacturer", headset.manufacturer)
    stream_key = "cortex_stream" if headset.source == SOURCE else "source_stream"
    desc.append_child_value(stream_key, plan.stream)
    for key, value in plan.desc_extra:
        desc.append_child_value(key, value)
    _append_acquisition(desc, plan, headset)
    if plan.lsl_type == "EEG":
        _append_eeg_setup(desc, headset)
    _append_synchronization(desc, plan, extra_sync)
    return info


def _append_channels(desc: Any, channels: Sequence[ChannelSpec]) -> None:
    parent = desc.append_child("channels")
    for ch in channels:
        node = parent.append_child("channel")
        node.append_child_value("label", ch.label)
        node.append_child_value("unit", ch.unit)
        node.append_child_value("type", ch.type)


def _append_acquisition(desc: Any, plan: StreamPlan, headset: HeadsetInfo) -> None:
    node = desc.append_child("acquisition")
    fields = {
        "manufacturer": headset.manufacturer,
        "model": headset.model_name,
        "serial_number": headset.id,
        "firmware": headset.firmware or UNKNOWN,
        "connection": headset.connected_by or UNKNOWN,
        "software": SOFTWARE,
        "source": headset.source,
    }
    if plan.lsl_type == "EEG" and headset.eeg_resolution > 0:
        fields["precision"] = str(headset.eeg_resolution)  # bits (settings.eegRes)
    for key, value in fields.items():
        node.append_child_value(key, value)


def _append_eeg_setup(desc: Any, headset: HeadsetInfo) -> None:
    cap = desc.append_child("cap")
    cap.append_child_value("name", headset.model_name)
    cap.append_child_value("manufacturer", MANUFACTURER)
    cap.append_child_value("labelscheme", "10-20")
    ref = reference_for(headset)
    node = desc.append_child("reference")
    node.append_child_value("label", ref.cms)
    # XDF EEG meta-data: "subtracted" = the data are already relative to the reference,
    # which a hardware CMS reference always is.
    node.append_child_value("subtracted", "Yes" if ref.scheme != UNKNOWN else UNKNOWN)
    node.append_child_value("common_average", "No")
    # Our extension: the CMS/DRL pair and where the information comes from.
    node.append_child_value("scheme", ref.scheme)
    node.append_child_value("cms", ref.cms)
    node.append_child_value("drl", ref.drl)
    node.append_child_value("note", ref.note)


def _append_synchronization(
    desc: Any, plan: StreamPlan, extra_sync: Mapping[str, str] | None
) -> None:
    # Timestamps come from the headset clock (Cortex `time`), so there is no constant
    # offset to subtract. A regular stream can lose samples (COUNTER gaps):
    # can_drop_samples tells pyxdf not to dejitter across them (which would compress
    # time). An irregular stream is never dejittered, so the flag is "false".
    fields = {
        "offset_mean": "0",
        "can_drop_samples": "true" if plan.nominal_rate > 0 else "false",
    }
    fields.update(extra_sync or {})
    node = desc.append_child("synchronization")
    for key, value in fields.items():
        node.append_child_value(key, str(value))


# --------------------------------------------------------------------------------------
# Outlets
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutletLayout:
    """Everything in an outlet's header that a consumer binds to.

    Two plans with equal layouts can share one outlet; anything else forces a new one.
    Descriptive metadata (firmware, connection) is deliberately not part of it: a
    firmware string is not worth breaking every recording.
    """

    name: str
    lsl_type: str
    channel_format: str
    nominal_rate: float
    channels: tuple[ChannelSpec, ...]

    @classmethod
    def of(cls, plan: StreamPlan, name: str) -> OutletLayout:
        return cls(name, plan.lsl_type, plan.channel_format, plan.nominal_rate, plan.channels)

    def differences(self, other: OutletLayout) -> list[str]:
        """Human-readable reasons why ``other`` needs a different outlet."""
        reasons = [
            f"{what} {mine!r} -> {theirs!r}"
            for what, mine, theirs in (
                ("name", self.name, other.name),
                ("type", self.lsl_type, other.lsl_type),
                ("channel format", self.channel_format, other.channel_format),
                ("nominal rate", self.nominal_rate, other.nominal_rate),
            )
            if mine != theirs
        ]
        if len(self.channels) != len(other.channels):
            reasons.append(f"channel count {len(self.channels)} -> {len(other.channels)}")
        for attr in ("label", "unit", "type"):
            if [getattr(c, attr) for c in self.channels] != [
                getattr(c, attr) for c in other.channels
            ]:
                reasons.append(f"channel {attr}s changed")
        return reasons


class LslOutlet:
    """One LSL outlet for one (headset, Cortex stream).

    Regular streams use ``chunk_size=0`` and push through every sample: Cortex already
    delivers in bursts, and latency matters to BCI consumers.
    """

    def __init__(
        self,
        plan: StreamPlan,
        headset: HeadsetInfo,
        naming: OutletNaming | None = None,
        *,
        extra_sync: Mapping[str, str] | None = None,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        naming = naming or OutletNaming()
        info = make_stream_info(plan, headset, naming, extra_sync=extra_sync)
        self.plan = plan
        self.headset = headset
        self.name: str = info.name()
        self.source_id: str = info.source_id()
        self.layout = OutletLayout.of(plan, self.name)
        self._outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(
            info, chunk_size=0, max_buffered=max_buffered
        )
        self.uid: str = self._outlet.get_info().uid()
        self._fast_push = float32_pusher(self._outlet)  # None for string outlets

    @property
    def closed(self) -> bool:
        return self._outlet is None

    def have_consumers(self) -> bool:
        return self._outlet is not None and bool(self._outlet.have_consumers())

    def push(self, sample: Sequence[float] | Sequence[str], timestamp: float) -> None:
        """Push one sample stamped ``timestamp`` (``local_clock()`` seconds, > 0).

        A timestamp of 0.0 would make liblsl stamp the arrival time, which is wrong
        by Cortex's ~200 ms delivery delay; it is refused, as are NaN and negatives.
        """
        outlet = self._outlet
        if outlet is None:
            raise OutletClosedError(f"LSL outlet {self.source_id} is closed")
        if not timestamp > 0.0:
            raise ValueError(f"LSL timestamp must be positive, got {timestamp!r}")
        fast = self._fast_push
        if fast is None or not fast(sample, timestamp):
            outlet.push_sample(sample, timestamp, True)

    def push_chunk(
        self,
        samples: Sequence[Sequence[float] | Sequence[str]],
        timestamps: Sequence[float],
    ) -> None:
        """Push several samples, each with its own timestamp.

        ``samples`` may also be a 2-D numpy array; numeric samples are converted to
        float32 once, by numpy inside pylsl.

        Never one timestamp for a chunk: liblsl would back-compute the others from the
        nominal rate (wrong across COUNTER gaps) or, on irregular streams, give them
        all the same time.
        """
        outlet = self._outlet
        if outlet is None:
            raise OutletClosedError(f"LSL outlet {self.source_id} is closed")
        if len(samples) != len(timestamps):
            raise ValueError(f"{len(samples)} samples but {len(timestamps)} timestamps")
        if not len(samples):
            return
        stamps = [float(t) for t in timestamps]
        if not min(stamps) > 0.0 or not all(math.isfinite(t) for t in stamps):
            raise ValueError("every LSL timestamp must be positive and finite")
        outlet.push_chunk(samples, stamps, True)

    def close(self) -> None:
        """Withdraw the stream. Idempotent.

        The pylsl outlet is destroyed when its last reference goes; this object holds
        the only one, so dropping it is enough (calling ``__del__`` directly would
        destroy it twice).
        """
        if self._outlet is not None:
            self._outlet = None
            self._fast_push = None  # it holds the outlet too
            log.info("closed LSL outlet %s (%s)", self.name, self.source_id)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<LslOutlet {self.name!r} {self.source_id} {state}>"


Provenance = Callable[[HeadsetInfo], Mapping[str, str]]
"""Timing provenance of a headset's outlets at creation (see :func:`timing_provenance`)."""


def timing_provenance(
    method: str, offset: float | None, delivery_delay: float | None, delay_source: str
) -> dict[str, str]:
    """``desc/synchronization`` fields saying how the timestamps were made, the way
    lsl-relay records its clock offset: the clock method (``sync``:
    ``syncWithHeadsetClock``; ``epoch``: the wall clock), the offset
    ``cortex_time - lsl_time`` when the outlet was made (it is re-measured every minute
    and after every clock step; the diagnostics stream has every later value), the
    delivery delay (how late samples arrive: not in the timestamps, which are the
    samples' birth times, but what a real-time consumer waits), and the bridge version.
    """
    fields = {
        "timestamps": "device time (Cortex 'time') mapped to pylsl.local_clock()",
        "clock_method": method or UNKNOWN,
        "clock_offset": f"{offset:.6f}" if offset is not None else UNKNOWN,
        "delivery_delay_estimate": f"{delivery_delay:.3f}" if delivery_delay is not None
        else UNKNOWN,
        "delivery_delay_source": delay_source,
        "bridge_version": __version__,
    }
    return fields


PUBLISHED_LOOKUP_S = 1.0  # listening for another bridge's outlets of a headset (a loopback
# resolve here takes about 0.5 s to hear of an outlet)


def published_elsewhere(headset_id: str, own_uids: set[str]) -> pylsl.StreamInfo | None:
    """An outlet of this headset that another process publishes (another bridge, maybe
    on another machine: host locks cannot see it), or None. Blocks up to
    ``PUBLISHED_LOOKUP_S`` when there is none; run it off the event loop."""
    timeout = PUBLISHED_LOOKUP_S
    prefix = f"{SOURCE_ID_PREFIX}:{headset_id}:"
    if timeout <= 0:
        return None  # not listening
    if "'" in prefix:
        return None  # not expressible in liblsl's XPath; a headset id never has one
    found = pylsl.resolve_bypred(f"starts-with(source_id,'{prefix}')", 1, timeout)
    return next((info for info in found if info.uid() not in own_uids), None)


class OutletRegistry:
    """All outlets of the daemon, keyed by ``source_id``, kept across reconnects.

    ``provenance`` (the application's) adds the timing provenance of the headset's
    clock at the moment each outlet is made to its ``desc/synchronization``.
    """

    def __init__(
        self,
        naming: OutletNaming | None = None,
        *,
        extra_sync: Mapping[str, str] | None = None,
        max_buffered: int = MAX_BUFFERED,
        provenance: Provenance | None = None,
    ) -> None:
        self.naming = naming or OutletNaming()
        self.provenance = provenance
        self._extra_sync = dict(extra_sync or {})
        self._max_buffered = max_buffered
        self._outlets: dict[str, LslOutlet] = {}

    def uids(self) -> set[str]:
        """The LSL uids of this process's outlets (to tell them from another bridge's)."""
        return {outlet.uid for outlet in self._outlets.values()}

    def get_or_create(
        self, plan: StreamPlan, headset: HeadsetInfo, naming: OutletNaming | None = None
    ) -> LslOutlet:
        """The outlet for this headset and stream: the existing one if its layout fits.

        ``naming`` overrides the registry's naming (a second source names its own
        outlets, e.g. ``Emogg-{stream}``).

        A new plan with an unchanged layout (a Cortex reconnect, a re-subscribe) gets
        the very same outlet, so connected inlets and recorders never notice. A changed
        layout closes the old outlet first (two outlets with one source_id would leave
        liblsl's recovery unable to choose) and logs why.
        """
        naming = naming or self.naming
        source_id = source_id_for(headset.id, plan.stream)
        layout = OutletLayout.of(plan, naming.name_for(plan, headset))
        existing = self._outlets.get(source_id)
        if existing is not None and not existing.closed:
            if existing.layout == layout:
                existing.plan = plan
                return existing
            log.warning(
                "re-creating LSL outlet %s because its layout changed: %s",
                source_id,
                "; ".join(existing.layout.differences(layout)),
            )
            existing.close()
        extra_sync = self._extra_sync
        if self.provenance is not None:
            extra_sync = {**self.provenance(headset), **extra_sync}
        outlet = LslOutlet(
            plan,
            headset,
            naming,
            extra_sync=extra_sync,
            max_buffered=self._max_buffered,
        )
        self._outlets[source_id] = outlet
        log.info(
            "LSL outlet %s (%s): %s, %d channels, %s Hz",
            outlet.name,
            source_id,
            plan.lsl_type,
            plan.channel_count,
            plan.nominal_rate or "irregular",
        )
        return outlet

    def get(self, source_id: str) -> LslOutlet | None:
        return self._outlets.get(source_id)

    @property
    def outlets(self) -> tuple[LslOutlet, ...]:
        return tuple(self._outlets.values())

    def __len__(self) -> int:
        return len(self._outlets)

    def close_all(self) -> None:
        """Close every outlet (daemon shutdown only)."""
        for outlet in self._outlets.values():
            outlet.close()
        self._outlets.clear()
