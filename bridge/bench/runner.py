"""Runs the scenarios, prints one table, optionally writes the figures as JSON.

Every process of the benchmark (this one and its children) uses a loopback-only liblsl
configuration with a SessionID of its own (:mod:`bridge.lslconfig`), so a run never sees
or disturbs another run's streams, and nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from bridge.bench.common import Options, ScenarioResult
from bridge.bench.procs import load_average
from bridge.errors import ConfigError, ExitCode
from bridge.lslconfig import use_loopback_config

log = logging.getLogger("bridge.bench")

# Scenario name -> module, in the order they run (cheapest first).
SCENARIOS: dict[str, str] = {
    "osc_encoding": "bridge.bench.osc_encoding",
    "throughput": "bridge.bench.throughput",
    "cost": "bridge.bench.cost",
    "latency": "bridge.bench.latency",
    "timestamps": "bridge.bench.timestamps",
    "status_page": "bridge.bench.statuspage",
}


def machine() -> dict[str, Any]:
    """Cores, CPU model and load: the context every figure needs."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("msg/s", "frames/s"):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def render(results: list[ScenarioResult], out: TextIO) -> None:
    """One table: scenario, metric, ours, baseline, unit, ratio, target, verdict."""
    header = ("metric", "ours", "baseline", "unit", "ratio", "target", "")
    lines: list[tuple[str, ...]] = []
    for res in results:
        lines.append((f"[{res.name}] {res.title}", "", "", "", "", "", ""))
        if res.error:
            lines.append((f"  ERROR: {res.error}", "", "", "", "", "", ""))
        for row in res.rows:
            verdict = {True: "ok", False: "MISSED", None: ""}[row.met]
            lines.append(
                (
                    f"  {row.metric}",
                    _fmt(row.ours, row.unit) if row.ours is not None or not row.note else row.note,
                    _fmt(row.baseline, row.unit) if row.baseline is not None else "",
                    row.unit,
                    f"{row.ratio:.2f}x" if row.ratio is not None else "",
                    row.target,
                    verdict,
                )
            )
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    def show(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) if i < 5 else c.ljust(w) for i, (c, w) in
                enumerate(zip(cells[1:], widths[1:], strict=True), start=1)]
        return "  ".join([first, *rest]).rstrip()
    print(show(header), file=out)
    print("-" * (sum(widths) + 2 * (len(widths) - 1)), file=out)
    for line in lines:
        print(show(line), file=out)
    for res in results:
        for note in res.notes:
            print(f"  [{res.name}] {note}", file=out)


def run_scenario(name: str, options: Options) -> ScenarioResult:
    module = importlib.import_module(SCENARIOS[name])
    started = time.monotonic()
    try:
        result: ScenarioResult = module.run(options)
    except Exception as exc:  # one broken scenario must not hide the others' figures
        log.debug("scenario %s failed", name, exc_info=True)
        result = ScenarioResult(name, getattr(module, "TITLE", name))
        result.error = f"{exc.__class__.__name__}: {exc}"
        result.notes.append(traceback.format_exc().strip().splitlines()[-1])
    result.seconds = time.monotonic() - started
    return result


def main(args: argparse.Namespace) -> int:
    only = list(getattr(args, "only", None) or [])
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        raise ConfigError(
            [f"bench --only: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})"
             for name in unknown]
        )
    if not os.environ.get("LSLAPICFG"):
        use_loopback_config("cortex-bridge-bench")
    options = Options(quick=bool(getattr(args, "quick", False)))
    names = [n for n in SCENARIOS if not only or n in only]
    load_before = load_average()
    started = time.monotonic()
    results: list[ScenarioResult] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_scenario(name, options))
    info = machine()
    info["load_before"] = load_before
    info["load_after"] = load_average()
    total = time.monotonic() - started
    print(file=sys.stdout)
    print(
        f"cortex-bridge bench{' --quick' if options.quick else ''}: {info['cores']} cores, "
        f"{info['cpu']}, load average {load_before[0]:.2f} before / "
        f"{info['load_after'][0]:.2f} after, {total:.0f} s",
        file=sys.stdout,
    )
    render(results, sys.stdout)
    json_path: Path | None = getattr(args, "json", None)
    if json_path is not None:
        document = {
            "command": "cortex-bridge bench" + (" --quick" if options.quick else ""),
            "quick": options.quick,
            "machine": info,
            "seconds": round(total, 1),
            "scenarios": {r.name: r.to_json() for r in results},
        }
        json_path.write_text(json.dumps(_nan_free(document), indent=2, allow_nan=False) + "\n")
    failed = [r.name for r in results if r.error]
    return int(ExitCode.FAILURE if failed else ExitCode.OK)


def _nan_free(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be measured is null."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _nan_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_free(v) for v in value]
    return value
