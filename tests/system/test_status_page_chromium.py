"""The status page in a real browser: headless Chromium (Debian's package; CI installs it)
loads the page the daemon serves, shows the simulated headsets, and keeps updating over
the WebSocket without a reload. A screenshot is kept as a test artifact
(``build/test-artifacts/status-page.png``, or under ``$TEST_ARTIFACTS``).

Chromium is driven over its DevTools protocol with the ``websockets`` client we already
depend on: navigate, evaluate, screenshot. Its profile is a fresh directory, it makes no
network request of its own (the flags below), and it only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_harness import BridgeThread, settings_for
from websockets.sync.client import ClientConnection, connect

from bridge.simulator import SimulatorConfig, SimulatorThread

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--window-size=1400,1100", "--remote-debugging-port=0",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parents[2] / "build"
                                / "test-artifacts"))


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A minimal DevTools protocol client on one page target."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self._id:
                assert "error" not in message, message
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.2)


@contextlib.contextmanager
def browser(tmp_path: Path) -> Iterator[DevTools]:
    exe = chromium()
    if exe is None:
        if os.environ.get("REQUIRE_RECEIVERS"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def sim(unique_id: str) -> Iterator[SimulatorThread]:
    tag = unique_id[:6].upper()
    config = SimulatorConfig(
        port=0, seed=3, delay_ms=200,
        headsets=[f"epocx:id=EPOCX-{tag}A,status=connected",
                  f"insight:id=INSIGHT-{tag}B,status=connected"],
    )
    thread = SimulatorThread(config).start()
    yield thread
    thread.stop()


@pytest.mark.slow
def test_the_page_renders_the_headsets_and_updates(
    sim: SimulatorThread, unique_id: str, tmp_path: Path
) -> None:
    headsets = [spec.split("id=")[1].split(",")[0] for spec in sim.config.headsets]
    settings = settings_for(sim, cortex__headsets='["*"]', status__name=f"page-{unique_id}",
                            cortex__streams='["eeg", "dev", "mot", "pow", "met"]')
    with BridgeThread(settings) as bridge, browser(tmp_path) as page:
        bridge.wait_streaming()
        assert bridge.app is not None
        server = bridge.app.status.server
        assert server is not None
        host, port = server.bound
        assert host == "127.0.0.1"
        url = f"http://{host}:{port}/"
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        page.wait_for("document.readyState === 'complete'")
        page.evaluate("window.loadedOnce = true")
        # Both headsets, streaming, with their head maps filled from the dev stream.
        for hid in headsets:
            page.wait_for(f"!!document.getElementById('hs-{hid}')")
            page.wait_for(f"document.querySelector('#hs-{hid} .state').textContent"
                          ".startsWith('streaming')")
            page.wait_for(f"document.querySelectorAll('#hs-{hid} circle.sensor').length >= 5")
            page.wait_for(f"document.querySelector('#hs-{hid} .battery').textContent.includes('%')")
        sensors = page.evaluate(f"document.querySelectorAll('#hs-{headsets[0]} circle.sensor').length")
        assert sensors == 14  # EPOC X
        assert page.evaluate("document.getElementById('cortex').textContent") == "connected"
        assert page.evaluate("document.getElementById('conn').textContent") == "live"

        # Updates arrive without a reload: the EEG sample count and the traces grow.
        def eeg_samples() -> int:
            return int(page.evaluate(
                f"lastStatus.headsets.find(h => h.id === {headsets[0]!r}).streams"
                ".find(s => s.stream === 'eeg').samples"))

        before = eeg_samples()
        traced = page.wait_for(f"traces[{headsets[0]!r}] && traces[{headsets[0]!r}].t.length")
        time.sleep(2.5)
        assert eeg_samples() > before + 128
        assert page.evaluate("window.loadedOnce") is True
        assert page.evaluate(f"traces[{headsets[0]!r}].t.length") >= traced
        rate = page.evaluate(f"document.querySelector('#hs-{headsets[0]} .streams tbody')"
                             ".textContent")
        assert "128" in rate  # the nominal rate is shown beside the measured one

        # The same data as JSON, nothing secret in it.
        with urllib.request.urlopen(url + "status.json", timeout=10) as r:
            body = r.read().decode()
        data = json.loads(body)
        assert sorted(h["id"] for h in data["headsets"]) == sorted(headsets)
        assert "cortex-bridge-demo-secret" not in body and "cortex-bridge-demo-secret" not in \
            page.evaluate("document.documentElement.outerHTML")

        time.sleep(1.0)  # let the traces fill a little more for the picture
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        png = ARTIFACTS / "status-page.png"
        png.write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
        assert png.stat().st_size > 10_000

        # The fleet tab: built from the LSL status streams (this bridge's own, here).
        page.evaluate("document.getElementById('tab-fleet').click()")
        name = settings.status.name
        rows = page.wait_for(
            f"[...document.querySelectorAll('#fleettable tbody tr')].map(r => r.textContent)"
            f".filter(t => t.startsWith({name!r})).length >= 2", timeout=20)
        assert rows
        fleet = ARTIFACTS / "status-page-fleet.png"
        fleet.write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
