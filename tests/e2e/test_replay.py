"""The real bridge against real Cortex traffic (issue 15), black-box.

Each test runs the bridge (``BridgeThread``) against the replay server
(``tests/replay.py``) answering from one published transcript
(``tests/fixtures/cortex_traffic/``), and asserts only what is visible from outside:
what arrives at real pylsl inlets, exit codes, log lines, and which requests the server
received. Where today's bridge gets a case wrong (issue 15 lists the known faults), the
test stays and is marked ``xfail(strict=True)`` so that it flips when the fault is fixed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pylsl
import pytest
from bridge_harness import BridgeThread, bridge_settings
from replay import FIXTURES, ReplayThread, Transcript, fixtures

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_LOGGERS = ("bridge",)
WAIT_S = 6.0  # how long a "does it keep doing X" test watches


# ------------------------------------------------------------------------------- helpers


@contextmanager
def replaying(name: str, tmp_path: Path, unique_id: str, **options: Any) -> Iterator[ReplayThread]:
    with ReplayThread(Transcript.load(name), tls_dir=tmp_path / "tls", suffix=unique_id[:6],
                      **options) as replay:  # fmt: skip
        yield replay


def settings(replay: ReplayThread, unique_id: str, **overrides: str) -> Any:
    overrides.setdefault("lsl__name_template", f"R{unique_id}-{{stream}}-{{headset}}")
    overrides.setdefault("osc__enabled", "false")
    return bridge_settings(replay.url, replay.ca_file, **overrides)


def headset(replay: ReplayThread, transcript_id: str) -> str:
    return replay.server.headset(transcript_id)


def pull(source_id: str, seconds: float, timeout: float = 10.0) -> tuple[list[str], list[list[Any]]]:
    """Channel labels and the samples an inlet on ``source_id`` receives in ``seconds``."""
    found = pylsl.resolve_byprop("source_id", source_id, 1, timeout)
    assert found, f"no LSL stream with source_id {source_id}"
    inlet = pylsl.StreamInlet(found[0], max_buflen=30)
    try:
        inlet.open_stream(5)
        labels = inlet.info(5).get_channel_labels() or []
        samples: list[list[Any]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sample, _ = inlet.pull_sample(timeout=0.2)
            if sample is not None:
                samples.append(sample)
        return labels, samples
    finally:
        inlet.close_stream()


def watch(bridge: BridgeThread, seconds: float) -> None:
    """Let the bridge run for ``seconds`` (or until it ends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and bridge._thread.is_alive():
        time.sleep(0.1)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith(BRIDGE_LOGGERS)]  # fmt: skip


def close(value: float, expected: float) -> bool:
    return abs(value - expected) <= 1e-3 * max(1.0, abs(expected))


# ----------------------------------------------------------------------------- fixtures


SECRET_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{10,}|[A-Za-z0-9]{40,}")


@pytest.mark.parametrize("name", fixtures())
def test_transcript_is_well_formed(name: str) -> None:
    """Every transcript cites a source, names its dialect and provenance, pairs each
    response with a request, and carries no secret."""
    raw = (FIXTURES / name).read_text(encoding="utf-8")
    meta = json.loads(raw)
    assert meta["dialect"] in ("v2", "v1")
    assert meta["provenance"] in ("observed", "documented", "mixed")
    assert meta["sources"] and all(s["url"] and s["what"] for s in meta["sources"])
    kinds = {m["kind"] for m in meta["messages"]}
    assert kinds <= {"request", "response", "frame", "warning"}
    transcript = Transcript.load(name)  # raises on a response without its request
    assert transcript.answers or transcript.opening
    assert not SECRET_LIKE.search(raw), "a token or secret-like string in a fixture"
    for message in meta["messages"]:
        params = message["data"].get("params") or {}
        for key in ("clientSecret", "client_secret", "cortexToken", "_auth"):
            assert params.get(key) in (None, "<redacted>", "xxx", "abcd", "myToken", "..", "..."), (
                name, key)  # fmt: skip


# ---------------------------------------------------------------------- v2: streaming


def test_create_session_answering_empty_object_streams(
    tmp_path: Path, unique_id: str
) -> None:
    """seed 000: createSession (active) answers ``{}``; the bridge finds its session and
    the docs' com samples reach LSL."""
    with replaying("v2_docs_createsession_active_empty.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge:
            bridge.wait_streaming()
            _, samples = pull(f"cortex-bridge:{hid}:com", 1.5)
        assert bridge.error is None
    assert samples, "no com samples"
    assert any(any(close(v, 0.376) for v in s) for s in samples), samples[:3]
    assert replay.requests("createSession")[0].params["status"] == "active"


def test_check_accepts_create_session_answering_empty_object(
    tmp_path: Path, unique_id: str
) -> None:
    with replaying("v2_docs_createsession_active_empty.json", tmp_path, unique_id) as replay:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CORTEX_BRIDGE_")}
        env.update({
            "CORTEX_BRIDGE_CORTEX__URL": replay.url,
            "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "cortex-bridge-demo",
            "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "cortex-bridge-demo-secret",
            "CORTEX_BRIDGE_CORTEX__CA_FILE": replay.ca_file or "",
            "CORTEX_BRIDGE_CORTEX__STREAMS": "com",
            "CORTEX_BRIDGE_OSC__ENABLED": "false",
            "CORTEX_BRIDGE_LSL__NAME_TEMPLATE": f"R{unique_id}-{{stream}}-{{headset}}",
        })  # fmt: skip
        config = tmp_path / "empty.toml"
        config.write_text("")
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "check", "--activate", "--config", str(config)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
        subscribed = [r.params.get("session") for r in replay.requests("subscribe")]
    assert "" not in subscribed, "subscribed with an empty session id"
    assert result.returncode == 0, result.stdout + result.stderr


def test_2019_session_object_and_13_column_met(tmp_path: Path, unique_id: str) -> None:
    """The docs' full 2019 session object (open session) and the 13-column met of
    Cortex >= 2.2.1, with false/null for inactive metrics."""
    with replaying("v2_docs_2019_session_met13.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="met",
                                   cortex__activate="false")) as bridge:  # fmt: skip
            bridge.wait_streaming()
            labels, samples = pull(f"cortex-bridge:{hid}:met", 1.5)
        assert bridge.error is None
    assert samples, "no met samples"
    values = samples[-1]
    assert any(close(v, 0.266589) for v in values), (labels, values)
    assert any(close(v, 0.098421) for v in values), (labels, values)


def test_no_eeg_licence_opens_unactivated_session_and_streams_met(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """#42 (2019): activation refused (-32019), eeg refused (-32016): the bridge opens an
    unactivated session, says why once, and streams the 7-column met whose integer
    zeros are float channels."""
    caplog.set_level(logging.INFO)
    with replaying("v2_2019_epocplus_no_eeg_licence_met7.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="eeg,met")) as bridge:
            bridge.wait_streaming()
            labels, samples = pull(f"cortex-bridge:{hid}:met", 1.5)
        assert bridge.error is None
    statuses = [r.params.get("status") for r in replay.requests("createSession")]
    assert statuses[:2] == ["active", "open"], statuses
    assert samples, "no met samples"
    assert len(labels) == 7, labels
    assert any(close(v, 0.560504520614219) for v in samples[-1])
    assert sum(v == 0.0 for v in samples[-1]) >= 2  # the JSON integers 0 arrive as 0.0
    activation = [m for m in warnings_logged(caplog) if "could not be activated" in m]
    assert len(activation) == 1, activation


def test_eeg_19_columns_with_json_integers(tmp_path: Path, unique_id: str) -> None:
    """#42 (2019): an EPOC+ eeg frame with integers in float channels and ``[]`` markers."""
    with replaying("v2_2019_epocplus_eeg19.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="eeg")) as bridge:
            bridge.wait_streaming()
            labels, samples = pull(f"cortex-bridge:{hid}:eeg", 1.5)
        assert bridge.error is None
    assert samples, "no eeg samples"
    assert "AF3" in labels and "AF4" in labels, labels
    sample = samples[-1]
    assert close(sample[labels.index("AF3")], 4176.41)
    assert close(sample[labels.index("AF4")], 4241.667)
    if "COUNTER" in labels:
        assert sample[labels.index("COUNTER")] == 219.0


# ------------------------------------------------------------------ refusals and errors


REFUSALS_WAIT = [
    "v2_refusal_32033_not_logged_in.json",
    "v2_refusal_32041_eula.json",
    "v2_refusal_32024_licence_expired.json",
    "v2_refusal_32027_no_license_permission.json",
]


@pytest.mark.parametrize("name", REFUSALS_WAIT)
def test_refusal_waits_for_the_user_with_one_clear_line(
    name: str, tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        replaying(name, tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id)) as bridge,
    ):
        watch(bridge, WAIT_S)
        alive = bridge._thread.is_alive()
        attempts = len(replay.requests("authorize"))
        connections = replay.server.connections
    assert alive, f"the bridge ended (exit {bridge.exit_code}, {bridge.error!r})"
    lines = warnings_logged(caplog)
    assert 1 <= len(lines) <= 2, lines
    assert "EMOTIV Launcher" in lines[0] or "EMOTIV account" in lines[0], lines[0]
    assert attempts <= 4 and connections <= 2, (attempts, connections)


def test_invalid_licence_id_ends_with_exit_code_3(tmp_path: Path, unique_id: str) -> None:
    """-32002 at authorize (observed, #184): the configured licence id is wrong; nothing
    the bridge can retry fixes it (README: exit code 3)."""
    with (
        replaying("v2_refusal_32002_invalid_license.json", tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id, cortex__license="wrong")) as bridge,
    ):
        watch(bridge, 10.0)
        alive = bridge._thread.is_alive()
    assert not alive
    code = bridge.exit_code if bridge.exit_code is not None else getattr(bridge.error, "exit_code", None)
    assert code == 3, (bridge.exit_code, bridge.error)


def test_error_with_data_behavior_is_said_and_retried(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """#129 (2021): -32018 with ``data.behavior``; the behavior text reaches the log and
    the next subscribe (the docs' com answer) streams."""
    caplog.set_level(logging.INFO)
    with replaying("v2_2021_error_data_behavior.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge:
            bridge.wait_streaming(timeout=12.0)
            _, samples = pull(f"cortex-bridge:{hid}:com", 1.0)
    assert any("This parameter is required: cortexToken" in m for m in warnings_logged(caplog))
    assert len(replay.requests("subscribe")) >= 2
    assert samples


def test_headset_not_available_is_retried_quietly(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """#93 (2020): createSession keeps answering -32004 on a connected headset."""
    caplog.set_level(logging.INFO)
    with (
        replaying("v2_2020_epocplus_createsession_32004.json", tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id, cortex__streams="eeg")) as bridge,
    ):
        # The bridge retries after ~6 s; one retry shows whether each one is said.
        replay.wait_for(lambda: len(replay.requests("createSession")) >= 2, 20.0)
        time.sleep(0.5)  # the retry's answer, and what the bridge says about it
        alive = bridge._thread.is_alive()
    assert alive
    assert len(replay.requests("createSession")) >= 2, "never retried"
    lines = [m for m in warnings_logged(caplog) if "-32004" in m or "not available" in m]
    assert len(lines) == 1, lines


# ----------------------------------------------------------------------------- warnings


def test_warning_11_reopens_the_connection(tmp_path: Path, unique_id: str) -> None:
    """#82 (2020): warning 11 right after connecting."""
    with (
        replaying("v2_2020_warning_11_reopen.json", tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge,
    ):
        reopened = replay.wait_for(lambda: replay.server.connections >= 2, WAIT_S)
    assert bridge.error is None
    assert reopened, "the bridge kept the connection Cortex asked it to re-open"


def test_warnings_0_and_1_start_the_session_again(tmp_path: Path, unique_id: str) -> None:
    """Docs' warnings 0 and 1 while streaming: a new session, and data again."""
    with replaying("v2_docs_warnings_0_1.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge:
            bridge.wait_streaming()
            again = replay.wait_for(lambda: len(replay.requests("createSession")) >= 2, 10.0)
            assert again, replay.methods()
            replay.wait_for(lambda: len(replay.requests("subscribe")) >= 2, 10.0)
            _, samples = pull(f"cortex-bridge:{hid}:com", 1.5)
        assert bridge.error is None
    assert samples, "no data after the session was started again"


def test_informational_warnings_do_not_disturb_streaming(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Docs' warnings 2, 13, 17, 142 while streaming: no new authorization, no new session
    (re-authorizing on late warnings broke sessions, cortex_api.md §6), data goes on, and
    the scan's end is not a WARNING."""
    caplog.set_level(logging.DEBUG)
    with replaying("v2_docs_warnings_informational.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge:
            bridge.wait_streaming()
            _, samples = pull(f"cortex-bridge:{hid}:com", 2.0)
        assert bridge.error is None
    assert samples
    assert len(replay.requests("authorize")) == 1
    assert len(replay.requests("createSession")) == 1
    assert not [m for m in warnings_logged(caplog) if "142" in m or "scanning" in m.lower()]


def test_warning_103_is_said(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Warning 103 (the docs' text, #196): the headset was disconnected; said at WARNING."""
    caplog.set_level(logging.INFO)
    with (
        replaying("v2_docs_warning_103.json", tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge,
    ):
        bridge.wait_streaming()
        watch(bridge, 1.0)
    assert bridge.error is None
    assert any("didn't receive any data" in m or "103" in m for m in warnings_logged(caplog))


# ----------------------------------------------------------------------- USB-cabled


def test_usb_cabled_headset_is_skipped_for_the_wireless_one(
    tmp_path: Path, unique_id: str
) -> None:
    with replaying("v2_docs_usb_cable_first.json", tmp_path, unique_id) as replay:
        usb = headset(replay, "EPOCX-12345678")
        wireless = headset(replay, "EPOCPLUS-3B9AXXXX")
        with BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge:
            bridge.wait_streaming(timeout=10.0)
            _, samples = pull(f"cortex-bridge:{wireless}:com", 1.0)
    assert samples
    assert usb not in [r.params.get("headset") for r in replay.requests("createSession")]


# ------------------------------------------------------------------------------ Cortex 1.x


def test_v1_sys_without_time_nested_dev_and_com(tmp_path: Path, unique_id: str) -> None:
    """seed 001 (Cortex 1.x docs): sys events without ``time``, com with times since
    Cortex start, dev with its nested per-channel array."""
    with replaying("v1_seed001_training_session.json", tmp_path, unique_id) as replay:
        hid = headset(replay, "INSIGHT-5A685AE3")
        with BridgeThread(settings(replay, unique_id, cortex__streams="sys,com,dev",
                                   cortex__activate="false")) as bridge:  # fmt: skip
            bridge.wait_streaming()
            _, sys_samples = pull(f"cortex-bridge:{hid}:sys", 2.0)
            dev_labels, dev_samples = pull(f"cortex-bridge:{hid}:dev", 1.0)
            _, com_samples = pull(f"cortex-bridge:{hid}:com", 1.0)
        assert bridge.error is None
    assert "getCortexInfo" in replay.methods()  # the probe, answered -32601 by 1.x
    events = {str(v) for s in sys_samples for v in s}
    assert any("MC_" in e for e in events), events
    assert dev_samples and len(dev_labels) >= 7, dev_labels  # battery, signal, 5 channels
    assert any(4.0 in s for s in dev_samples)
    assert com_samples


def test_v1_usb_cabled_headset_is_not_opened_and_says_why(
    tmp_path: Path, unique_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        replaying("v1_seed001_usb_cable_only.json", tmp_path, unique_id) as replay,
        BridgeThread(settings(replay, unique_id, cortex__streams="com")) as bridge,
    ):
        watch(bridge, 4.0)
    assert not replay.requests("createSession")
    said = [r.getMessage() for r in caplog.records if "usb" in r.getMessage().lower()]
    assert len(said) == 1, said
