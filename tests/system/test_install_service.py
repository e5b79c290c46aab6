"""The README's service section, run as written in a scratch root: ``cortex-bridge init
remote``, ``install-service --dry-run`` and ``install-service --root``, then
``systemd-analyze verify`` on what was installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import load_settings, resolve_client_secret
from bridge.errors import ExitCode
from bridge.simulator.tls import generate

COMMAND = str(Path(sys.executable).with_name("cortex-bridge"))

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


def cortex_bridge(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEX_BRIDGE_")}
    return subprocess.run([COMMAND, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=60, env=env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """What the README's first steps leave: a remote config with the CA and a secret."""
    ca = generate(tmp_path / "emotiv").ca_pem
    shutil.copy(ca, tmp_path / "rootCA.pem")
    result = cortex_bridge("init", "remote", "--client-id", "my-client-id",
                           "--ca-file", "rootCA.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "emotiv-cortex.remote" in result.stdout  # the /etc/hosts step is named
    return tmp_path


def test_dry_run_prints_the_plan_and_changes_nothing(prepared: Path) -> None:
    root = prepared / "root"
    result = cortex_bridge("install-service", "--config", "cortex-bridge.toml",
                           "--ca-file", "rootCA.pem", "--secret-file", "-",
                           "--root", str(root), "--dry-run", cwd=prepared, stdin="s3cret\n")
    assert result.returncode == 0, result.stderr
    assert not root.exists()
    for line in ("etc/cortex-bridge/cortex-bridge.toml  mode 0644",
                 "etc/cortex-bridge/client_secret  mode 0600",
                 "etc/cortex-bridge/emotiv-rootCA.pem  mode 0644",
                 "etc/systemd/system/cortex-bridge.service  mode 0644"):
        assert line in result.stdout
    assert "s3cret" not in result.stdout + result.stderr


def test_install_into_a_scratch_root_gives_a_service_that_starts(prepared: Path) -> None:
    root = prepared / "root"
    result = cortex_bridge("install-service", "--config", "cortex-bridge.toml",
                           "--ca-file", "rootCA.pem", "--secret-file", "-",
                           "--root", str(root), cwd=prepared, stdin="s3cret\n")
    assert result.returncode == 0, result.stderr
    etc = root / "etc" / "cortex-bridge"
    unit = root / "etc" / "systemd" / "system" / "cortex-bridge.service"
    assert mode(etc / "client_secret") == 0o600
    assert (etc / "client_secret").read_text() == "s3cret"
    assert mode(etc / "cortex-bridge.toml") == 0o644
    assert mode(etc / "emotiv-rootCA.pem") == 0o644
    assert (etc / "emotiv-rootCA.pem").read_bytes() == (prepared / "rootCA.pem").read_bytes()
    assert f"ExecStart={COMMAND} run --config /etc/cortex-bridge/cortex-bridge.toml" in (
        unit.read_text())
    # The installed config is what the service loads: the CA where the config says, the
    # secret through the credential (as systemd's LoadCredential= hands it over).
    settings = load_settings(etc / "cortex-bridge.toml", {})
    assert settings.cortex.ca_file == "/etc/cortex-bridge/emotiv-rootCA.pem"
    assert settings.cortex.url == "wss://emotiv-cortex.remote:6868"
    assert settings.cortex.client_id == "my-client-id"
    assert not settings.cortex.client_secret_file
    assert resolve_client_secret(settings, {"CREDENTIALS_DIRECTORY": str(etc)}) == "s3cret"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (.ci/run installs it)")
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    output = (verify.stdout + verify.stderr).strip()
    assert verify.returncode == 0 and not output, output


def test_a_ca_file_that_no_step_installs_is_refused_with_the_fix(tmp_path: Path) -> None:
    result = cortex_bridge("init", "remote", "--client-id", "x", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = cortex_bridge("install-service", "--config", "cortex-bridge.toml",
                           "--secret-file", "-", "--root", str(tmp_path / "root"),
                           cwd=tmp_path, stdin="s3cret")
    assert result.returncode == ExitCode.CONFIG
    assert "cortex.ca_file: /etc/cortex-bridge/emotiv-rootCA.pem: not found" in result.stderr
    assert "--ca-file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "root").exists()


def test_a_template_instance_gets_its_own_config(prepared: Path) -> None:
    root = prepared / "root"
    result = cortex_bridge("install-service", "--config", "cortex-bridge.toml",
                           "--instance", "lab1", "--ca-file", "rootCA.pem",
                           "--secret-file", "-", "--root", str(root), cwd=prepared,
                           stdin="s3cret")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/cortex-bridge/lab1.toml").is_file()
    assert (root / "etc/systemd/system/cortex-bridge@.service").is_file()
    assert "systemctl enable --now cortex-bridge@lab1.service" in result.stdout
