"""Write the lifecycle diagrams into docs/architecture.md from the transition tables.

    .venv/bin/python scripts/architecture_diagrams.py

Each diagram sits between ``<!-- diagram:NAME -->`` and ``<!-- /diagram:NAME -->``;
``tests/unit/test_architecture_doc.py`` fails while the file differs from what this writes.
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.cortex.lifecycle import diagrams

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def render(text: str) -> str:
    for name, diagram in diagrams().items():
        block = f"<!-- diagram:{name} -->\n```mermaid\n{diagram}\n```\n<!-- /diagram:{name} -->"
        pattern = re.compile(rf"<!-- diagram:{name} -->.*?<!-- /diagram:{name} -->", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{DOC}: no <!-- diagram:{name} --> block")
        text = pattern.sub(lambda _match, block=block: block, text)
    return text


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
