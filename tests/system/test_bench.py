"""``cortex-bridge bench``: runs end to end and writes the documented JSON.

Only the shape is checked, never a timing: speed is what the benchmark reports, and a
loaded CI machine must not fail a test for being slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.bench.common import Row, ScenarioResult, percentile
from bridge.bench.runner import SCENARIOS, render

ROW_KEYS = {"metric", "ours", "baseline", "unit", "ratio", "target", "met", "note"}


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEX_BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", "bench", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_quick_osc_encoding_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--only", "osc_encoding", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[osc_encoding]" in proc.stdout and "python-osc" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["quick"] is True
    assert doc["command"] == "cortex-bridge bench --quick"
    assert {"cores", "cpu", "load_before", "load_after", "python"} <= set(doc["machine"])
    assert list(doc["scenarios"]) == ["osc_encoding"]
    scenario = doc["scenarios"]["osc_encoding"]
    assert scenario["error"] == ""
    assert {"title", "rows", "figures", "notes", "seconds"} <= set(scenario)
    rows = scenario["rows"]
    assert len(rows) == 4  # two messages, each with two encoders of ours
    for row in rows:
        assert set(row) == ROW_KEYS
        hot = "(hot path)" in row["metric"]
        assert row["unit"] == "msg/s" and row["target"] == (">= 3x" if hot else "")
        assert (row["met"] is not None) == hot  # only the hot path is held to the target
        assert row["ours"] > 0 and row["baseline"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["baseline"])
    for figures in scenario["figures"].values():
        assert set(figures) == {"python_osc", "encode_message", "message_encoder"}


def test_unknown_scenario_is_one_line_and_exit_2() -> None:
    proc = run_bench("--only", "warp_speed")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "cortex-bridge: bench --only: unknown scenario 'warp_speed' "
        f"(known: {', '.join(SCENARIOS)})"
    ]


def test_every_scenario_module_has_name_title_and_run() -> None:
    import importlib

    for name, module_name in SCENARIOS.items():
        module = importlib.import_module(module_name)
        assert name == module.NAME
        assert isinstance(module.TITLE, str) and callable(module.run)


def test_percentile_interpolates() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 99) == pytest.approx(9.9)
    assert percentile([], 50) != percentile([], 50)  # NaN


def test_table_marks_missed_targets() -> None:
    import io

    result = ScenarioResult("demo", "Demo")
    result.rows.append(Row("fast", 5.0, 10.0, "ms", 0.5, "< 2 ms", False))
    result.rows.append(Row("absent", None, None, "ms", note="n/a: not built"))
    buffer = io.StringIO()
    render([result], buffer)
    text = buffer.getvalue()
    assert "[demo] Demo" in text
    fast = next(line for line in text.splitlines() if "fast" in line)
    assert "0.50x" in fast and "MISSED" in fast
    assert "n/a: not built" in text


def test_the_bridge_process_imports_what_the_daemon_imports() -> None:
    """The benchmark's bridge process (``python -m bridge.bench.bridgeproc``) must not load
    the simulator or the runner: their imports (cryptography, pyedflib) once added 11 MiB
    to the peak RSS the benchmark reports for the bridge."""
    probe = ("import sys, bridge.bench.bridgeproc; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "{'cryptography', 'pyedflib'} or m.startswith(('bridge.simulator', "
             "'bridge.bench.runner', 'bridge.bench.common'))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "[]"
