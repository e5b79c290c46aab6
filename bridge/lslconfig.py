"""A loopback-only liblsl configuration for tests, the demo and benchmarks.

liblsl's default configuration multicasts stream discovery on every interface of the
LAN. Tests, the demo and benchmarks must stay on this machine, so every process that
touches LSL there runs with ``LSLAPICFG`` pointing at the file written here
(``ResolveScope = machine``, a wide ``PortRange``, ``KnownPeers = {127.0.0.1}`` so that liblsl 1.17 copies such
as mne-lsl's find every outlet, IPv6 off, and a unique ``SessionID`` so that concurrent
runs never see each other's streams). liblsl reads its configuration once, lazily, on
the first LSL call, so this must run before any outlet, inlet or resolver exists.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

LSL_BASE_PORT = 16572  # liblsl's default BasePort
LSL_PORT_RANGE = 1024
"""Ports where outlets listen for discovery. liblsl's default of 32 holds 16 outlets per
machine; one bridge with 4 headsets has 36, and a resolver on ``KnownPeers`` asks only the
ports of this range, so outlets pushed to random ports beyond it are never found."""

LOOPBACK_CONFIG_TEMPLATE = """\
[ports]
IPv6 = disable
BasePort = {base_port}
PortRange = {port_range}
[multicast]
ResolveScope = machine
[lab]
KnownPeers = {{127.0.0.1}}
SessionID = {session_id}
[log]
level = -2
"""


def loopback_config_text(session_id: str) -> str:
    """The text of a loopback-only liblsl config with the given SessionID."""
    if not session_id or any(c.isspace() for c in session_id):
        raise ValueError("an LSL SessionID must be non-empty and contain no white space")
    return LOOPBACK_CONFIG_TEMPLATE.format(
        session_id=session_id, base_port=LSL_BASE_PORT, port_range=LSL_PORT_RANGE
    )


def write_loopback_config(directory: Path, session_id: str) -> Path:
    """Write ``lsl_api.cfg`` into ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "lsl_api.cfg"
    path.write_text(loopback_config_text(session_id), encoding="ascii")
    return path


def use_loopback_config(prefix: str = "cortex-bridge") -> Path:
    """Point ``LSLAPICFG`` of this process (and its children) at a fresh loopback config.

    Returns the path. The SessionID is ``<prefix>-<random>``, unique per call.
    """
    session_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
    directory = Path(tempfile.mkdtemp(prefix="cortex-bridge-lsl-"))
    path = write_loopback_config(directory, session_id)
    os.environ["LSLAPICFG"] = str(path)
    return path
