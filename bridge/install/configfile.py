"""``cortex-bridge init``: a commented config file for the common cases, from the example
configs the package ships.

The examples are the templates, so the comments a user reads are the ones the repository
documents and tests. Choices from the command line (client id, Cortex host, CA file)
replace the matching ``key = value`` line of the template in place, keeping its comments;
the result is validated as ``run`` would load it before it is written.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.config import load_settings
from bridge.resources import read_text

CORTEX_PORT = 6868
REMOTE_HOST = "emotiv-cortex.remote"  # the name in the certificate of Emotiv's remote Cortex


@dataclass(frozen=True)
class Profile:
    """One common case: the example config it starts from and what it is for."""

    template: str
    summary: str


PROFILES: dict[str, Profile] = {
    "local": Profile("epocx.toml", "Cortex (Emotiv Launcher) on this machine"),
    "remote": Profile("remote-cortex.toml",
                      "Cortex on another machine (Raspberry Pi, Windows or macOS PC)"),
    "openvibe": Profile("openvibe.toml", "names and streams for OpenViBE's Acquisition Server"),
    "artist": Profile("artist.toml", "every stream as OSC for Max, Pure Data, TouchDesigner"),
}


def cortex_url(host: str) -> str:
    """``wss://<host>:6868`` (an IPv6 literal in brackets); a full URL is kept as given."""
    if "://" in host:
        return host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"wss://{host}:{CORTEX_PORT}"


def set_keys(text: str, section: str, values: Mapping[str, object]) -> str:
    """``text`` with ``key = value`` in ``[section]`` for each of ``values``.

    The first line in the section that sets the key, or a commented-out ``# key =`` line,
    is replaced, so the comments around it stay; a key the section lacks is added right
    after the section header. Values are written as TOML (strings quoted, lists as arrays).
    """
    lines = text.splitlines()
    for key, value in values.items():
        rendered = f"{key} = {json.dumps(value)}"
        pattern = re.compile(rf"^\s*#?\s*{re.escape(key)}\s*=")
        current, header_at, done = None, None, False
        for i, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                current = stripped[1:-1].strip()
                if current == section:
                    header_at = i
                continue
            if current == section and pattern.match(line):
                lines[i] = rendered
                done = True
                break
        if not done:
            if header_at is None:
                lines += ["", f"[{section}]"]
                header_at = len(lines) - 1
            lines.insert(header_at + 1, rendered)
    return "\n".join(lines) + "\n"


def render(
    profile: str,
    *,
    client_id: str | None = None,
    host: str | None = None,
    ca_file: str | None = None,
) -> str:
    """The config text for ``profile`` with the given choices filled in (pure)."""
    if profile not in PROFILES:
        raise KeyError(profile)
    text = read_text("configs", PROFILES[profile].template)
    cortex: dict[str, object] = {}
    if client_id:
        cortex["client_id"] = client_id
    if host:
        cortex["url"] = cortex_url(host)
    if ca_file:
        cortex["ca_file"] = ca_file
        cortex["tls_verify"] = True
    return set_keys(text, "cortex", cortex) if cortex else text


def validate(text: str) -> None:
    """Load ``text`` as ``run`` would (file only, no environment): raises
    :class:`~bridge.errors.ConfigError` naming each bad key."""
    with tempfile.TemporaryDirectory(prefix="cortex-bridge-init-") as tmp:
        path = Path(tmp) / "cortex-bridge.toml"
        path.write_text(text, encoding="utf-8")
        load_settings(path, {})


__all__ = ["PROFILES", "REMOTE_HOST", "Profile", "cortex_url", "render", "set_keys", "validate"]
