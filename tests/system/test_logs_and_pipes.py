"""Log priorities for journald, and a closed pipe ending quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.logfmt import priority

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")

# Cortex absent: an unreachable loopback URL makes WARNING lines; INFO lines come first.
ABSENT = {"CORTEX_BRIDGE_CORTEX__URL": "ws://127.0.0.1:9", "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "x",
          "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "y"}


def run_with_stderr_in(path: Path, journal: bool) -> list[str]:
    with path.open("w") as err:
        st = os.fstat(err.fileno())
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEX_BRIDGE_")}
        env.update(ABSENT)
        # What systemd sets: the device and inode of the stream stderr is connected to.
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}" if journal else "0:0"
        subprocess.run([sys.executable, "-m", "bridge", "check", "--log-level", "debug"],
                       stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=60)
    return path.read_text().splitlines()


def test_stderr_that_is_the_journal_gets_priority_prefixes(tmp_path: Path) -> None:
    lines = run_with_stderr_in(tmp_path / "journal", journal=True)
    assert lines
    assert all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines
    assert any(line.startswith("<7>") for line in lines), lines  # --log-level debug
    assert not any(line[3:7].isdigit() for line in lines)  # no own timestamp: journald's


def test_a_journal_stream_that_is_not_stderr_is_ignored(tmp_path: Path) -> None:
    lines = run_with_stderr_in(tmp_path / "file", journal=False)
    assert lines and not any(line.startswith("<") for line in lines)
    assert lines[0][:4].isdigit()  # the terminal format, with its timestamp


def test_priorities() -> None:
    import logging

    assert [priority(level) for level in (logging.CRITICAL, logging.ERROR, logging.WARNING,
                                          logging.INFO, logging.DEBUG)] == [3, 3, 4, 6, 7]


def test_a_closed_pipe_ends_without_a_traceback() -> None:
    """``cortex-bridge init artist -o - | head -0``: the reader is gone before we write."""
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "init", "artist", "-o", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=30)
    proc.stderr.close()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert proc.returncode == 141


def test_the_shell_pipe_into_head() -> None:
    result = subprocess.run(f"{sys.executable} -m bridge init artist -o - | head -n 1",
                            shell=True, capture_output=True, text=True, timeout=30)
    assert result.stdout.startswith("# cortex-bridge")
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
