"""``cortex-bridge demo``: the built-in simulator bridged to LSL and OSC, nothing to configure.

Every simulated headset is bridged (``cortex.headsets = ["*"]`` when there are several:
the default, "the first connected headset", is right for a lab but hid the demo's second
headset). OSC goes to
127.0.0.1:9000 (the patches' port) and to the demo's own listener, which says what
arrives; every few seconds the demo sends a marker to the bridge's OSC marker input and
says when Cortex's echo of it comes back, so the whole marker path is seen working.

The simulator runs on its own event loop in a background thread (so its timing does not
depend on the bridge's), with Cortex's realistic ~200 ms delivery delay, and the bridge
connects to it over real TLS with the simulator's CA. Unless ``LSLAPICFG`` is already
set, the demo uses a loopback-only LSL config with the fixed SessionID
``cortex-bridge-demo``, so its streams never leave this machine; it prints the path so
another LSL program can join the demo by using the same file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.lslconfig import write_loopback_config

DEMO_SESSION_ID = "cortex-bridge-demo"
DEMO_CLIENT_ID = "cortex-bridge-demo"
DEMO_CLIENT_SECRET = "cortex-bridge-demo-secret"
DEMO_DELAY_MS = 200.0
DEMO_OSC_TARGET = "127.0.0.1:9000"  # where patches/cortex-bridge.pd and .maxpat listen
MARKER_EVERY_SECONDS = 4.0
OSC_REPORT_SECONDS = 10.0

log = logging.getLogger("bridge.demo")


def free_udp_port() -> int:
    """A UDP port free on the loopback interface now (for the bridge's marker input)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OscWatch(asyncio.DatagramProtocol):
    """The demo's OSC listener: counts addresses and reports marker echoes."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.sent: dict[int, float] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:  # the bridge bundles the messages of one loop tick (osc.bundle)
            packet = OscPacket(data)
        except Exception:  # junk: count it, the bridge's tests check the bytes
            self.counts["(other)"] += 1
            return
        for timed in packet.messages:
            self._message(timed.message)

    def _message(self, message: OscMessage) -> None:
        self.counts[message.address] += 1
        if message.address.endswith("/marker"):
            label, value, *_ = [*message.params, None, None]
            started = self.sent.pop(value, None) if isinstance(value, int) else None
            took = f" {asyncio.get_running_loop().time() - started:.2f} s after sending" \
                if started is not None else ""
            log.info("marker echoed: OSC %s %r %r%s (also on LSL Emotiv-Markers-<headset>)",
                     message.address, label, value, took)

    def report(self) -> str:
        total = sum(self.counts.values())
        busiest = ", ".join(f"{a} x{n}" for a, n in self.counts.most_common(3))
        self.counts.clear()
        return f"OSC: {total} messages in {OSC_REPORT_SECONDS:g} s to {DEMO_OSC_TARGET} " \
               f"and the demo (busiest: {busiest or 'none yet'}); watch with: oscdump 9000"


async def demo_osc(marker_port: int, watch: OscWatch, sock: socket.socket) -> None:
    """Send ``/marker <n> demo`` every few seconds; report OSC traffic now and then."""
    loop = asyncio.get_running_loop()
    value = 0
    next_report = loop.time() + OSC_REPORT_SECONDS
    while True:
        await asyncio.sleep(MARKER_EVERY_SECONDS)
        value += 1
        builder = OscMessageBuilder("/marker")
        builder.add_arg(value)
        builder.add_arg("demo")
        watch.sent[value] = loop.time()
        sock.sendto(builder.build().dgram, ("127.0.0.1", marker_port))
        log.info("marker sent: OSC /marker %d 'demo' to 127.0.0.1:%d", value, marker_port)
        if loop.time() >= next_report:
            log.info("%s", watch.report())
            next_report = loop.time() + OSC_REPORT_SECONDS


def demo_lsl_config() -> Path:
    """Use ``LSLAPICFG`` if set, else a loopback config with the demo's SessionID."""
    existing = os.environ.get("LSLAPICFG")
    if existing:
        return Path(existing)
    directory = Path(tempfile.gettempdir()) / f"cortex-bridge-demo-{os.getuid()}"
    path = write_loopback_config(directory, DEMO_SESSION_ID)
    os.environ["LSLAPICFG"] = str(path)
    return path


def run_demo(duration: float | None = None, headsets: Sequence[str] | None = None) -> int:
    """Run the simulator and the bridge for ``duration`` seconds (None: until Ctrl-C)."""
    lsl_config = demo_lsl_config()
    # Imported after LSLAPICFG is set: liblsl reads its config on first use.
    from bridge.app import App
    from bridge.config import load_settings
    from bridge.simulator import SimulatorConfig, SimulatorThread
    from bridge.status import TerminalView
    from bridge.supervise import cancel_and_wait

    sim_config = SimulatorConfig(
        host="127.0.0.1",
        port=0,
        tls=True,
        headsets=list(headsets or ["epocx"]),
        delay_ms=DEMO_DELAY_MS,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
    )
    marker_port = free_udp_port()
    watch_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    watch_sock.bind(("127.0.0.1", 0))
    watch_port = watch_sock.getsockname()[1]
    with SimulatorThread(sim_config) as sim, watch_sock:
        environ = {
            "CORTEX_BRIDGE_CORTEX__URL": sim.url,
            "CORTEX_BRIDGE_CORTEX__CLIENT_ID": DEMO_CLIENT_ID,
            "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "CORTEX_BRIDGE_CORTEX__CA_FILE": str(sim.ca_pem_path or ""),
            # Every simulated headset; with one, the default keeps OSC addresses free of
            # the headset id (/emotiv/met), as the patches expect.
            "CORTEX_BRIDGE_CORTEX__HEADSETS": '["*"]' if len(sim_config.headsets) > 1 else "[]",
            "CORTEX_BRIDGE_LOG__STATUS_INTERVAL": "5",
            "CORTEX_BRIDGE_OSC__ENABLED": "true",
            "CORTEX_BRIDGE_OSC__TARGETS": f"{DEMO_OSC_TARGET},127.0.0.1:{watch_port}",
            "CORTEX_BRIDGE_MARKERS__ENABLED": "true",
            "CORTEX_BRIDGE_MARKERS__OSC_INPUT": "true",
            "CORTEX_BRIDGE_MARKERS__OSC_PORT": str(marker_port),
        }
        settings = load_settings(None, environ)
        print(f"cortex-bridge demo: simulator at {sim.url}", file=sys.stderr)
        print(
            f"LSL streams stay on this machine (LSLAPICFG={lsl_config}); run your LSL "
            "program with the same LSLAPICFG to see them. Ctrl-C stops.",
            file=sys.stderr,
        )

        async def main() -> int:
            terminal = TerminalView(sys.stderr) if sys.stderr.isatty() else None
            app = App(settings, DEMO_CLIENT_SECRET, terminal=terminal)
            loop = asyncio.get_running_loop()
            exit_code = app.stop_on_signals()
            if duration is not None:
                loop.call_later(duration, app.stop)
            watch = OscWatch()
            transport, _ = await loop.create_datagram_endpoint(lambda: watch, sock=watch_sock)
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            osc_task = asyncio.create_task(demo_osc(marker_port, watch, sender))
            try:
                code = await app.run()
            finally:
                await cancel_and_wait(osc_task)
                transport.close()
                sender.close()
            print(app.board.render_table(), file=sys.stderr)
            return exit_code(code)

        return asyncio.run(main())
