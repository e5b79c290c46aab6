"""What a method table row is: documented parameters plus the handler that answers.

Shared by the v2 tables (``methods.py``, ``records.py``, ``profiles.py``,
``subjects.py``) and the 1.x table (``v1.py``) so they can be merged without importing
each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.simulator.jsonrpc import Param

if TYPE_CHECKING:
    from bridge.simulator.service import Call, CortexService

Handler = Callable[["CortexService", "Call"], Any]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    params: tuple[Param, ...]
    handler: Handler
    token: bool = False  # cortexToken is checked (-32014/-32015) before the handler
    control: bool = False  # a simulator.* control method, refused unless --control
