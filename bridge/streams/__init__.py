"""The stream catalog: what each Cortex stream becomes on LSL.

Cortex tells us, once per subscription, the ``cols`` of a stream; every data frame after
that is a bare list of values in that order. This module turns ``cols`` into a
:class:`StreamPlan` -- the LSL label, type, channel format, nominal rate and one
:class:`ChannelSpec` per channel -- and precomputes how one frame becomes one LSL
sample, so the hot path (:meth:`StreamPlan.extract`, ~400 calls/s per headset) does no
name lookups and no per-column branching.

Everything here is pure data and pure functions, no I/O. The knowledge lives in the
tables below (:data:`CATALOG` and the column rules it points to), not in if/else chains:
supporting a new column or a new stream means adding a table row.

Columns are always mapped **by name**, never by position: Cortex has changed column
order between versions (the three generations of ``met`` are the proof), and a client
that indexes by position silently mislabels data when that happens. The one exception
is ``sys``, whose two values are documented positionally and which has no useful
``cols``.

Facts (columns, units, rates) come from ``shared/reference/cortex_api.md`` §3 and §5;
LSL conventions (types, units, MoCap channel types) from ``lsl_osc.md`` §1.

The package: :mod:`.headset` (what a headset is, frame errors), :mod:`.catalog` (the
tables), :mod:`.plan` (``cols`` -> :class:`StreamPlan`) and :mod:`.extract` (frame ->
sample); every name others use is importable from ``bridge.streams`` itself.
"""

from __future__ import annotations

from bridge.streams.catalog import (
    CATALOG,
    COMBINED_FACIAL_KEY,
    DEFAULT_VOCABULARIES,
    FACE_PART_KEYS,
    FACE_PARTS,
    KNOWN_STREAMS,
    MET_METRICS,
    POW_BANDS,
    TEN_TEN_LABELS,
    UNKNOWN_RULE,
    VOCABULARY_KEYS,
    ActionGroup,
    ColumnRule,
    Layout,
    RateRule,
    Role,
    StreamSpec,
)
from bridge.streams.extract import (
    MAX_UNKNOWN_ACTION_NAMES,
    OTHER_ACTIONS,
    Extractor,
)
from bridge.streams.headset import (
    FIXED_MOTION_RATES,
    FLOAT32_MAX,
    MODEL_LACKS,
    MODEL_NAMES,
    NAN,
    ChannelSpec,
    FrameError,
    HeadsetInfo,
    UnknownStreamError,
)
from bridge.streams.plan import (
    StreamPlan,
    build_plan,
)

__all__ = [
    "CATALOG",
    "COMBINED_FACIAL_KEY",
    "DEFAULT_VOCABULARIES",
    "FACE_PARTS",
    "FACE_PART_KEYS",
    "FIXED_MOTION_RATES",
    "FLOAT32_MAX",
    "KNOWN_STREAMS",
    "MAX_UNKNOWN_ACTION_NAMES",
    "MET_METRICS",
    "MODEL_LACKS",
    "MODEL_NAMES",
    "NAN",
    "OTHER_ACTIONS",
    "POW_BANDS",
    "TEN_TEN_LABELS",
    "UNKNOWN_RULE",
    "VOCABULARY_KEYS",
    "ActionGroup",
    "ChannelSpec",
    "ColumnRule",
    "Extractor",
    "FrameError",
    "HeadsetInfo",
    "Layout",
    "RateRule",
    "Role",
    "StreamPlan",
    "StreamSpec",
    "UnknownStreamError",
    "build_plan",
]
