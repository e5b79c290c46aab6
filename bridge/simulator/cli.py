"""``cortex-bridge simulate``: run the Cortex simulator from the command line.

``add_arguments`` fills a parser (the main CLI mounts it as a sub-command) and ``run``
starts the simulator and serves until SIGINT/SIGTERM, then exits 0. Every flag is a
field of :class:`SimulatorConfig`; ``docs/simulator.md`` documents them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.config.uris import host_problem
from bridge.errors import ExitCode
from bridge.simulator.config import DEFAULT_CLIENT_SECRET, SimulatorConfig
from bridge.simulator.faults import parse_fault_spec
from bridge.simulator.headsets import MET_LAYOUTS, parse_headset_spec
from bridge.simulator.quirks import QUIRKS, parse_quirk
from bridge.simulator.server import Simulator
from bridge.simulator.signals import parse_signal
from bridge.simulator.v1_wire import V1_PORT

log = logging.getLogger("bridge.simulator")


def _response_delay(text: str) -> tuple[str, float]:
    method, eq, ms = text.partition("=")
    if not eq or not method:
        raise argparse.ArgumentTypeError("expected METHOD=MS, e.g. queryHeadsets=500")
    try:
        value = float(ms)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad milliseconds {ms!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"bad milliseconds {ms!r} (a number >= 0)")
    return method, value


def _bounded(cast: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)`` within ``[low, high]`` and finite, else a usage
    error (exit 2, one line) instead of a traceback when the simulator starts."""

    def convert(text: str) -> Any:
        try:
            value = cast(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return convert


port_number = _bounded(int, 0, 65535, "a port from 0 to 65535 (0: any free port)")
seconds = _bounded(float, 0.0, 1e9, "a number of seconds >= 0")
milliseconds = _bounded(float, 0.0, 1e12, "a number of milliseconds >= 0")
count = _bounded(int, 0, 10**9, "a whole number >= 0")
seed = _bounded(int, 0, 2**32 - 1, "a seed from 0 to 4294967295")
offset_seconds = _bounded(float, -1e9, 1e9, "a number of seconds")


def host_name(text: str) -> str:
    """An address or host name to bind: checked here, not by a traceback from the
    resolver (a label of 300 characters)."""
    problem = host_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """Wrap a spec parser so argparse reports its ValueError as a usage error."""

    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's flags to ``parser``."""
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", type=host_name,
                     help="address to bind (default 127.0.0.1)")
    net.add_argument(
        "--port",
        type=port_number,
        default=None,
        help="port (default 6868 as Cortex, 54321 as Cortex 1.x with --dialect v1; 0 = any free port)",
    )
    net.add_argument(
        "--dialect",
        choices=["v2", "v1"],
        default="v2",
        help="speak Cortex 2+ (v2, default) or the Cortex 1.x API (v1: _auth tokens, IED_* columns)",
    )
    net.add_argument("--no-tls", action="store_true", help="serve plain ws:// instead of wss://")
    net.add_argument(
        "--ca-out",
        type=Path,
        metavar="PATH",
        help="write the CA certificate (PEM) here for clients to trust",
    )
    net.add_argument(
        "--tls-dir",
        type=Path,
        metavar="DIR",
        help="keep the CA and server certificate in DIR and reuse them",
    )

    hs = parser.add_argument_group("headsets and signals")
    hs.add_argument(
        "--headset", action="append", dest="headsets", metavar="SPEC", type=_checked(parse_headset_spec),
        help="virtual headset: insight | epocx | flex | mn8, with options "
        "':rate=256,mems=64,id=EPOCX-12345678,status=connected,motion=gyro' (repeatable; default epocx)",
    )  # fmt: skip
    hs.add_argument("--seed", type=seed, help="make ids, signals and actions reproducible")
    hs.add_argument(
        "--signal", default="realistic", type=_checked(parse_signal),
        help="EEG: 'realistic' (alpha + 1/f noise) or 'sine:FREQ[:AMPLITUDE_UV]'",
    )  # fmt: skip
    hs.add_argument(
        "--met-layout",
        choices=list(MET_LAYOUTS),
        default="current",
        help="performance-metric column generation",
    )
    hs.add_argument(
        "--flood",
        type=count,
        default=0,
        metavar="N",
        help="send the first N eeg frames of each subscription as fast as possible",
    )

    auth = parser.add_argument_group("application, user and licence")
    auth.add_argument("--client-id", default=SimulatorConfig.client_id, help="accepted client id")
    auth.add_argument(
        "--client-secret", default=SimulatorConfig.client_secret, help="accepted client secret"
    )
    auth.add_argument(
        "--access", choices=["granted", "prompt", "reject"], default="granted",
        help="app approval: already granted; 'prompt' = warning 9 after requestAccess; 'reject' = warning 10",
    )  # fmt: skip
    auth.add_argument(
        "--approval-delay",
        type=seconds,
        default=2.0,
        metavar="S",
        help="seconds until the virtual user answers requestAccess",
    )
    auth.add_argument(
        "--logged-out",
        action="store_true",
        help="no user logged in to the Launcher (authorize fails)",
    )
    auth.add_argument(
        "--token-lifetime",
        type=seconds,
        default=259_200.0,
        metavar="S",
        help="token lifetime (default 72 h, as observed)",
    )
    auth.add_argument(
        "--no-licence",
        "--no-license",
        dest="no_licence",
        action="store_true",
        help="sessions cannot be activated (-32019)",
    )
    auth.add_argument(
        "--licence-scopes",
        default="eeg,pm",
        metavar="LIST",
        help="licence scopes: eeg (raw EEG), pm (2 Hz metrics); '' for none",
    )
    auth.add_argument(
        "--eula-not-accepted",
        action="store_true",
        help="the user has not accepted the EULA (-32041; v1: until acceptLicense)",
    )
    auth.add_argument(
        "--quirk", action="append", dest="quirks", default=[], type=_checked(parse_quirk),
        metavar="NAME", help=f"reproduce a documented real-Cortex situation (repeatable): {', '.join(QUIRKS)}",
    )  # fmt: skip
    auth.add_argument(
        "--state-dir", type=Path, metavar="DIR",
        help="keep each user's profiles, records and subjects here across runs (default: in memory)",
    )  # fmt: skip
    auth.add_argument(
        "--training-outcomes", default="succeeded", metavar="LIST",
        help="outcome of each training in turn, cycled: succeeded,failed (default succeeded)",
    )  # fmt: skip
    auth.add_argument(
        "--cloud-records", type=count, default=1, metavar="N",
        help="records of the user made on another computer, not downloaded here (default 1)",
    )  # fmt: skip
    auth.add_argument(
        "--post-processing", type=seconds, default=1.0, metavar="S",
        help="seconds from stopRecord to warning 30 (warning 18 half-way; default 1)",
    )  # fmt: skip
    auth.add_argument(
        "--debit-required",
        action="store_true",
        help="activation consumes sessions debited by authorize's 'debit'",
    )

    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--scan-delay",
        type=seconds,
        default=20.0,
        metavar="S",
        help="controlDevice refresh -> warning 142 (default 20)",
    )
    timing.add_argument(
        "--connect-delay",
        type=seconds,
        default=1.0,
        metavar="S",
        help="controlDevice connect -> connected + warning 104",
    )
    timing.add_argument(
        "--power-off-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="headset off -> warning 103 (default 30)",
    )
    timing.add_argument(
        "--marker-window",
        type=seconds,
        default=60.0,
        metavar="S",
        help="markers older than this get -32115",
    )
    timing.add_argument(
        "--training-seconds",
        type=seconds,
        default=8.0,
        metavar="S",
        help="training start -> *_Succeeded",
    )
    timing.add_argument(
        "--response-delay", action="append", type=_response_delay, default=[], metavar="METHOD=MS",
        help="answer METHOD this much later (repeatable), so responses overtake each other",
    )  # fmt: skip

    fault = parser.add_argument_group("faults")
    fault.add_argument(
        "--delay-ms",
        type=milliseconds,
        default=0.0,
        metavar="MS",
        help="deliver data this late after its sample time (real Cortex: ~200)",
    )
    fault.add_argument(
        "--clock-offset",
        type=offset_seconds,
        default=0.0,
        metavar="S",
        help="run the service clock this far from the system clock",
    )
    fault.add_argument(
        "--fault", action="append", dest="faults", default=[], metavar="SPEC", type=_checked(parse_fault_spec),
        help="schedule a fault: KIND[:key=value,...][@SECONDS], e.g. 'stall:seconds=3@10' (repeatable)",
    )  # fmt: skip
    fault.add_argument(
        "--control",
        action="store_true",
        help="accept simulator.state / simulator.fault on the WebSocket",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (DEBUG logs every request's method, never its parameters)",
    )


def default_port(dialect: str) -> int:
    """Cortex's port for the dialect: 6868 (Cortex 2+) or 54321 (Cortex 1.x)."""
    return V1_PORT if dialect == "v1" else 6868


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    scopes = tuple(s.strip() for s in str(args.licence_scopes).split(",") if s.strip())
    return SimulatorConfig(
        host=args.host,
        port=args.port if args.port is not None else default_port(args.dialect),
        dialect=args.dialect,
        eula_accepted=not args.eula_not_accepted,
        tls=not args.no_tls,
        ca_out=args.ca_out,
        tls_dir=args.tls_dir,
        headsets=list(args.headsets or ["epocx"]),
        seed=args.seed,
        signal=args.signal,
        met_layout=args.met_layout,
        client_id=args.client_id,
        client_secret=args.client_secret,
        user_logged_in=not args.logged_out,
        access=args.access,
        approval_delay_s=args.approval_delay,
        token_lifetime_s=args.token_lifetime,
        licence=not args.no_licence,
        licence_scopes=scopes,
        debit_required=args.debit_required,
        scan_delay_s=args.scan_delay,
        connect_delay_s=args.connect_delay,
        power_off_timeout_s=args.power_off_timeout,
        marker_window_s=args.marker_window,
        training_duration_s=args.training_seconds,
        delay_ms=args.delay_ms,
        clock_offset_s=args.clock_offset,
        response_delays_ms=dict(args.response_delay),
        flood=args.flood,
        control=args.control,
        faults=list(args.faults),
        quirks=list(args.quirks),
        state_dir=args.state_dir,
        training_outcomes=_outcomes(args.training_outcomes),
        cloud_records=args.cloud_records,
        post_processing_s=args.post_processing,
    )


def _outcomes(text: str) -> tuple[str, ...]:
    outcomes = tuple(o.strip() for o in text.split(",") if o.strip())
    bad = [o for o in outcomes if o not in ("succeeded", "failed")]
    if bad or not outcomes:
        raise ValueError(f"--training-outcomes: use succeeded/failed, not {bad or text!r}")
    return outcomes


def _banner(sim: Simulator) -> str:
    cfg = sim.config
    secret = (
        cfg.client_secret
        if cfg.client_secret == DEFAULT_CLIENT_SECRET
        else "(as given with --client-secret)"
    )
    lines = [f"Cortex simulator listening on {sim.url}"]
    if cfg.dialect != "v2":
        lines.append(f"  dialect:        {cfg.dialect} (Cortex 1.x API)")
    if sim.ca_pem_path is not None:
        lines.append(f"  CA certificate: {sim.ca_pem_path}")
    lines += [f"  client id:      {cfg.client_id}", f"  client secret:  {secret}"]
    for h in sim.service.headsets:
        lines.append(f"  headset:        {h.id} ({h.model.key}, {h.eeg_rate} Hz EEG, {h.status})")
    lines.append(
        f"  control:        {'simulator.* methods enabled' if cfg.control else 'off (--control to enable)'}"
    )
    if cfg.seed is not None:
        lines.append(f"  seed:           {cfg.seed}")
    return "\n".join(lines)


async def _serve(sim: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    try:
        print(_banner(sim), flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad settings, 1 otherwise."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logging.getLogger("bridge.simulator").setLevel(args.log_level)
    try:
        sim = Simulator(config_from_args(args))
    except (ValueError, OSError) as exc:  # a bad setting, or a --state-dir it cannot use
        print(f"cortex-bridge simulate: {exc}", file=sys.stderr)
        return int(ExitCode.CONFIG)
    try:
        asyncio.run(_serve(sim))
    except OSError as exc:
        print(
            f"cortex-bridge simulate: cannot listen on {args.host}:{sim.config.port}: {exc}",
            file=sys.stderr,
        )
        return int(ExitCode.FAILURE)
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.simulator", description="Emotiv Cortex simulator"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
