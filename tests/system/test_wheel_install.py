"""The built wheel, installed into a fresh venv, is enough for a newcomer: it carries the
example configs, the units and the patches, and ``init``, ``check`` (against the
simulator) and ``demo`` run from it.

The fresh venv gets the dependencies from this test environment through a ``.pth`` line
(a full download would make the test as slow as the network); ``cortex-bridge`` itself
comes only from the wheel, which the test checks.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

from bridge.simulator import SimulatorConfig, SimulatorThread

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clean_bridge_environment")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    print(f"wheel built in {time.monotonic() - started:.1f} s")
    (found,) = out.glob("cortex_bridge-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed; dependencies from this environment."""
    home = tmp_path_factory.mktemp("venv") / "fresh"
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    site_dir = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(site_dir, "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, timeout=300, capture_output=True)
    print(f"wheel installed in {time.monotonic() - started:.1f} s")
    return home


def run(fresh: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("CORTEX_BRIDGE_") and k != "PYTHONPATH"}
    environ.update(env or {})
    return subprocess.run([str(fresh / "bin" / "cortex-bridge"), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_carries_what_a_user_needs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("bridge/resources/configs/remote-cortex.toml",
                   "bridge/resources/configs/artist.toml",
                   "bridge/resources/systemd/cortex-bridge.service",
                   "bridge/resources/systemd/cortex-bridge@.service",
                   "bridge/resources/patches/cortex-bridge.pd",
                   "bridge/resources/patches/cortex-bridge.maxpat",
                   "bridge/py.typed"):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_the_installed_command_is_the_wheels(fresh: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(fresh / "bin" / "python"), "-c",
                            "import bridge.resources as r; print(r.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
    assert where.startswith(str(fresh)), where


def test_init_check_and_demo_run_from_the_wheel(fresh: Path, tmp_path: Path) -> None:
    result = run(fresh, "init", "artist", "--client-id", "cortex-bridge-demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cortex-bridge.toml").is_file()
    with SimulatorThread(SimulatorConfig(port=0, headsets=["insight:status=connected"], seed=3)) as sim:
        assert sim.ca_pem_path is not None
        secret = tmp_path / "client_secret"
        secret.write_text(sim.config.client_secret)
        secret.chmod(0o600)
        result = run(fresh, "check", "--config", "cortex-bridge.toml", cwd=tmp_path, env={
            "CORTEX_BRIDGE_CORTEX__URL": sim.url,
            "CORTEX_BRIDGE_CORTEX__CA_FILE": str(sim.ca_pem_path),
            "CORTEX_BRIDGE_CORTEX__CLIENT_ID": sim.config.client_id,
            "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE": str(secret),
        })
    assert result.returncode == 0, result.stdout + result.stderr
    assert "authorize: ok" in result.stdout
    assert "outlet 'Emotiv-PerformanceMetrics-INSIGHT" in result.stdout
    result = run(fresh, "demo", "--duration", "6", cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr
    assert "streaming" in result.stderr
    assert "Traceback" not in result.stderr
