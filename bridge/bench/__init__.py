"""``cortex-bridge bench``: throughput, cost, latency, timestamp truth and OSC encoding.

Each scenario is a module with ``NAME``, ``TITLE`` and ``run(options)``; each measures
ours beside a baseline in the same run (see :mod:`bridge.bench.runner`).

``main`` is imported on first use, not with the package: every child process of the
benchmark (``python -m bridge.bench.bridgeproc`` and the others) imports this package
first, and the runner pulls in the simulator (cryptography, pyedflib), which the bridge
does not import. Imported eagerly, they added 11 MiB to the bridge's measured peak RSS.
"""

from __future__ import annotations

from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from bridge.bench.runner import main

        return main
    raise AttributeError(f"module 'bridge.bench' has no attribute {name!r}")
