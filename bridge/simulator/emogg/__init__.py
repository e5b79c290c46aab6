"""A simulated Emogg service (REST + WebSocket API) for demos and tests.

``EmoggSimulator`` serves the session REST API and the real-time WebSocket API as
``shared/reference/emogg.md`` describes them; ``EmoggSimulatorThread`` runs one in a
background thread. Documented behaviour and our assumptions: ``docs/emogg-simulator.md``.
"""

from bridge.simulator.emogg.config import DEFAULT_TOKEN, EmoggSimulatorConfig
from bridge.simulator.emogg.server import EmoggSimulator, EmoggSimulatorThread
from bridge.simulator.emogg.service import EmoggService

__all__ = [
    "DEFAULT_TOKEN",
    "EmoggService",
    "EmoggSimulator",
    "EmoggSimulatorConfig",
    "EmoggSimulatorThread",
]
