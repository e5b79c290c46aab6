"""A faithful Emotiv Cortex service with virtual headsets, for demos and tests.

``Simulator`` serves JSON-RPC 2.0 over a (secure) WebSocket exactly as
``cortex_api.md`` describes Cortex; ``SimulatorThread`` runs one in a background thread.
See ``docs/simulator.md``.
"""

from bridge.simulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatorConfig
from bridge.simulator.server import Simulator, SimulatorThread
from bridge.simulator.service import CortexService

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "CortexService",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
]
