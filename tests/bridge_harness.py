"""Run the real bridge application on its own event loop in a thread, so a test can read its LSL
outlets with blocking pylsl/mne-lsl calls, as any consumer would."""

from __future__ import annotations

import asyncio
import ssl
import threading
from types import TracebackType

from bridge.app import App
from bridge.config import Settings, load_settings
from bridge.simulator import SimulatorThread


def threaded_client_tls(cafile: str | None) -> ssl.SSLContext:
    """The TLS context for a test's *threaded* WebSocket client (websockets.sync).

    That client reads the socket in one thread while the handshake request is written
    from another; with TLS 1.3 the server's post-handshake session tickets arrive just
    then (our best explanation: one SSL object read and written from two threads at
    once), and about one connection in 1 500 never saw its handshake response (measured against the
    simulator: TLS 1.3, 7 hangs in 9 872 connections; TLS 1.2, 0 in 6 329; the asyncio
    client, which the bridge uses, 0 in 6 283 with TLS 1.3). These clients test the
    JSON-RPC surface, not TLS, so they stay on TLS 1.2; the bridge's own tests use 1.3.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def bridge_settings(url: str, ca_file: str | None, **overrides: str) -> Settings:
    """Settings for a simulator at ``url`` with its default credentials."""
    environ = {
        "CORTEX_BRIDGE_CORTEX__URL": url,
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID": "cortex-bridge-demo",
        "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": "cortex-bridge-demo-secret",
        "CORTEX_BRIDGE_CORTEX__CA_FILE": ca_file or "",
        "CORTEX_BRIDGE_CORTEX__RECONNECT_MAX_DELAY": "1",
        # Tests run side by side: a free port for each bridge's status page.
        "CORTEX_BRIDGE_STATUS__LISTEN": "127.0.0.1:0",
    }
    # The OSC request input on a free port: tests run side by side (default 7403).
    overrides.setdefault("osc__listen", "127.0.0.1:0")
    environ.update({f"CORTEX_BRIDGE_{k.upper()}": v for k, v in overrides.items()})
    return load_settings(None, environ)


def settings_for(sim: SimulatorThread, **overrides: str) -> Settings:
    """Settings for the simulator ``sim``, whichever dialect it speaks: the bridge
    detects it (``cortex.dialect = "auto"``). A Cortex 1.x service's delivery delay
    cannot be seen in its frames, so for 1.x the bridge is told the simulator's delay
    (``cortex.v1_latency``), as a lab would measure its own set-up's."""
    if sim.config.dialect == "v1":
        overrides.setdefault("cortex__v1_latency", str(sim.config.delay_ms / 1000.0))
    return bridge_settings(sim.url, str(sim.ca_pem_path) if sim.ca_pem_path else None,
                           **overrides)


class BridgeThread:
    """``with BridgeThread(settings) as bridge:`` runs ``App.run`` until the block ends."""

    def __init__(self, settings: Settings, secret: str = "cortex-bridge-demo-secret") -> None:
        self.settings = settings
        self.secret = secret
        self.loop = asyncio.new_event_loop()
        self.app: App | None = None
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bridge", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> int:
            self.app = App(self.settings, self.secret)
            self._started.set()
            return await self.app.run()

        try:
            self.exit_code = self.loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test, which asserts on it
            self.error = exc
        finally:
            self._started.set()
            self.loop.close()

    def __enter__(self) -> BridgeThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def wait_streaming(self, timeout: float = 15.0) -> None:
        """Block until at least one stream of one headset is subscribed and bridged."""
        assert self.app is not None
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(self.app.streaming.wait(), timeout), self.loop
        )
        future.result(timeout + 1)

    def stop(self, timeout: float = 10.0) -> None:
        if self.app is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.app.stop)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the daemon did not stop"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
