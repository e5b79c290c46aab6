"""Unit tests of the simulator's parts that need no socket: the service state machine on
a fake clock, signals, tokens, spec parsers, certificates and the command line."""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509

from bridge.simulator import CortexService, SimulatorConfig, tls
from bridge.simulator import cli as sim_cli
from bridge.simulator.faults import parse_fault_spec
from bridge.simulator.headsets import parse_headset_spec
from bridge.simulator.signals import EegGenerator, SignalSpec, band_powers, parse_signal
from bridge.simulator.tokens import TokenAuthority, TokenError

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.epoch = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.epoch

    def advance(self, dt: float) -> None:
        self.mono += dt
        self.epoch += dt


class Driver:
    """Talks to a CortexService directly: requests in, outbox texts out."""

    def __init__(self, **cfg: Any) -> None:
        self.clock = FakeClock()
        base = {"headsets": ["epocx:rate=256,status=connected"], "seed": 11}
        self.svc = CortexService(SimulatorConfig(**{**base, **cfg}), self.clock)
        self.conn = self.svc.open_connection("test")
        self._id = 0
        self.token = ""

    def call(self, method: str, **params: Any) -> Any:
        self._id += 1
        self.svc.receive(
            self.conn,
            json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}),
        )
        out = self.svc.outbox(self.conn)
        for i, text in enumerate(out):
            msg = json.loads(text)
            if msg.get("id") == self._id:
                del out[i]
                return msg.get("result", msg.get("error"))
        raise AssertionError("no answer")

    def streaming(self, streams: list[str]) -> str:
        token = self.call(
            "authorize", clientId="cortex-bridge-demo", clientSecret="cortex-bridge-demo-secret"
        )["cortexToken"]
        self.token = token
        hid = self.svc.headsets[0].id
        sid = self.call("createSession", cortexToken=token, headset=hid, status="active")["id"]
        self.call("subscribe", cortexToken=token, session=sid, streams=streams)
        self.svc.outbox(self.conn).clear()
        return sid

    def run(self, seconds: float, step: float) -> list[str]:
        end = self.clock.mono + seconds
        while self.clock.mono < end - 1e-9:
            self.clock.advance(min(step, end - self.clock.mono))
            self.svc.tick()
        out = list(self.svc.outbox(self.conn))
        self.svc.outbox(self.conn).clear()
        return out


# ---- the service on a fake clock ------------------------------------------------------


def test_exactly_rate_frames_per_second_whatever_the_tick():
    for step in (0.001, 0.0137, 0.25):
        d = Driver()
        d.clock.advance(0.0013)  # off the sample grid, so float rounding cannot matter
        d.streaming(["eeg", "mot", "pow", "dev"])
        frames = [json.loads(t) for t in d.run(2.0, step)]
        counts = {k: sum(1 for f in frames if k in f) for k in ("eeg", "mot", "pow", "dev")}
        assert counts == {"eeg": 512, "mot": 128, "pow": 16, "dev": 4}, step


def test_same_seed_same_bytes_whatever_the_tick_pattern():
    """--seed: ids, session ids and every data frame repeat exactly (per stream; how
    streams interleave depends on when ticks happen)."""
    streams = ["eeg", "mot", "pow", "met", "com", "fac", "dev", "eq"]
    a, b = Driver(seed=3), Driver(seed=3)
    for d in (a, b):
        d.clock.advance(0.0013)
    a.streaming(streams)
    b.streaming(streams)
    out_a, out_b = a.run(3.0, 0.01), b.run(3.0, 0.173)
    for stream in streams:
        key = f'{{"{stream}":'
        sa = [x for x in out_a if x.startswith(key)]
        assert sa and sa == [x for x in out_b if x.startswith(key)], stream
    assert len(out_a) == len(out_b) > 1000
    assert Driver(seed=4).svc.headsets[0].id != a.svc.headsets[0].id


def test_delay_shifts_sending_not_timestamps():
    d = Driver(delay_ms=250)
    d.streaming(["eeg"])
    h = d.svc.headsets[0]
    sent_at: list[tuple[float, float]] = []
    for _ in range(100):
        d.clock.advance(0.01)
        d.svc.tick()
        for text in d.svc.outbox(d.conn):
            sent_at.append((d.clock.epoch, json.loads(text)["time"]))
        d.svc.outbox(d.conn).clear()
    lags = [sent - stamped for sent, stamped in sent_at]
    assert min(lags) >= 0.25 - 1e-3 and max(lags) <= 0.25 + 0.01 + 1e-3
    assert h.epoch_anchor - h.mono_anchor == pytest.approx(d.clock.epoch - d.clock.mono)


def test_stall_holds_output_then_catches_up():
    from bridge.simulator import faults

    d = Driver()
    d.streaming(["eeg"])
    d.run(0.2, 0.01)
    faults.stall(d.svc, 1.0)
    assert d.run(0.9, 0.01) == []
    burst = [json.loads(x) for x in d.run(0.2, 0.2)]
    assert abs(len(burst) - 1.1 * 256) <= 1  # everything that fell due, at once
    counters = [f["eeg"][0] for f in burst]
    assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(counters))


def test_marker_attaches_to_the_nearest_sample():
    d = Driver()
    sid = d.streaming(["eeg"])
    t = d.token
    d.call("createRecord", cortexToken=t, session=sid, title="m")
    h = d.svc.headsets[0]
    target = h.clock_at(d.clock.mono) + 0.1234
    d.call("injectMarker", cortexToken=t, session=sid, time=target * 1000, value=1, label="m")
    frames = [json.loads(x) for x in d.run(0.5, 0.01)]
    carrying = [f for f in frames if f["eeg"][-1]]
    assert len(carrying) == 1
    assert abs(carrying[0]["time"] - target) <= 0.5 / 256 + 1e-4
    entry = h.markers[0]
    assert entry["sampleIndex"] == entry["sentIndex"] == round((target - h.epoch_anchor) * 256)


def test_headset_power_cycle_on_the_fake_clock():
    from bridge.simulator import faults

    d = Driver(power_off_timeout_s=30.0)
    sid = d.streaming(["eeg"])
    h = d.svc.headsets[0]
    faults.set_headset_power(d.svc, h, False)
    codes = [json.loads(x)["warning"]["code"] for x in d.svc.outbox(d.conn)]
    assert codes == [0, 1]
    assert json.loads(d.svc.outbox(d.conn)[0])["warning"]["message"]["sessionId"] == sid
    d.svc.outbox(d.conn).clear()
    assert d.call("queryHeadsets")[0]["status"] == "connecting"
    assert d.run(29.9, 0.5) == []
    late = [json.loads(x) for x in d.run(0.2, 0.1)]
    assert [m["warning"]["code"] for m in late] == [103]
    assert d.call("queryHeadsets") == []


# ---- signals --------------------------------------------------------------------------


def test_band_powers_of_pure_tones():
    rate = 128
    t = np.arange(2 * rate) / rate
    for freq, band in ((6.0, 0), (10.0, 1), (14.0, 2), (20.0, 3), (35.0, 4)):
        window = 4200 + 30 * np.sin(2 * np.pi * freq * t)[:, None]
        assert int(np.argmax(band_powers(window, rate)[0])) == band


def test_realistic_eeg_has_a_1_over_f_spectrum_and_an_offset():
    gen = EegGenerator(["O1", "AF3"], 256, [1], SignalSpec())
    x = gen.get(0, 256 * 60)
    assert np.all(np.abs(x.mean(axis=0) - 4200) < 150)
    f = np.fft.rfftfreq(1024, 1 / 256)
    psd = np.mean(
        [
            np.abs(np.fft.rfft((x[i : i + 1024, 1] - x[:, 1].mean()) * np.hanning(1024))) ** 2
            for i in range(0, len(x) - 1024, 512)
        ],
        axis=0,
    )

    def band(lo: float, hi: float) -> float:
        return float(psd[(f >= lo) & (f < hi)].mean())

    # 1/f: each octave has about half the power density of the one below.
    assert 1.4 < band(2, 4) / band(4, 8) < 3.0 and 1.4 < band(16, 32) / band(32, 64) < 3.0
    # ...plus an alpha peak.
    assert band(9, 11) > 2 * band(12, 16)


def test_eeg_is_path_independent():
    a = EegGenerator(["AF3"], 128, [5], SignalSpec())
    b = EegGenerator(["AF3"], 128, [5], SignalSpec())
    whole = a.get(0, 1000)
    parts = np.concatenate([b.get(k, min(k + 7, 1000)) for k in range(0, 1000, 7)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(b.get(5000, 5010), a.get(5000, 5010))  # random access far ahead


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("realistic", SignalSpec()),
        ("sine:10", SignalSpec("sine", 10.0, 50.0)),
        ("sine:7.5:20", SignalSpec("sine", 7.5, 20.0)),
    ],
)
def test_parse_signal(text, expected):
    assert parse_signal(text) == expected


@pytest.mark.parametrize("bad", ["sine", "sine:-1", "noise", "sine:1:2:3"])
def test_parse_signal_rejects(bad):
    with pytest.raises(ValueError):
        parse_signal(bad)


# ---- specs ----------------------------------------------------------------------------


def test_parse_headset_spec():
    spec = parse_headset_spec(
        "epocx:rate=256,id=EPOCX-12345678,status=connected,motion=gyro,mems=128"
    )
    assert (spec.model.key, spec.eeg_rate, spec.id, spec.status, spec.motion, spec.mems_rate) == (
        "epocx",
        256,
        "EPOCX-12345678",
        "connected",
        "gyro",
        128.0,
    )
    assert parse_headset_spec("mn8").model.mems_rate == 6.4
    assert parse_headset_spec("EPOCPLUS").model.key == "epocx"


@pytest.mark.parametrize(
    "bad", ["epocz", "insight:rate=256", "epocx:speed=1", "epocx:status=on", "epocx:rate"]
)
def test_parse_headset_spec_rejects(bad):
    with pytest.raises(ValueError):
        parse_headset_spec(bad)


def test_gyro_motion_layout_in_cols():
    d = Driver(headsets=["insight:status=connected,motion=gyro"])
    h = d.svc.headsets[0]
    assert h.cols("mot", "current")[2:5] == ["GYROX", "GYROY", "GYROZ"]


def test_parse_fault_spec():
    spec = parse_fault_spec("headset_power:headset=EPOCX-1,on=false@12.5")
    assert (spec.kind, spec.params, spec.at_s, spec.every_s) == (
        "headset_power",
        {"headset": "EPOCX-1", "on": False},
        12.5,
        None,
    )
    repeat = parse_fault_spec("drop_samples:count=10,every=5")
    assert (repeat.params, repeat.at_s, repeat.every_s) == ({"count": 10}, 0.0, 5.0)
    with pytest.raises(ValueError):
        parse_fault_spec("meteor@1")


# ---- tokens ---------------------------------------------------------------------------


def test_tokens():
    auth = TokenAuthority(b"k" * 32, "user-id", "someone")
    token = auth.issue("com.someone.app", "app", 1000.0, 60.0)
    claims = auth.verify(token, 1030.0)
    assert (claims.app_id, claims.client_id, claims.exp - claims.nbf) == (
        "com.someone.app",
        "app",
        60,
    )
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(payload) == {"appId", "appVersion", "exp", "nbf", "userId", "username", "version"}
    with pytest.raises(TokenError) as expired:
        auth.verify(token, 1061.0)
    assert expired.value.expired
    other = TokenAuthority(b"x" * 32, "user-id", "someone")
    with pytest.raises(TokenError) as invalid:
        other.verify(token, 1030.0)
    assert not invalid.value.expired
    assert auth.expire_all() == 1
    with pytest.raises(TokenError):
        auth.verify(token, 1030.0)
    fresh = auth.issue("com.someone.app", "app", 1000.0, 60.0)  # same second, same claims
    assert fresh != token and auth.verify(fresh, 1030.0)


# ---- TLS ------------------------------------------------------------------------------


def test_certificate_names_and_reuse(tmp_path):
    files = tls.generate(tmp_path / "a")
    cert = x509.load_pem_x509_certificate(files.cert_pem.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "emotiv-cortex.remote"} <= set(san.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert oct(files.key_pem.stat().st_mode & 0o777) == "0o600"
    again = tls.load_or_generate(tmp_path / "a")
    assert again.ca_pem.read_bytes() == files.ca_pem.read_bytes()


# ---- command line ---------------------------------------------------------------------


def test_cli_flags_map_to_config(tmp_path):
    parser = argparse.ArgumentParser()
    sim_cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--port", "0", "--no-tls", "--headset", "insight", "--headset", "epocx:rate=256",
            "--seed", "9", "--signal", "sine:10", "--met-layout", "2.2.0", "--access", "prompt",
            "--no-licence", "--licence-scopes", "pm", "--delay-ms", "200", "--clock-offset", "1.5",
            "--response-delay", "queryHeadsets=500", "--flood", "100", "--control",
            "--fault", "stall:seconds=2@10", "--ca-out", str(tmp_path / "ca.pem"),
        ]
    )  # fmt: skip
    cfg = sim_cli.config_from_args(args)
    assert cfg.headsets == ["insight", "epocx:rate=256"] and cfg.tls is False and cfg.seed == 9
    assert cfg.licence is False and cfg.licence_scopes == ("pm",) and cfg.access == "prompt"
    assert cfg.response_delays_ms == {"queryHeadsets": 500.0} and cfg.flood == 100 and cfg.control
    assert (
        cfg.faults == ["stall:seconds=2@10"] and cfg.delay_ms == 200 and cfg.clock_offset_s == 1.5
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--headset", "epocz"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_url_and_credentials_and_exits_0(tmp_path, sig):
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.simulator",
            "--port",
            "0",
            "--seed",
            "1",
            "--ca-out",
            str(ca),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("  control:"):
                break
        text = "".join(lines)
        assert "wss://127.0.0.1:" in text and str(ca) in text
        assert "cortex-bridge-demo" in text and "cortex-bridge-demo-secret" in text
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- records, training and quirks on the fake clock -----------------------------------


def _warnings(texts: list[str]) -> list[int]:
    return [m["warning"]["code"] for m in map(json.loads, texts) if "warning" in m]


def test_post_processing_warnings_follow_stop_record_on_time():
    """stopRecord -> 18 at half the post-processing time, 30 at its end; the captured
    samples cover the record (cortex_api_more.md §C.1)."""
    d = Driver(post_processing_s=2.0)
    sid = d.streaming(["eeg"])
    d.call("createRecord", cortexToken=d.token, session=sid, title="r")
    d.run(3.0, 0.05)
    rid = d.call("stopRecord", cortexToken=d.token, session=sid)["record"]["uuid"]
    assert _warnings(d.run(0.9, 0.05)) == []
    assert _warnings(d.run(0.2, 0.05)) == [18]
    assert _warnings(d.run(1.0, 0.05)) == [30]
    samples = d.svc.store.get_samples(rid)
    assert samples is not None and abs(len(samples["eeg"]) - 3 * 256) <= 2
    assert list(samples["eeg_cols"][:3]) == ["COUNTER", "INTERPOLATED", "AF3"]


def test_training_outcomes_cycle():
    d = Driver(training_outcomes=("failed", "succeeded"), training_duration_s=1.0)
    sid = d.streaming(["sys"])
    hid = d.svc.headsets[0].id
    for status in ("create", "load"):
        d.call("setupProfile", cortexToken=d.token, headset=hid, profile="p", status=status)
    events = []
    for _ in range(2):
        d.call("training", cortexToken=d.token, session=sid, detection="mentalCommand",
               action="push", status="start")  # fmt: skip
        events += [json.loads(t)["sys"][1] for t in d.run(1.1, 0.05) if '"sys"' in t]
    assert events == ["MC_Started", "MC_Failed", "MC_Started", "MC_Succeeded"]


def test_session_empty_result_quirk_keeps_the_session():
    d = Driver(quirks=["session-empty-result"])
    token = d.call("authorize", clientId="cortex-bridge-demo",
                   clientSecret="cortex-bridge-demo-secret")["cortexToken"]  # fmt: skip
    hid = d.svc.headsets[0].id
    assert d.call("createSession", cortexToken=token, headset=hid, status="active") == {}
    assert d.call("createSession", cortexToken=token, headset=hid, status="open")["code"] == -32005


def test_each_service_gets_its_dialects_methods():
    """The services never import their handlers: make_service hands each its API, and
    one built bare (as the benchmarks build CortexService) finds its dialect's."""
    from bridge.simulator import methods, v1_methods
    from bridge.simulator.dialects import make_service
    from bridge.simulator.spec import registered_api

    assert Driver().svc.api is methods.API
    assert make_service(SimulatorConfig(), FakeClock()).api is methods.API
    v1 = make_service(SimulatorConfig(dialect="v1"), FakeClock())
    assert v1.api is v1_methods.API and "login" in v1.methods and "createRecord" not in v1.methods
    with pytest.raises(LookupError):
        registered_api("v0")


def test_a_service_answers_only_the_methods_it_was_given():
    from bridge.simulator import methods
    from bridge.simulator.spec import CortexApi

    only_info = CortexApi({"getCortexInfo": methods.METHODS["getCortexInfo"]},
                          lambda svc: None, lambda svc, session, record: None)  # fmt: skip
    svc = CortexService(SimulatorConfig(cloud_records=0), FakeClock(), only_info)
    conn = svc.open_connection("test")
    for i, method in enumerate(("getCortexInfo", "queryHeadsets"), 1):
        svc.receive(conn, json.dumps({"jsonrpc": "2.0", "id": i, "method": method}))
    info, missing = (json.loads(text) for text in svc.outbox(conn))
    assert info["result"]["version"] == "4.8.32"
    assert missing["error"]["code"] == -32601
