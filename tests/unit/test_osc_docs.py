"""The README's OSC address table is the one the code generates; the oscdump rule."""

from __future__ import annotations

from pathlib import Path

import osc_receivers
import pytest

from bridge.outputs.osc import address_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_address_table_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert address_table() in readme


def test_missing_oscdump_skips_on_a_developer_machine_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(osc_receivers.shutil, "which", lambda name: None)
    monkeypatch.delenv(osc_receivers.REQUIRE_RECEIVERS, raising=False)
    with pytest.raises(pytest.skip.Exception, match="liblo-tools"):
        osc_receivers.oscdump_path()
    monkeypatch.setenv(osc_receivers.REQUIRE_RECEIVERS, "1")
    with pytest.raises(pytest.fail.Exception, match="oscdump not found"):
        osc_receivers.oscdump_path()


def test_ci_script_installs_oscdump_and_requires_it() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "liblo-tools" in script and "puredata-core" in script
    assert "export REQUIRE_RECEIVERS=1" in script
    commands = [line.strip() for line in script.splitlines() if line.strip().startswith("make")]
    assert commands == ["make test"]
