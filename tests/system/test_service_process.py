"""The daemon as systemd runs it: a real process talking sd_notify to a real AF_UNIX
datagram socket, reloading on SIGHUP, and stopping on SIGTERM."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.sdnotify import Notifier, watchdog_interval
from bridge.simulator import SimulatorConfig, SimulatorThread

# ---- the client on its own ------------------------------------------------------------


def test_notifier_is_a_no_op_without_notify_socket() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog_interval is None


def test_notifier_sends_to_a_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        notifier = Notifier({"NOTIFY_SOCKET": path})
        assert notifier.ready("up and\nrunning")
        assert server.recv(4096) == b"READY=1\nSTATUS=up and running"
        notifier.close()


def test_notifier_sends_to_an_abstract_socket(unique_id: str) -> None:
    name = f"cortex-bridge-test-{unique_id}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
        notifier.close()


def test_notifier_never_raises_when_the_socket_is_gone(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert notifier.enabled
    assert notifier.stopping() is False
    assert notifier.status("x") is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 2.0


# ---- the daemon process ----------------------------------------------------------------


class Listener:
    """The systemd side: a datagram socket collecting what the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, line: str, timeout: float = 15.0, after: int = 0) -> int:
        """Index of the first message from ``after`` on that has ``line``."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (_, text) in enumerate(self.messages[after:], start=after):
                if line in text.split("\n"):
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"{line!r} never came; got {self.messages}")
            self.drain(0.2)

    def close(self) -> None:
        self.sock.close()


def write_config(path: Path, sim: SimulatorThread, **cortex: str) -> None:
    lines = [
        "[cortex]",
        f'url = "{sim.url}"',
        'client_id = "cortex-bridge-demo"',
        'client_secret = "cortex-bridge-demo-secret"',
        f'ca_file = "{sim.ca_pem_path}"',
        *(f"{k} = {v}" for k, v in cortex.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        port=0,
        headsets=[f"epocx:id=EPOCX-{unique_id[:8].upper()},status=connected"],
        seed=3,
        control=True,
    )
    with SimulatorThread(config) as running:
        yield running


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_until(pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def live_sessions(sim: SimulatorThread) -> list[dict[str, Any]]:
    return [s for s in sim.state()["sessions"] if s["status"] != "closed"]


def test_daemon_notifies_ready_status_watchdog_reloading_and_stopping(
    tmp_path: Path, sim: SimulatorThread, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    config = tmp_path / "bridge.toml"
    write_config(config, sim, streams='["eeg", "mot"]')
    listener = Listener(tmp_path / "notify")
    try:
        proc = start_daemon(
            config, {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"}
        )
        ready = listener.wait_for("READY=1")
        wait_until(lambda: any(s["streams"] for s in live_sessions(sim)), what="a subscription")
        listener.drain(6.0)  # long enough for a STATUS= line (every 5 s)
        texts = [t for _, t in listener.messages]
        pings = [at for at, t in listener.messages if t == "WATCHDOG=1"]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        print(f"watchdog pings: {len(pings)}, largest gap {max(gaps):.2f} s (asked for 1 s)")
        assert len(pings) >= 4
        assert max(gaps) < 2.0  # systemd's limit (WATCHDOG_USEC) is 2 s
        status = [line for t in texts for line in t.split("\n") if line.startswith("STATUS=")]
        assert any("streaming" in s or "stream(s)" in s for s in status), status
        assert "cortex-bridge-demo-secret" not in "".join(texts)

        proc.send_signal(signal.SIGHUP)
        reloading = listener.wait_for("RELOADING=1", after=ready + 1)
        listener.wait_for("READY=1", after=reloading)

        proc.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1", after=reloading)
        _, stderr = proc.communicate(timeout=10)
    finally:
        listener.close()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "nothing changed" in stderr  # SIGHUP with the same file


def test_sighup_applies_a_new_config_and_keeps_the_old_one_when_invalid(
    tmp_path: Path, sim: SimulatorThread, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    config = tmp_path / "bridge.toml"
    write_config(config, sim, streams='["eeg"]')
    proc = start_daemon(config)
    first = wait_until(
        lambda: [s for s in live_sessions(sim) if s["streams"]], what="a subscription"
    )[0]
    assert sorted(first["streams"]) == ["eeg"]

    # An invalid file: logged, the running configuration stays, nothing reconnects.
    config.write_text(config.read_text() + "no_such_key = 1\n")
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert proc.poll() is None
    assert [s["id"] for s in live_sessions(sim)] == [first["id"]]

    # A valid change: the session is closed and a new one subscribes the new streams.
    write_config(config, sim, streams='["eeg", "pow"]')
    proc.send_signal(signal.SIGHUP)
    second = wait_until(
        lambda: [s for s in live_sessions(sim) if sorted(s["streams"]) == ["eeg", "pow"]],
        what="a session with the new streams",
    )[0]
    assert second["id"] != first["id"]
    closed = next(s for s in sim.state()["sessions"] if s["id"] == first["id"])
    assert closed["closedBy"] == "client"  # closed with updateSession, not dropped

    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "reload refused, keeping the running configuration: cortex.no_such_key: unknown key" \
        in stderr, stderr
    assert "Traceback" not in stderr
