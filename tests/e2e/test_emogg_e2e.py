"""End to end: the Emogg simulator (real HTTP + WebSocket) -> EmoggSource -> real pylsl
inlets (and a python-osc receiver), compared with the simulator's record of what it sent."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pylsl
import pytest

from bridge.clock import epoch_minus_lsl
from bridge.config import EMOGG_EMOTIONS, EmoggSettings, load_settings
from bridge.outputs.lsl import OutletRegistry
from bridge.simulator.emogg import DEFAULT_TOKEN, EmoggSimulatorConfig, EmoggSimulatorThread
from bridge.sources import SinkFactory, Source
from bridge.sources.emogg import EmoggAuthError, EmoggSource
from bridge.sources.emogg.catalog import build_emogg_plans, emogg_source_info
from bridge.status import StatusBoard

INTENSITIES = "session_emotions_intensities"
COUNTS = "session_emotions_counts"
STREAM_URI = "rtmp://cam.example.org/live/streamkey-SECRET"

pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


@pytest.fixture
def emogg_sim() -> Iterator[Callable[..., EmoggSimulatorThread]]:
    started: list[EmoggSimulatorThread] = []

    def make(**overrides: Any) -> EmoggSimulatorThread:
        cfg = EmoggSimulatorConfig(
            **{"http_port": 0, "ws_port": 0, "seed": 11, "worker_start_s": 0.2, **overrides}
        )
        sim = EmoggSimulatorThread(cfg).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def emogg_settings(sim: EmoggSimulatorThread, unique_id: str, **env: str) -> EmoggSettings:
    environ = {
        "ENABLED": "true",
        "API_URL": sim.api_url,
        "WS_URL": sim.ws_url,
        "TOKEN": DEFAULT_TOKEN,
        "STREAM_URI": STREAM_URI,
        "SOURCE_ID": f"t{unique_id}",
        "RECONNECT_MAX_DELAY": "1",
        "REQUEST_TIMEOUT": "5",
        **{k.upper(): v for k, v in env.items()},
    }
    return load_settings(None, {f"CORTEX_BRIDGE_EMOGG__{k}": v for k, v in environ.items()}).emogg


class SourceThread:
    """``EmoggSource.run`` on its own event loop, with its own registry and board."""

    def __init__(self, settings: EmoggSettings, osc: SinkFactory | None = None) -> None:
        self.settings = settings
        self.osc = osc
        self.loop = asyncio.new_event_loop()
        self.board = StatusBoard()
        self.source: EmoggSource | None = None
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emogg-source", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            registry = OutletRegistry()
            self._stop = asyncio.Event()
            self.source = EmoggSource(self.settings, registry, self.board, self.osc)
            self._ready.set()
            try:
                await self.source.run(self._stop)
            finally:
                registry.close_all()

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # the test asserts on it
            self.error = exc
        finally:
            self._ready.set()
            self.loop.close()

    def __enter__(self) -> SourceThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_subscribed(self, timeout: float = 20.0) -> None:
        assert self.source is not None
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(self.source.subscribed.wait(), timeout), self.loop
        )
        future.result(timeout + 1)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self._thread.is_alive() or condition(), f"source ended: {self.error!r}"
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.05)

    def join(self, timeout: float = 20.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the source did not end"

    def stop(self) -> None:
        if self._thread.is_alive() and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.join()

    def samples(self, stream: str) -> int:
        return self.board.stream(self.settings.source_id, stream).samples


def inlet_for(settings: EmoggSettings, stream: str) -> pylsl.StreamInlet:
    source_id = f"cortex-bridge:{settings.source_id}:{stream}"
    found = pylsl.resolve_byprop("source_id", source_id, 1, 10.0)
    assert found, f"no outlet {source_id}"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    return inlet


def pull(inlet: pylsl.StreamInlet, n: int, timeout: float = 20.0) -> list[tuple[list[Any], float]]:
    got: list[tuple[list[Any], float]] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        sample, stamp = inlet.pull_sample(timeout=0.5)
        if sample is not None:
            got.append((sample, stamp))
    assert len(got) >= n, f"only {len(got)} of {n} samples"
    return got


def truth(sim: EmoggSimulatorThread) -> dict[tuple[str, int], Any]:
    return sim.call(lambda s: {(e.channel, e.end): e.payload for e in s.service.emitted})


def sessions(sim: EmoggSimulatorThread) -> dict[str, Any]:
    return sim.call(lambda s: s.state()["sessions"])


# ---- the happy path ---------------------------------------------------------------------------


def test_emotions_reach_lsl_equal_to_what_emogg_sent(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str
) -> None:
    sim = emogg_sim(ts_format="mixed")
    settings = emogg_settings(sim, unique_id)
    with SourceThread(settings) as bridge:
        assert isinstance(bridge.source, Source)
        inlets = {s: inlet_for(settings, s)
                  for s in ("emogg-intensity", "emogg-people", "emogg-counts", "emogg-state")}
        bridge.wait_subscribed()
        got = {s: pull(inlets[s], 3) for s in ("emogg-intensity", "emogg-people", "emogg-counts")}
        sim.call(lambda s: s.set_worker_state("paused"))
        sim.call(lambda s: s.set_worker_state("working"))
        states: list[tuple[list[Any], float]] = []
        deadline = time.monotonic() + 20.0
        while [s[0] for s, _ in states][-2:] != ["paused", "working"]:
            assert time.monotonic() < deadline, f"markers so far: {states}"
            states += pull(inlets["emogg-state"], 1)
        info = inlets["emogg-intensity"].info()
    sent = truth(sim)
    offset = epoch_minus_lsl()
    fields = {"emogg-intensity": (INTENSITIES, "intensity"), "emogg-people": (INTENSITIES, "people"),
              "emogg-counts": (COUNTS, None)}
    for stream, samples in got.items():
        channel, field = fields[stream]
        for sample, stamp in samples:
            epoch = stamp + offset
            end = round(epoch)
            assert abs(epoch - end) < 0.05, "stamped with the window's end on the LSL clock"
            payload = sent[(channel, end)]
            expected = [
                float((payload.get(e) or {}).get(field, 0.0) if field else payload.get(e, 0))
                for e in EMOGG_EMOTIONS
            ]
            assert sample == pytest.approx(expected, rel=1e-6, abs=1e-6), (stream, end)
    names = [s[0] for s, _ in states]
    assert names[-2:] == ["paused", "working"]
    assert set(names) <= {"starting", "working", "paused"}
    assert all(a != b for a, b in itertools.pairwise(names))  # a re-sent state is no marker
    assert states[-1][1] >= states[-2][1]
    # Metadata as for our other streams, naming Emogg.
    assert (info.type(), info.nominal_srate(), info.channel_count()) == ("Emotion", 0.0, 7)
    desc = info.desc()
    assert desc.child_value("manufacturer") == "Emogg"
    assert desc.child("acquisition").child_value("source") == "Emogg API"
    assert desc.child_value("emogg_channel") == INTENSITIES
    labels, ch = [], desc.child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        assert ch.child_value("unit") == "normalized" and ch.child_value("type") == "MISC"
        ch = ch.next_sibling()
    assert tuple(labels) == EMOGG_EMOTIONS
    # We created the session, so we stopped it.
    [session] = sessions(sim).values()
    assert (session["state"], session["stoppedBy"], session["name"]) == (
        "finished", "client", "cortex-bridge")
    assert bridge.error is None


def test_following_an_existing_session_leaves_it_running(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str
) -> None:
    sim = emogg_sim()
    parts = urlsplit(sim.api_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    conn.request("POST", "/v1/sessions", json.dumps({"name": "Theirs", "streamUri": STREAM_URI}),
                 {"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    sid = json.loads(conn.getresponse().read())["_id"]
    conn.close()
    settings = emogg_settings(sim, unique_id, session_id=sid, stream_uri="")
    with SourceThread(settings) as bridge:
        bridge.wait_subscribed()
        bridge.wait_until(lambda: bridge.samples("emogg-counts") > 0)
    assert sessions(sim)[sid]["state"] == "active"


# ---- errors -----------------------------------------------------------------------------------


def test_a_refused_token_is_fatal_with_a_clear_line(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emogg_sim()
    secret = uuid.uuid4().hex  # not the unique_id, which names the outlets in the log
    with caplog.at_level(logging.DEBUG), SourceThread(
        emogg_settings(sim, unique_id, token=secret)
    ) as bridge:
        bridge.join()
    assert isinstance(bridge.error, EmoggAuthError)
    text = str(bridge.error)
    assert text.startswith("Emogg refused the API token (401 Invalid token)")
    assert "emogg.token" in text
    assert secret[:8] not in text and secret[:8] not in caplog.text  # not even in part
    assert secret[-8:] not in caplog.text
    assert "streamkey-SECRET" not in caplog.text
    assert sessions(sim) == {}


def test_a_token_revoked_mid_run_is_fatal_on_the_websocket(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emogg_sim()
    with caplog.at_level(logging.INFO), SourceThread(emogg_settings(sim, unique_id)) as bridge:
        bridge.wait_subscribed()
        sim.call(lambda s: s.set_token("rotated"))
        sim.call(lambda s: s.drop_connections())
        bridge.join()
    assert isinstance(bridge.error, EmoggAuthError)
    assert "could not stop Emogg session" in caplog.text  # the REST stop got 401 too
    assert DEFAULT_TOKEN not in caplog.text


def test_503_on_create_is_retried_with_backoff(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emogg_sim(unavailable_creates=2)
    with caplog.at_level(logging.INFO), SourceThread(emogg_settings(sim, unique_id)) as bridge:
        bridge.wait_subscribed()
    creates = sim.call(lambda s: [st for m, p, st in s.service.requests
                                  if (m, p) == ("POST", "/v1/sessions")])
    assert creates == [503, 503, 201]
    retries = [r.getMessage() for r in caplog.records if "503" in r.getMessage()]
    assert len(retries) == 2
    assert "no free worker" in retries[0] and "retrying in" in retries[0]
    assert bridge.error is None


def test_a_dropped_websocket_reconnects_and_resubscribes(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emogg_sim()
    with caplog.at_level(logging.INFO), SourceThread(emogg_settings(sim, unique_id)) as bridge:
        bridge.wait_subscribed()
        bridge.wait_until(lambda: bridge.samples("emogg-intensity") > 0)
        assert sim.call(lambda s: s.drop_connections()) == 1
        bridge.wait_until(lambda: bridge.source is not None and bridge.source.connections == 2)
        bridge.wait_subscribed()
        after = bridge.samples("emogg-intensity")
        bridge.wait_until(lambda: bridge.samples("emogg-intensity") > after + 1)
        conns = sim.call(lambda s: s.state()["connections"])
    [conn] = conns.values()
    assert sorted(conn["subscriptions"]) == sorted(
        ["session_emotions_intensities", "session_emotions_counts", "session_worker_state"])
    assert "connection lost" in caplog.text and "reconnecting in" in caplog.text
    assert len(sessions(sim)) == 1  # the same session throughout


def test_pings_keep_the_connection_within_the_idle_limit(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
) -> None:
    sim = emogg_sim(idle_timeout_s=2.0)
    with SourceThread(emogg_settings(sim, unique_id, ping_interval="0.3")) as bridge:
        bridge.wait_subscribed()
        time.sleep(5.0)  # more than twice the idle limit; a ping every 0.3 s leaves 1.7 s slack
        assert bridge.source is not None and bridge.source.connections == 1


def test_without_pings_the_idle_limit_closes_and_we_reconnect(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emogg_sim(idle_timeout_s=0.5)
    with caplog.at_level(logging.INFO), SourceThread(
        emogg_settings(sim, unique_id, ping_interval="30")
    ) as bridge:
        bridge.wait_subscribed()
        bridge.wait_until(lambda: bridge.source is not None and bridge.source.connections >= 2)
    assert "Inactivity timeout" in caplog.text


# ---- OSC --------------------------------------------------------------------------------------


def _probe_plan() -> Any:
    return build_emogg_plans((INTENSITIES,), EMOGG_EMOTIONS, "1s")[INTENSITIES][0]


def test_the_same_values_over_osc(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str
) -> None:
    osc_module = pytest.importorskip("bridge.outputs.osc")
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from bridge.config import OscSettings

    received: list[tuple[str, tuple[Any, ...]]] = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: received.append((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    osc = osc_module.OscOutput(OscSettings(enabled=True, targets=(f"127.0.0.1:{port}",)),
                               multi_headset=False)
    osc.open()
    assert osc.sinks_for(_probe_plan(), emogg_source_info("probe")), "no OSC for Emogg"
    try:
        sim = emogg_sim()
        with SourceThread(emogg_settings(sim, f"{unique_id}b"), osc) as bridge:
            bridge.wait_subscribed()
            # The data address itself (its labels message goes out first, on start).
            bridge.wait_until(lambda: any(a.endswith("/emogg-intensity") for a, _ in received))
        sent = truth(sim)
    finally:
        osc.close()
        server.shutdown()
        server.server_close()
    values = [args for address, args in received if address.endswith("/emogg-intensity")]
    expected = [
        [float((p.get(e) or {}).get("intensity", 0.0)) for e in EMOGG_EMOTIONS]
        for (channel, _), p in sent.items() if channel == INTENSITIES
    ]
    assert values, sorted({address for address, _ in received})
    for args in values:
        assert any(list(args) == pytest.approx(row, abs=1e-6) for row in expected)


# ---- sources beside the daemon ------------------------------------------------------------------


class _WaitsForStop:
    """A second source that only waits: shows that one source's failure stops the rest."""

    name = "waiter"

    def __init__(self) -> None:
        self.stopped = False

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.stopped = True


def test_run_sources_stops_everything_and_reraises_a_fatal_error(
    emogg_sim: Callable[..., EmoggSimulatorThread], unique_id: str
) -> None:
    from bridge.sources import run_sources

    sim = emogg_sim()
    settings = emogg_settings(sim, unique_id, token="refused")
    fatal: list[str] = []

    async def main() -> _WaitsForStop:
        registry = OutletRegistry()
        waiter = _WaitsForStop()
        emogg = EmoggSource(settings, registry, StatusBoard())
        assert isinstance(emogg, Source) and isinstance(waiter, Source)
        try:
            with pytest.raises(EmoggAuthError):
                await run_sources([emogg, waiter], asyncio.Event(),
                                  on_fatal=lambda: fatal.append("daemon.stop"))
        finally:
            registry.close_all()
        return waiter

    waiter = asyncio.run(main())
    assert waiter.stopped and fatal == ["daemon.stop"]


def test_the_daemon_runs_cortex_and_emogg_side_by_side(
    sim_factory: Callable[..., Any], emogg_sim: Callable[..., EmoggSimulatorThread],
    unique_id: str,
) -> None:
    """``[emogg] enabled`` in the daemon's settings: both sources publish on one registry,
    and stopping the daemon stops the Emogg session it created."""
    from tests.bridge_harness import BridgeThread, bridge_settings

    cortex_sim = sim_factory(headsets=["INSIGHT"], tls=False)
    emogg = emogg_sim()
    settings = bridge_settings(
        cortex_sim.url, None,
        cortex__streams="eeg", lsl__name_template=f"T{unique_id}-{{stream}}",
        emogg__enabled="true", emogg__api_url=emogg.api_url, emogg__ws_url=emogg.ws_url,
        emogg__token=DEFAULT_TOKEN, emogg__stream_uri=STREAM_URI,
        emogg__source_id=f"d{unique_id}", emogg__reconnect_max_delay="1",
    )
    with BridgeThread(settings) as bridge:
        bridge.wait_streaming()
        assert bridge.app is not None
        assert sum(isinstance(s, EmoggSource) for s in bridge.app.sources) == 1
        for source_id in (f"cortex-bridge:d{unique_id}:emogg-intensity",):
            found = pylsl.resolve_byprop("source_id", source_id, 1, 10.0)
            assert found, source_id
            inlet = pylsl.StreamInlet(found[0])
            sample, stamp = inlet.pull_sample(timeout=10.0)
            assert sample is not None and len(sample) == len(EMOGG_EMOTIONS)
            assert abs(stamp - pylsl.local_clock()) < 5.0
            inlet.close_stream()
        eeg = [s for s in pylsl.resolve_byprop("type", "EEG", 0, 5.0)
               if s.name() == f"T{unique_id}-EEG"]
        assert eeg, "the Cortex outlet runs beside Emogg"
    assert bridge.error is None and bridge.exit_code == 0
