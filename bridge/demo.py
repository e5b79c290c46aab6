"""``cortex-bridge demo``: the built-in simulator bridged to LSL, nothing to configure.

The simulator runs on its own event loop in a background thread (so its timing does not
depend on the bridge's), with Cortex's realistic ~200 ms delivery delay, and the bridge
connects to it over real TLS with the simulator's CA. Unless ``LSLAPICFG`` is already
set, the demo uses a loopback-only LSL config with the fixed SessionID
``cortex-bridge-demo``, so its streams never leave this machine; it prints the path so
another LSL program can join the demo by using the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bridge.lslconfig import write_loopback_config

DEMO_SESSION_ID = "cortex-bridge-demo"
DEMO_CLIENT_ID = "cortex-bridge-demo"
DEMO_CLIENT_SECRET = "cortex-bridge-demo-secret"
DEMO_DELAY_MS = 200.0


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

    sim_config = SimulatorConfig(
        host="127.0.0.1",
        port=0,
        tls=True,
        headsets=list(headsets or ["epocx"]),
        delay_ms=DEMO_DELAY_MS,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
    )
    with SimulatorThread(sim_config) as sim:
        environ = {
            "CORTEX_BRIDGE_CORTEX__URL": sim.url,
            "CORTEX_BRIDGE_CORTEX__CLIENT_ID": DEMO_CLIENT_ID,
            "CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "CORTEX_BRIDGE_CORTEX__CA_FILE": str(sim.ca_pem_path or ""),
            "CORTEX_BRIDGE_LOG__STATUS_INTERVAL": "5",
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
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, app.stop)
            if duration is not None:
                loop.call_later(duration, app.stop)
            code = await app.run()
            print(app.board.render_table(), file=sys.stderr)
            return code

        return asyncio.run(main())
