"""The files a user needs besides the code, shipped inside the package: example configs,
systemd units and the Pure Data and Max patches.

They live here (not only in the repository) so that ``pip install`` and ``pipx install``
users have them too; the repository's top-level ``configs/``, ``systemd/`` and
``patches/`` are links to these directories. ``cortex-bridge init`` and
``cortex-bridge install-service`` read them through :func:`read_text`.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

KINDS = ("configs", "systemd", "patches")


def resource(kind: str, name: str) -> Traversable:
    """The packaged file ``<kind>/<name>``; :class:`FileNotFoundError` if there is none."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r} (one of {', '.join(KINDS)})")
    item = files(__name__) / kind / name
    if not item.is_file():
        raise FileNotFoundError(f"{kind}/{name} is not part of this installation")
    return item


def read_text(kind: str, name: str) -> str:
    """The text of the packaged file ``<kind>/<name>``."""
    return resource(kind, name).read_text(encoding="utf-8")


def names(kind: str) -> list[str]:
    """Every packaged file of ``kind``, sorted."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    return sorted(item.name for item in (files(__name__) / kind).iterdir() if item.is_file())


__all__ = ["KINDS", "names", "read_text", "resource"]
