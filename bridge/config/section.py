"""What every settings section shares: the base model and the stream names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

StreamName = Literal["eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys"]
STREAM_NAMES: tuple[str, ...] = get_args(StreamName)


class Section(BaseModel):
    """Base of every section: unknown keys are errors and settings never change once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def known_streams(names: Iterable[str]) -> None:
    for name in names:
        if name not in STREAM_NAMES:
            raise ValueError(f"unknown stream {name!r} (known: {', '.join(STREAM_NAMES)})")
