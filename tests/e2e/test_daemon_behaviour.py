"""The daemon's behaviour against the simulator, at the edges of the happy path.

Wrong credentials, the Launcher's access prompt (approved and rejected), a licence that
cannot activate sessions, headset selection by pattern, an unreachable Cortex and the
``check`` command. Every test starts its own simulator (fast timings, free port) and
uses headset ids unique to the test, so LSL source ids never collide with another
test's outlets.

Timing bounds are chosen to tell the right mechanism from a slower fallback: the daemon
polls ``hasAccessRight`` every 5 s, so reacting to warnings 9/10 must be much faster.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pylsl
import pytest
from bridge_harness import BridgeThread, bridge_settings

from bridge import cli
from bridge.app import App
from bridge.cortex.auth import ACCESS_POLL_SECONDS
from bridge.errors import AuthError, ExitCode
from bridge.simulator import SimulatorThread
from bridge.simulator import tls as sim_tls

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "cortex-bridge-demo"
ALL_STREAMS = ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys")

SimFactory = Callable[..., SimulatorThread]


# ---- helpers ---------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


@pytest.fixture
def epocx_id(unique_id: str) -> str:
    return f"EPOCX-{unique_id[:8].upper()}"


@pytest.fixture
def insight_id(unique_id: str) -> str:
    return f"INSIGHT-{unique_id[2:10].upper()}"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def daemon_of(bridge: BridgeThread) -> App:
    assert bridge.app is not None, "the bridge thread did not start its application"
    return bridge.app


def outlet_headsets(daemon: App) -> set[str]:
    """Headset ids the daemon has LSL outlets for (source id cortex-bridge:<hid>:<s>)."""
    return {outlet.source_id.split(":")[1] for outlet in daemon.registry.outlets}


def live_sessions(sim: SimulatorThread) -> list[dict[str, Any]]:
    return [s for s in sim.state()["sessions"] if s["status"] != "closed"]


def resolve(source_id: str, timeout: float = 5.0) -> pylsl.StreamInfo:
    found = pylsl.resolve_byprop("source_id", source_id, 1, timeout)
    assert found, f"no LSL stream with source_id {source_id}"
    return found[0]


def pull_some(source_id: str, seconds: float) -> int:
    """How many samples an inlet on ``source_id`` receives within ``seconds``."""
    inlet = pylsl.StreamInlet(resolve(source_id), max_buflen=10)
    try:
        inlet.open_stream(5)
        count = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chunk, _ = inlet.pull_chunk(timeout=0.1)
            count += len(chunk)
        return count
    finally:
        inlet.close_stream()


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("bridge.cortex") and r.levelno >= level]


def write_config(
    path: Path,
    sim: SimulatorThread,
    *,
    secret: str = "cortex-bridge-demo-secret",
    headsets: list[str] | None = None,
) -> Path:
    lines = [
        "[cortex]",
        f'url = "{sim.url}"',
        f'client_id = "{CLIENT_ID}"',
        f'client_secret = "{secret}"',
        f'ca_file = "{sim.ca_pem_path}"',
        "reconnect_max_delay = 1.0",
        "request_timeout = 5.0",
    ]
    if headsets is not None:
        lines.append("headsets = [" + ", ".join(f'"{h}"' for h in headsets) + "]")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds a secret: no permission warning
    return path


# ---- 1. wrong client secret ------------------------------------------------------------


def test_wrong_secret_exits_3_with_one_clear_line(
    sim_factory: SimFactory, epocx_id: str, tmp_path: Path
) -> None:
    sim = sim_factory(headsets=[f"epocx:id={epocx_id},status=connected"])
    wrong = "not-the-secret-7f3a9c"
    config = write_config(tmp_path / "bridge.toml", sim, secret=wrong)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CORTEX_BRIDGE_")}
    assert "LSLAPICFG" in env  # the loopback-only LSL config reaches the subprocess
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail(f"cortex-bridge run kept running with a wrong secret; stderr:\n{err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    elapsed = time.monotonic() - started
    print(f"exit {proc.returncode} after {elapsed:.2f} s; stderr:\n{err}")
    assert proc.returncode == ExitCode.AUTH == 3
    assert elapsed < 10.0
    assert "Traceback" not in err and "Traceback" not in out
    assert wrong not in out and wrong not in err
    problem = [line for line in err.splitlines() if line.startswith("cortex-bridge:")]
    assert len(problem) == 1, err
    assert "secret" in problem[0] and "-32021" in problem[0]
    # Refused once, not retried in a loop: no headset was ever touched.
    assert live_sessions(sim) == []
    assert sim.state()["tokensIssued"] == 0


# ---- 2. access prompt, approved --------------------------------------------------------


def test_access_prompt_waits_then_streams_after_approval(
    sim_factory: SimFactory, epocx_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.cortex")
    delay = 1.5
    sim = sim_factory(
        headsets=[f"epocx:id={epocx_id},status=connected"], access="prompt",
        approval_delay_s=delay,
    )
    with BridgeThread(bridge_settings(sim.url, str(sim.ca_pem_path))) as bridge:
        daemon = daemon_of(bridge)
        started = time.monotonic()
        wait_until(lambda: daemon.board.cortex_state == "waiting for access approval", 5.0,
                   "the daemon reports that it waits for approval")
        assert not daemon.streaming.is_set()
        assert sim.state()["access"] == {CLIENT_ID: "pending"}
        bridge.wait_streaming(timeout=10.0)
        took = time.monotonic() - started
        assert sim.state()["access"] == {CLIENT_ID: "granted"}
        assert daemon.board.cortex_state == "connected"
        assert f"cortex-bridge:{epocx_id}:eeg" in {o.source_id for o in daemon.registry.outlets}
    print(f"streaming {took:.2f} s after start (approval after {delay} s)")
    # Not before the user approved; and on warning 9, not at the next 5 s access poll.
    assert delay - 0.2 < took < ACCESS_POLL_SECONDS - 0.5
    logged = messages(caplog)
    assert any("waiting for the user to approve" in m and "EMOTIV Launcher" in m
               for m in logged), logged
    assert any("access approved" in m for m in logged), logged
    assert bridge.error is None and bridge.exit_code == 0


# ---- 3. access prompt, rejected --------------------------------------------------------


def test_access_rejected_ends_with_auth_error(sim_factory: SimFactory, epocx_id: str) -> None:
    delay = 0.5
    sim = sim_factory(
        headsets=[f"epocx:id={epocx_id},status=connected"], access="reject",
        approval_delay_s=delay,
    )
    bridge = BridgeThread(bridge_settings(sim.url, str(sim.ca_pem_path)))
    with bridge:
        took = wait_until(lambda: bridge.error is not None or bridge.exit_code is not None,
                          ACCESS_POLL_SECONDS - 1.0, "the daemon gives up after warning 10")
        assert daemon_of(bridge).registry.outlets == ()
    print(f"daemon ended {took:.2f} s after start: {bridge.error!r}")
    assert isinstance(bridge.error, AuthError), bridge.error
    assert bridge.error.exit_code == ExitCode.AUTH
    assert "rejected" in str(bridge.error)
    assert sim.state()["access"] == {CLIENT_ID: "rejected"}
    assert sim.state()["tokensIssued"] == 0
    assert live_sessions(sim) == []


# ---- 4. no licence to activate a session -----------------------------------------------


def test_without_licence_eeg_is_unavailable_and_the_rest_streams(
    sim_factory: SimFactory, epocx_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.cortex")
    sim = sim_factory(headsets=[f"epocx:id={epocx_id},status=connected"], licence=False)
    with BridgeThread(bridge_settings(sim.url, str(sim.ca_pem_path))) as bridge:
        bridge.wait_streaming(timeout=10.0)
        daemon = daemon_of(bridge)
        board = daemon.board
        [session] = live_sessions(sim)
        assert session["status"] == "opened"  # the fallback: open, not activated
        assert session["headset"]["id"] == epocx_id
        assert board.headset(epocx_id).state == "streaming (not activated)"
        assert board.stream(epocx_id, "eeg").state == "unavailable"
        sources = {o.source_id for o in daemon.registry.outlets}
        assert f"cortex-bridge:{epocx_id}:eeg" not in sources
        for stream in ("mot", "pow", "met", "dev"):
            assert f"cortex-bridge:{epocx_id}:{stream}" in sources, stream
            assert board.stream(epocx_id, stream).state == "streaming", stream
        pow_samples = pull_some(f"cortex-bridge:{epocx_id}:pow", 1.0)
        mot_samples = pull_some(f"cortex-bridge:{epocx_id}:mot", 0.5)
    print(f"pow: {pow_samples} samples in 1 s, mot: {mot_samples} in 0.5 s")
    assert pow_samples > 0 and mot_samples > 0
    logged = messages(caplog, logging.WARNING)
    assert any("could not be activated" in m for m in logged), logged
    assert any("stream eeg unavailable (-32016" in m and "licence" in m for m in logged), logged


# ---- 5. which headsets: cortex.headsets patterns ---------------------------------------


@pytest.mark.parametrize("case", ["pattern", "unset", "both-ids"])
def test_headset_patterns_pick_the_bridged_headsets(
    case: str, sim_factory: SimFactory, epocx_id: str, insight_id: str
) -> None:
    # Both discovered (the daemon connects what it picks); the Insight is listed first.
    sim = sim_factory(headsets=[f"insight:id={insight_id}", f"epocx:id={epocx_id}"])
    overrides, expected = {
        "pattern": ({"cortex__headsets": "EPOCX-*"}, {epocx_id}),
        "unset": ({}, {insight_id}),
        "both-ids": ({"cortex__headsets": f"{insight_id},{epocx_id}"}, {insight_id, epocx_id}),
    }[case]
    with BridgeThread(bridge_settings(sim.url, str(sim.ca_pem_path), **overrides)) as bridge:
        daemon = daemon_of(bridge)
        wait_until(lambda: outlet_headsets(daemon) >= expected, 12.0,
                   f"outlets for {sorted(expected)}")
        time.sleep(1.5)  # more than a headset poll: nothing else gets picked up late
        assert outlet_headsets(daemon) == expected
        sessions = live_sessions(sim)
        assert sorted(s["headset"]["id"] for s in sessions) == sorted(expected)  # one each
        for hid in expected:
            assert resolve(f"cortex-bridge:{hid}:mot").name().endswith(hid)
        connected = {h["id"] for h in sim.state()["headsets"] if h["status"] == "connected"}
        assert connected == expected  # the other headset was not even connected


# ---- 6. Cortex unreachable -------------------------------------------------------------


def test_unreachable_cortex_is_retried_until_it_appears(
    sim_factory: SimFactory, epocx_id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.cortex")
    tls_dir = tmp_path / "tls"
    ca_file = sim_tls.load_or_generate(tls_dir).ca_pem  # the simulator will reuse it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"wss://127.0.0.1:{port}"
    with BridgeThread(bridge_settings(url, str(ca_file))) as bridge:
        daemon = daemon_of(bridge)
        seen: set[str] = set()

        def retried_twice() -> bool:
            seen.add(daemon.board.cortex_state)
            return sum("retrying in" in m for m in messages(caplog, logging.DEBUG)) >= 2

        wait_until(retried_twice, 6.0, "two failed attempts, each followed by a retry")
        # Said once at WARNING; the retries after it are not a line each (issue 15).
        assert sum("retrying in" in m for m in messages(caplog, logging.WARNING)) == 1
        assert "unreachable" in seen and "connected" not in seen
        assert bridge.error is None and bridge.exit_code is None  # still running
        assert not daemon.streaming.is_set()
        # Cortex comes up on that port: the daemon finds it on its own.
        sim = sim_factory(port=port, tls_dir=tls_dir,
                          headsets=[f"epocx:id={epocx_id},status=connected"])
        assert sim.port == port
        bridge.wait_streaming(timeout=10.0)
        assert daemon.board.cortex_state == "connected"
        resolve(f"cortex-bridge:{epocx_id}:pow")
    assert bridge.error is None and bridge.exit_code == 0


# ---- 7. cortex-bridge check ------------------------------------------------------------


def test_check_lists_the_headset_and_its_outlets(
    sim_factory: SimFactory, epocx_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(headsets=[f"epocx:id={epocx_id},status=connected"])
    config = write_config(tmp_path / "bridge.toml", sim)
    # Without --activate: an unactivated session (no licence used); eeg is not checked.
    assert cli.main(["check", "--config", str(config)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "session opened unactivated" in out
    assert f"headset {epocx_id}: stream eeg needs an activated session; not checked" in out
    assert "source_id=cortex-bridge:" + epocx_id + ":pow" in out
    assert "problem:" not in out
    assert all(s["status"] != "activated" for s in sim.state()["sessions"])
    assert cli.main(["check", "--activate", "--config", str(config)]) == ExitCode.OK
    out = capsys.readouterr().out
    print(out)
    assert f"headset {epocx_id}: connected" in out
    assert "authorize: ok" in out and "dialect: Cortex 2+ (v2)" in out
    assert f"headset {epocx_id}: session activated" in out
    for stream in ALL_STREAMS:
        outlet = [line for line in out.splitlines()
                  if f"source_id=cortex-bridge:{epocx_id}:{stream}" in line]
        assert len(outlet) == 1, stream
        assert f"-{epocx_id}'" in outlet[0]  # the default name: Emotiv-<label>-<headset>
    assert f"outlet 'Emotiv-EEG-{epocx_id}'" in out
    assert "problem:" not in out
    assert live_sessions(sim) == []  # check closes what it opened


def test_check_with_a_pattern_that_matches_nothing_exits_1(
    sim_factory: SimFactory, epocx_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(headsets=[f"epocx:id={epocx_id},status=connected"])
    config = write_config(tmp_path / "bridge.toml", sim, headsets=["INSIGHT-*"])
    assert cli.main(["check", "--config", str(config)]) == ExitCode.FAILURE
    out = capsys.readouterr().out
    print(out)
    assert f"headset {epocx_id}: connected" in out
    assert "outlet" not in out
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert problems == ["problem: no headset matches cortex.headsets"]
    assert sim.state()["sessions"] == []


def test_check_with_a_wrong_secret_exits_3(
    sim_factory: SimFactory, epocx_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(headsets=[f"epocx:id={epocx_id},status=connected"])
    wrong = "not-the-secret-0b1e"
    config = write_config(tmp_path / "bridge.toml", sim, secret=wrong)
    assert cli.main(["check", "--config", str(config)]) == ExitCode.AUTH
    captured = capsys.readouterr()
    assert wrong not in captured.out + captured.err
    assert "cortex-bridge: Cortex refused the client id or secret" in captured.err
