"""What a method table row is, and what a dialect plugs into the service.

:class:`MethodSpec` is shared by the v2 tables (``methods.py``, ``records.py``,
``profiles.py``, ``bci.py``, ``subjects.py``) and the 1.x table (``v1_methods.py``) so
they can be merged without importing each other. :class:`CortexApi` bundles a table
with the two record hooks the service calls back; the service receives it instead of
importing the handlers (which import the service's types: that would be a cycle).

The handler modules register their API under the dialect's name when imported
(:func:`register_api`), so a service built without one (``CortexService(config)``, as
the benchmarks do) still gets its dialect's; ``dialects.make_service`` passes it
explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.simulator.jsonrpc import Param

if TYPE_CHECKING:
    from bridge.simulator.model import Call, Record, Session
    from bridge.simulator.service import CortexService

Handler = Callable[["CortexService", "Call"], Any]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    params: tuple[Param, ...]
    handler: Handler
    token: bool = False  # cortexToken is checked (-32014/-32015) before the handler
    control: bool = False  # a simulator.* control method, refused unless --control


@dataclass(frozen=True, slots=True)
class CortexApi:
    """A dialect's methods and the record hooks of the service's life cycle."""

    methods: Mapping[str, MethodSpec]
    # Once the service is built: the records this user made elsewhere (the store).
    started: Callable[[CortexService], None]
    # A record has stopped (its end set): keep its samples, post-process it.
    record_finished: Callable[[CortexService, Session, Record], None]


_APIS: dict[str, CortexApi] = {}


def register_api(dialect: str, api: CortexApi) -> None:
    _APIS[dialect] = api


def registered_api(dialect: str) -> CortexApi:
    try:
        return _APIS[dialect]
    except KeyError:
        raise LookupError(
            f"no Cortex API registered for dialect {dialect!r}: import its handler module "
            "(bridge.simulator.methods or bridge.simulator.v1_methods) first"
        ) from None
