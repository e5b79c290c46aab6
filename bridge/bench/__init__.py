"""``cortex-bridge bench``: throughput, cost, latency, timestamp truth and OSC encoding.

Each scenario is a module with ``NAME``, ``TITLE`` and ``run(options)``; each measures
ours beside a baseline in the same run (see :mod:`bridge.bench.runner`).
"""

from bridge.bench.runner import main

__all__ = ["main"]
