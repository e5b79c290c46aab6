"""Starting, talking to and measuring the benchmark's child processes.

A :class:`Child` is a ``python -m bridge.bench.<module>`` process speaking the line
protocol of :mod:`bridge.bench.childproc`. Its CPU time and peak RSS come from
``/proc/<pid>``, read from outside, so measuring does not disturb it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

START_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ChildError(RuntimeError):
    """A child process failed to start or answer; the message carries its stderr tail."""


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds (user + system, all threads) of a process at a monotonic time."""

    mono: float
    cpu_s: float


def cpu_sample(pid: int) -> CpuSample:
    """utime + stime from ``/proc/<pid>/stat`` (fields 14 and 15, in clock ticks)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return CpuSample(time.monotonic(), ticks / CLK_TCK)


def cpu_percent(before: CpuSample, after: CpuSample) -> float:
    """Percent of one core used between two samples."""
    elapsed = after.mono - before.mono
    return 100.0 * (after.cpu_s - before.cpu_s) / elapsed if elapsed > 0 else 0.0


def peak_rss_mb(pid: int) -> float:
    """``VmHWM`` (peak resident set) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return one, five, fifteen


class Child:
    """``with Child("simproc", config) as sim: sim.ready["url"]; sim.ask("state")``."""

    def __init__(self, module: str, config: dict[str, Any]) -> None:
        self.module = module
        self.config = config
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}
        self._stderr: list[str] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Child:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"bridge.bench.{self.module}", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=dict(os.environ),  # LSLAPICFG (loopback only) is inherited
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.ready = self._read_line(START_TIMEOUT_S)
        return self

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-40]

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            raise ChildError(f"{self.module} did not answer: {''.join(self._stderr)[-2000:]}")
        answer: dict[str, Any] = json.loads(result[0])
        if "error" in answer:
            raise ChildError(f"{self.module}: {answer['error']}")
        return answer

    def ask(self, command: str, timeout: float = ANSWER_TIMEOUT_S) -> Any:
        """Send a command line; its JSON result."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read_line(timeout)["result"]

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            if proc.stdin is not None:
                proc.stdin.write("quit\n")
                proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Child:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
