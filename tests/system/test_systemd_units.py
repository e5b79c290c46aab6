"""The systemd units: the directives issue 6 asks for, and ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import CREDENTIAL_NAME
from bridge.errors import ExitCode

UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT_NAMES = ("cortex-bridge.service", "cortex-bridge@.service")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (systemd allows a key several times)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_unit_has_the_required_directives(name: str) -> None:
    unit = parse_unit((UNITS / name).read_text())
    service = {k: v[-1] for k, v in unit["Service"].items()}
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert float(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert float(service["RestartSec"]) > 0
    no_restart = set(service["RestartPreventExitStatus"].split())
    assert {str(int(ExitCode.CONFIG)), str(int(ExitCode.AUTH))} <= no_restart
    assert service["DynamicUser"] == "yes"
    # The credential name is the one bridge.config reads from $CREDENTIALS_DIRECTORY.
    assert service["LoadCredential"] == f"{CREDENTIAL_NAME}:/etc/cortex-bridge/client_secret"
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == value, key
    families = set(service["RestrictAddressFamilies"].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    assert "@system-service" in unit["Service"]["SystemCallFilter"]
    args = service["ExecStart"].split()
    assert args[1:3] == ["run", "--config"]
    config = args[3]
    if name.endswith("@.service"):
        assert config == "/etc/cortex-bridge/%i.toml"
    else:
        assert config == "/etc/cortex-bridge/cortex-bridge.toml"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this installation's command.
    command = Path(sys.executable).with_name("cortex-bridge")
    assert command.exists()
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text()
        (tmp_path / name).write_text(
            text.replace("/opt/cortex-bridge/bin/cortex-bridge", str(command))
        )
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNIT_NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output
