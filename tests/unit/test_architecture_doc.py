"""docs/architecture.md stays true: its diagrams are the transition tables', and its
module map names every module of the product."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.cortex.lifecycle import diagrams

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
REGENERATE = ".venv/bin/python scripts/architecture_diagrams.py"


def test_the_diagrams_are_generated_from_the_tables() -> None:
    text = DOC.read_text()
    for name, diagram in diagrams().items():
        found = re.search(rf"<!-- diagram:{name} -->\n```mermaid\n(.*?)\n```\n"
                          rf"<!-- /diagram:{name} -->", text, re.S)
        assert found is not None, f"no {name} diagram in {DOC}"
        assert found.group(1) == diagram, f"the {name} diagram is stale: run {REGENERATE}"


def test_the_module_map_names_every_module() -> None:
    text = DOC.read_text()
    mapped = set(re.findall(r"`(bridge/[\w/]+(?:\.py|/))`", text))
    missing = []
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("bridge/simulator/", "bridge/bench/")):
            continue
        if relative not in mapped:
            missing.append(relative)
    assert missing == [], f"modules missing from the module map in {DOC}: {missing}"
    assert {"bridge/simulator/", "bridge/bench/"} <= mapped
