"""Which service a configuration gets: the one place that knows every dialect.

The services (``service.py``, ``v1.py``) do not import their method handlers (the
handlers import the services' types); this module imports both sides and hands each
service its :class:`~bridge.simulator.spec.CortexApi`.
"""

from __future__ import annotations

from bridge.simulator import methods, v1_methods
from bridge.simulator.config import SimulatorConfig
from bridge.simulator.model import Clock
from bridge.simulator.service import CortexService
from bridge.simulator.v1 import CortexServiceV1

DIALECTS = ("v2", "v1")


def make_service(config: SimulatorConfig, clock: Clock | None = None) -> CortexService:
    """The service for ``config.dialect``."""
    if config.dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, not {config.dialect!r}")
    if config.dialect == "v1":
        return CortexServiceV1(config, clock, v1_methods.API)
    return CortexService(config, clock, methods.API)
