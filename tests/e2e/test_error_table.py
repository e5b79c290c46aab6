"""Every row of the error/warning table (``bridge/cortex/errors.py``), driven through the
real bridge by the replay server (issue 15).

Parametrised over the table itself, so a new row is a new test case, and a row whose
(method, action) has no driver here fails until it gets one; nothing is exempted. One
bridge run and one replay server serve every non-fatal row (``rig``, module-scoped):
each case answers one request with the row's error (:meth:`ReplayServer.inject`) or
sends the row's warning (:meth:`ReplayServer.broadcast`), makes the bridge ask (warning
11: reopen), and asserts what the row's action means from outside: a retry, a
re-authorization, a wait for the user that the status names, a degraded session, a
dropped or patiently retried stream, the exit code. The marker rows (``injectMarker``,
``stopRecord``) get a run of their own with markers read from an LSL stream
(``marker_rig``): a refused marker counted with Cortex's reason, a record already
stopped at shutdown.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pylsl
import pytest
from bridge_harness import BridgeThread, bridge_settings
from replay import ReplayThread, Transcript

import bridge.cortex.session as session_module
from bridge.cortex.errors import ERRORS, METHOD_RULES, WARNINGS, Action, ErrorRule, WarningEvent
from bridge.markers.injector import RETRY_SECONDS as MARKER_RETRY_SECONDS

TRANSCRIPT = "v2_docs_usb_cable_first.json"  # two headsets (one on USB), com streaming
WIRELESS = "EPOCPLUS-3B9AXXXX"
FOREIGN = "INSIGHT-0000F00D"  # a headset that is not ours, for 100-102/113/31
WAIT_S = 8.0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Rig:
    replay: ReplayThread
    bridge: BridgeThread
    log: Collect
    hid: str
    markers: pylsl.StreamOutlet | None = None  # the stimulus program's marker stream

    def count(self, method: str) -> int:
        return len(self.replay.requests(method))

    def until(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        assert self.bridge._thread.is_alive(), f"the bridge ended: {self.bridge.error!r}"
        assert self.replay.wait_for(predicate, timeout), f"timed out: {what}"

    def lines_since(self, start: int, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.log.records[start:] if r.levelno >= level]

    def on_loop(self, fn: Callable[[], Any]) -> None:
        self.bridge.loop.call_soon_threadsafe(fn)

    @property
    def cortex(self) -> Any:
        assert self.bridge.app is not None
        return self.bridge.app.cortex

    def streaming_again(self, subscribes: int) -> None:
        """The bridge subscribed anew (after ``subscribes`` subscribes) and streams."""
        self.until(lambda: self.count("subscribe") > subscribes and self.cortex.streaming.is_set(),
                   "streaming again")  # fmt: skip

    def kick(self) -> None:
        """Warning 11: the bridge reopens the connection at once (a fresh connect, a fresh
        session), which is how each case gets its injected answer asked for."""
        self.replay.broadcast({"warning": {"code": 11, "message": "Please re-open the "
                                           "connection."}})  # fmt: skip


@contextlib.contextmanager
def running(tmp: Path, marker_stream: str = "") -> Iterator[Rig]:
    """One replay server and the bridge on it, streaming com from the wireless headset;
    with ``marker_stream``, markers on, read from that LSL stream (the rig's ``markers``
    outlet), as a stimulus program sends them."""
    suffix = f"T{time.monotonic_ns() % 100000:05d}"
    handler = Collect()
    logger = logging.getLogger("bridge")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    extra: dict[str, str] = {}
    outlet = None
    if marker_stream:
        extra = {"markers__enabled": "true", "markers__lsl_predicate": f"name='{marker_stream}'"}
        outlet = pylsl.StreamOutlet(pylsl.StreamInfo(
            marker_stream, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
            f"{marker_stream}-source"))  # fmt: skip
    try:
        with ReplayThread(Transcript.load(TRANSCRIPT), tls_dir=Path(tmp) / "tls",
                          suffix=suffix) as replay:  # fmt: skip
            settings = bridge_settings(
                replay.url, replay.ca_file, cortex__streams="com", osc__enabled="false",
                cortex__reconnect_max_delay="0.25",
                lsl__name_template=f"E{suffix}-{{stream}}-{{headset}}", **extra,
            )  # fmt: skip
            with BridgeThread(settings) as bridge:
                bridge.wait_streaming()
                if outlet is not None:
                    assert outlet.wait_for_consumers(15), "the bridge never read our markers"
                yield Rig(replay, bridge, handler, replay.server.headset(WIRELESS), outlet)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        del outlet


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """The shared run: every row that needs no markers."""
    with running(tmp_path_factory.mktemp("table")) as shared:
        yield shared


@pytest.fixture
def marker_rig(tmp_path: Path, unique_id: str) -> Iterator[Rig]:
    """A run of its own with markers on (its record is stopped when it stops)."""
    with running(tmp_path, f"stim-{unique_id}") as own:
        yield own


# ---------------------------------------------------------------------------- errors


def error(rule: ErrorRule) -> dict[str, Any]:
    return {"error": {"code": rule.code, "message": f"{rule.name} (injected)"}}


def drive_retry_at_connect(rig: Rig, rule: ErrorRule) -> None:
    """At connect (``hasAccessRight``): the connection is tried again after a backoff,
    said at WARNING with the code, and streams again."""
    asked, subs, start = rig.count("hasAccessRight"), rig.count("subscribe"), len(rig.log.records)
    rig.replay.inject("hasAccessRight", error(rule))
    rig.kick()
    rig.until(lambda: rig.count("hasAccessRight") >= asked + 2, "asked again")
    rig.streaming_again(subs)
    lines = rig.lines_since(start, logging.DEBUG)
    assert any(str(rule.code) in m and "retrying" in m for m in lines), lines


def drive_wait_for_user(rig: Rig, rule: ErrorRule) -> None:
    """At connect: the status says what the user must do (the row's hint), the bridge
    waits patiently; the user acting (warning 2's hook) ends the wait."""
    subs = rig.count("subscribe")
    rig.replay.inject("hasAccessRight", error(rule))
    rig.kick()
    rig.until(lambda: str(rig.cortex.board.cortex_state).startswith("waiting for the user"),
              "waiting for the user")  # fmt: skip
    state = rig.cortex.board.cortex_state
    assert rule.hint in state, state
    rig.on_loop(rig.cortex._user_acted)  # what warnings 2 and 17 do
    rig.streaming_again(subs)


def drive_reauthorize(rig: Rig, rule: ErrorRule) -> None:
    """A token call (``createSession``) answered with it: authorize again, then the call
    again, and stream."""
    auths, creates, subs = rig.count("authorize"), rig.count("createSession"), rig.count("subscribe")
    rig.replay.inject("createSession", error(rule))
    rig.kick()
    rig.streaming_again(subs)
    assert rig.count("authorize") > auths, "not authorized again"
    assert rig.count("createSession") >= creates + 2


def drive_degrade_activation(rig: Rig, rule: ErrorRule) -> None:
    """``createSession`` active refused for the licence: an open session instead."""
    subs = rig.count("subscribe")
    rig.replay.inject("createSession", error(rule))
    rig.kick()
    rig.streaming_again(subs)
    statuses = [r.params.get("status") for r in rig.replay.requests("createSession")]
    assert statuses[-2:] == ["active", "open"], statuses


def drive_restart_session(rig: Rig, rule: ErrorRule) -> None:
    """``createSession`` failed: the headset's session starts again (after its backoff)."""
    creates, subs = rig.count("createSession"), rig.count("subscribe")
    rig.replay.inject("createSession", error(rule))
    rig.kick()
    rig.until(lambda: rig.count("createSession") >= creates + 2, "session started again", 12.0)
    rig.streaming_again(subs)


def drive_close_refused(rig: Rig, rule: ErrorRule) -> None:
    """``updateSession`` (the bridge only closes) answered with it: nothing is lost, the
    reconnect that closed it goes on."""
    closes, subs = rig.count("updateSession"), rig.count("subscribe")
    rig.replay.inject("updateSession", error(rule))
    rig.on_loop(lambda: rig.cortex.request_reconnect("the configuration was reloaded"))
    rig.until(lambda: rig.count("updateSession") > closes, "closed")
    rig.streaming_again(subs)


@contextlib.contextmanager
def short_retry(seconds: float) -> Iterator[None]:
    """Refused streams asked for again after ``seconds`` (then twice as late each time)
    instead of 30 s, for the sessions started meanwhile."""
    old = session_module.SUBSCRIBE_RETRY_SECONDS
    session_module.SUBSCRIBE_RETRY_SECONDS = seconds
    try:
        yield
    finally:
        session_module.SUBSCRIBE_RETRY_SECONDS = old


def refused(rule: ErrorRule) -> dict[str, Any]:
    """A subscribe answer whose failure item carries the code (cortex_api.md §5.1)."""
    return {"result": {"success": [], "failure": [
        {"streamName": "com", "code": rule.code, "message": f"{rule.name} (injected)"}]}}


def drive_stream_dropped(rig: Rig, rule: ErrorRule) -> None:
    """A subscribe failure item with the code: the stream is not bridged, said once at
    WARNING, and not asked for again in this session; the next session subscribes it
    (an answer, not a fault)."""
    start, subs, creates = len(rig.log.records), rig.count("subscribe"), rig.count("createSession")
    with short_retry(0.2):
        rig.replay.inject("subscribe", refused(rule))
        rig.kick()
        rig.until(lambda: rig.count("subscribe") > subs, "subscribed")
        rig.until(lambda: any("stream com not bridged" in m
                              for m in rig.lines_since(start, logging.WARNING)),
                  "the refusal said")  # fmt: skip
        time.sleep(1.5)  # a retry would come after 0.2 s
    assert rig.count("subscribe") == subs + 1, "a dropped stream was asked for again"
    assert rig.count("createSession") == creates + 1
    subs = rig.count("subscribe")
    rig.kick()
    rig.streaming_again(subs)


def drive_stream_retried(rig: Rig, rule: ErrorRule) -> None:
    """A licence refusal of a stream: said once at WARNING, asked for again in the same
    session, each time twice as late (the licence patience: up to an hour; the first
    gap shortened here), and streamed once Cortex gives it."""
    times = 3
    start, subs = len(rig.log.records), rig.count("subscribe")
    with short_retry(0.5):
        rig.replay.inject("subscribe", refused(rule), times=times)
        rig.kick()
        rig.until(lambda: rig.count("subscribe") > subs + times and rig.cortex.streaming.is_set(),
                  "streaming once the stream is given", 15.0)  # fmt: skip
    asks = rig.replay.requests("subscribe")[subs:]
    assert len(asks) == times + 1, [a.params for a in asks]
    assert len({a.params.get("session") for a in asks}) == 1, "asked in one session"
    gaps = [b.at - a.at for a, b in itertools.pairwise(asks)]
    # Growing: 0.5, 1, 2 s (the watch looks every 0.25 s); a fixed gap would be flat.
    assert all(b > a for a, b in itertools.pairwise(gaps)) and gaps[-1] > 2 * gaps[0], gaps
    said = [m for m in rig.lines_since(start, logging.WARNING) if "stream com unavailable" in m]
    assert len(said) == 1 and str(rule.code) in said[0], said  # once, not per retry


def drive_dialect_probe(rig: Rig, rule: ErrorRule) -> None:
    """No getCortexInfo: the dialect is probed further and said; still v2."""
    start, subs = len(rig.log.records), rig.count("subscribe")
    rig.replay.inject("getCortexInfo", error(rule))
    rig.kick()
    rig.streaming_again(subs)
    found = [m for m in rig.lines_since(start) if m.startswith("Cortex dialect")]
    assert found and "v2" in found[0] and "getCortexInfo does not exist" in found[0], found


def drive_no_clock_sync(rig: Rig, rule: ErrorRule) -> None:
    """No syncWithHeadsetClock: the wall clock, said, and streaming."""
    start, subs = len(rig.log.records), rig.count("subscribe")
    rig.replay.inject("syncWithHeadsetClock", error(rule))
    rig.kick()
    rig.streaming_again(subs)
    assert any("no syncWithHeadsetClock" in m for m in rig.lines_since(start))


def drive_connect_refused(rig: Rig, rule: ErrorRule) -> None:
    """``controlDevice connect`` refused while the headset is only discovered: its
    session starts again after the headset's backoff, and streams once it is there."""
    listed = rig.replay.server.transcript.answers["queryHeadsets"][-1].answer["result"]
    discovered = [{**h, "status": "discovered"} if h["id"] == WIRELESS else h for h in listed]
    subs = rig.count("subscribe")
    connects = len([r for r in rig.replay.requests("controlDevice")
                    if r.params.get("command") == "connect"])  # fmt: skip
    rig.replay.inject("controlDevice", error(rule))
    rig.replay.inject("queryHeadsets", {"result": discovered}, times=3)
    rig.until(lambda: len([r for r in rig.replay.requests("controlDevice")
                           if r.params.get("command") == "connect"]) > connects,
              "asked to connect")  # fmt: skip
    rig.until(lambda: rig.count("subscribe") > subs and rig.cortex.streaming.is_set(),
              "streaming again", 15.0)  # fmt: skip


def drive_marker_refused(rig: Rig, rule: ErrorRule) -> None:
    """``injectMarker`` answered with the code: that marker is refused for good, counted
    with Cortex's reason; it is never sent again, and the next marker is injected once."""
    assert rig.markers is not None and rig.bridge.app is not None
    service = rig.bridge.app.markers
    before, sent = service.counts(), rig.count("injectMarker")
    first, second = f"refused{-rule.code}", f"next{-rule.code}"
    rig.replay.inject("injectMarker", error(rule))
    rig.markers.push_sample([first])
    rig.markers.push_sample([second])
    rig.until(lambda: service.counts()["injected"] > before["injected"], "the next marker")
    time.sleep(MARKER_RETRY_SECONDS + 0.5)  # a retry of the refused one would come by now
    values = [r.params.get("value") for r in rig.replay.requests("injectMarker")[sent:]]
    assert values == [first, second], values
    after = service.counts()
    assert after["rejected"] == before["rejected"] + 1
    assert after["injected"] == before["injected"] + 1
    reason = f"{rule.name} (injected)"  # what Cortex said
    assert f"1 x {reason}" in service.summary(), service.summary()


def drive_record_already_stopped(rig: Rig, rule: ErrorRule) -> None:
    """``stopRecord`` at shutdown answered with it: the shutdown completes (exit 0), says
    the row's hint rather than a failure, tries nothing again, and closes the session."""
    app = rig.bridge.app
    assert app is not None
    rig.until(lambda: any(r not in ("", "?") for r in app.markers.records.values()),
              "a record open")  # fmt: skip
    start = len(rig.log.records)
    rig.replay.inject("stopRecord", error(rule))
    rig.bridge.stop()
    assert rig.bridge.error is None and rig.bridge.exit_code == 0, rig.bridge.error
    methods = rig.replay.methods()
    assert methods.count("stopRecord") == 1, "stopRecord tried again"
    assert "updateSession" in methods[methods.index("stopRecord"):], "the session left open"
    lines = rig.lines_since(start, logging.INFO)
    assert any(rule.hint in m and str(rule.code) in m for m in lines), lines
    assert not any("stopRecord failed" in m for m in lines), lines


CONNECT_ACTIONS = {Action.RETRY, Action.RESTART_SESSION, Action.DEGRADE, Action.DROP_STREAM,
                   Action.IGNORE}  # fmt: skip
# (method, action) -> driver; method "" is a general row (the code, whatever the method).
DRIVERS: dict[tuple[str, Action], Callable[[Rig, ErrorRule], None]] = {
    **{("", action): drive_retry_at_connect for action in CONNECT_ACTIONS},
    ("", Action.WAIT_FOR_USER): drive_wait_for_user,
    ("", Action.REAUTHORIZE): drive_reauthorize,
    ("createSession", Action.DEGRADE): drive_degrade_activation,
    ("createSession", Action.RESTART_SESSION): drive_restart_session,
    ("updateSession", Action.DEGRADE): drive_close_refused,
    ("subscribe", Action.DROP_STREAM): drive_stream_dropped,
    ("subscribe", Action.RETRY): drive_stream_retried,
    ("injectMarker", Action.DROP_STREAM): drive_marker_refused,
    ("stopRecord", Action.IGNORE): drive_record_already_stopped,
    ("getCortexInfo", Action.DEGRADE): drive_dialect_probe,
    ("syncWithHeadsetClock", Action.DEGRADE): drive_no_clock_sync,
    ("controlDevice", Action.RETRY): drive_connect_refused,
}
# Rows whose driver needs markers on: a run of their own (``marker_rig``).
OWN_RUN = {"injectMarker", "stopRecord"}

ROWS: list[tuple[str, ErrorRule]] = [
    *(("", rule) for rule in ERRORS.values() if rule.action is not Action.FATAL),
    *((method, rule) for (method, _), rule in METHOD_RULES.items()),
]


@pytest.mark.parametrize(("method", "rule"), ROWS,
                         ids=[f"{m or 'any'}:{r.code}:{r.action}" for m, r in ROWS])  # fmt: skip
def test_error_row(request: pytest.FixtureRequest, method: str, rule: ErrorRule) -> None:
    driver = DRIVERS.get((method, rule.action))
    assert driver is not None, f"no driver for a {rule.action} row of {method or 'any method'}"
    driver(request.getfixturevalue("marker_rig" if method in OWN_RUN else "rig"), rule)


@pytest.mark.parametrize("rule", [r for r in ERRORS.values() if r.action is Action.FATAL],
                         ids=lambda r: str(r.code))  # fmt: skip
def test_fatal_error_row_ends_the_bridge_with_its_exit_code(
    rule: ErrorRule, tmp_path: Path, unique_id: str
) -> None:
    with ReplayThread(Transcript.load(TRANSCRIPT), tls_dir=tmp_path / "tls",
                      suffix=unique_id[:6]) as replay:  # fmt: skip
        replay.inject("authorize", error(rule))
        settings = bridge_settings(replay.url, replay.ca_file, cortex__streams="com",
                                   osc__enabled="false")  # fmt: skip
        with BridgeThread(settings) as bridge:
            bridge._thread.join(WAIT_S)
            alive = bridge._thread.is_alive()
    assert not alive
    assert getattr(bridge.error, "exit_code", None) == rule.exit_code, bridge.error
    assert str(rule.code) in str(bridge.error)  # one line naming the code (and the fix)


# -------------------------------------------------------------------------- warnings


def warning_message(rig: Rig, code: int, event: WarningEvent) -> Any:
    if event is WarningEvent.SESSION_ENDED:
        sid = rig.replay.call(lambda server: server.current_session())
        return {"behavior": "injected", "sessionId": sid}
    if event is WarningEvent.HEADSET_LOST:
        return {"behavior": "injected", "headsetId": WIRELESS}  # the server renames it
    if event in (WarningEvent.HEADSET_CONNECT_FAILED, WarningEvent.HEADSET_CONNECTED,
                 WarningEvent.HEADSET_SETTINGS):  # fmt: skip
        return {"behavior": "injected", "headsetId": FOREIGN}
    return f"warning {code} (injected)"


RESTARTS = {WarningEvent.SESSION_ENDED, WarningEvent.HEADSET_LOST}


@pytest.mark.parametrize("code", sorted(WARNINGS))
def test_warning_row(rig: Rig, code: int) -> None:
    rule = WARNINGS[code]
    conns, creates = rig.replay.server.connections, rig.count("createSession")
    subs, start = rig.count("subscribe"), len(rig.log.records)
    rig.replay.broadcast({"warning": {"code": code,
                                      "message": warning_message(rig, code, rule.event)}})
    prefix = f"Cortex warning {code} ("
    rig.until(lambda: any(r.getMessage().startswith(prefix) for r in rig.log.records[start:]),
              "the warning said")  # fmt: skip
    said = next(r for r in rig.log.records[start:] if r.getMessage().startswith(prefix))
    assert said.levelno == rule.level and rule.hint in said.getMessage()
    if rule.event is WarningEvent.REOPEN_CONNECTION:
        rig.until(lambda: rig.replay.server.connections > conns, "reopened")
        rig.streaming_again(subs)
    elif rule.event in RESTARTS:
        rig.until(lambda: rig.count("createSession") > creates, "session started again")
        rig.streaming_again(subs)
    else:
        time.sleep(0.2)  # nothing may follow: no reconnect, no new session
        assert rig.replay.server.connections == conns and rig.count("createSession") == creates
        if rule.event is WarningEvent.HEADSET_CONNECT_FAILED:
            assert rig.cortex.connect_failures.pop(FOREIGN, "").startswith(f"warning {code}")


def test_every_row_has_a_case() -> None:
    """The parametrisations above are the table: nothing is left out."""
    cases = {(m, r.code) for m, r in ROWS} | {("", r.code) for r in ERRORS.values()}
    assert cases >= {("", c) for c in ERRORS} | set(METHOD_RULES)
    assert {method for method, _ in METHOD_RULES} >= OWN_RUN  # no stale entry
