"""The Emogg source as a package, one job per module.

- :mod:`~bridge.sources.emogg.protocol`: the wire format and Emogg's limits, pure code.
- :mod:`~bridge.sources.emogg.rest`: the few REST calls (create and stop a session).
- :mod:`~bridge.sources.emogg.catalog`: which LSL streams the events become.
- :mod:`~bridge.sources.emogg.source`: :class:`EmoggSource`, the I/O that ties them together.

The daemon needs only :class:`EmoggSource` and the errors it can end with, so those are
the names exported here.
"""

from __future__ import annotations

from bridge.sources.emogg.source import EmoggAuthError, EmoggSessionError, EmoggSource

__all__ = ["EmoggAuthError", "EmoggSessionError", "EmoggSource"]
