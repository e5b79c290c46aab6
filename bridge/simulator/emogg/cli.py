"""``cortex-bridge simulate-emogg``: run the Emogg simulator from the command line.

``add_arguments`` fills a parser (the main CLI mounts it as a sub-command) and ``run``
serves until SIGINT/SIGTERM, then exits 0. Every flag is a field of
:class:`EmoggSimulatorConfig`; ``docs/emogg-simulator.md`` documents them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from bridge.errors import ExitCode
from bridge.simulator.cli import count, host_name, port_number, seconds, seed
from bridge.simulator.emogg.config import DEFAULT_TOKEN, EmoggSimulatorConfig
from bridge.simulator.emogg.server import EmoggSimulator

log = logging.getLogger("bridge.simulator.emogg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Emogg simulator's flags to ``parser``."""
    d = EmoggSimulatorConfig()
    parser.add_argument("--host", default=d.host, type=host_name,
                        help="address to bind (default 127.0.0.1)")
    parser.add_argument("--http-port", type=port_number, default=d.http_port,
                        help=f"REST port (default {d.http_port}; 0 = any free port)")
    parser.add_argument("--ws-port", type=port_number, default=d.ws_port,
                        help=f"WebSocket port (default {d.ws_port}; 0 = any free port)")
    parser.add_argument("--token", default=d.token, help="the one accepted API token")
    parser.add_argument("--seed", type=seed, help="make ids and the audience reproducible")
    parser.add_argument("--faces", type=count, default=d.faces,
                        help=f"people in view of the virtual camera (default {d.faces})")
    parser.add_argument("--idle-timeout", type=seconds, default=d.idle_timeout_s, metavar="S",
                        help="close a WebSocket after S seconds without a message (default 65)")
    parser.add_argument("--worker-start", type=seconds, default=d.worker_start_s, metavar="S",
                        help="seconds from 'starting' to 'working' (default 1)")
    parser.add_argument("--unavailable-creates", type=count, default=0, metavar="N",
                        help="answer the first N session creations with 503")
    parser.add_argument("--ts-format", choices=["iso", "ms", "mixed"], default=d.ts_format,
                        help="event timestamps: ISO strings, epoch ms, or alternating")
    parser.add_argument("--id-echo", choices=["echo", "null", "random"], default=d.id_echo,
                        help="reply ids: echoed, always null, or either")
    parser.add_argument("--sei-zeros", action="store_true",
                        help="list emotions nobody showed in intensity events (as zeros)")
    parser.add_argument("--extra-emotion", default="", metavar="NAME",
                        help="report an eighth, unknown emotion")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        type=str.lower, help="log verbosity (default info)")


def config_from_args(args: argparse.Namespace) -> EmoggSimulatorConfig:
    return EmoggSimulatorConfig(
        host=args.host, http_port=args.http_port, ws_port=args.ws_port, token=args.token,
        seed=args.seed, faces=args.faces, idle_timeout_s=args.idle_timeout,
        worker_start_s=args.worker_start, unavailable_creates=args.unavailable_creates,
        ts_format=args.ts_format, id_echo=args.id_echo, sei_zeros=args.sei_zeros,
        extra_emotion=args.extra_emotion,
    )  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 1 when a port cannot be bound."""
    config = config_from_args(args)
    sim = EmoggSimulator(config)
    try:
        await sim.start()
    except OSError as exc:
        print(f"simulate-emogg: cannot listen on {config.host}: {exc.strerror or exc}",
              file=sys.stderr)
        return int(ExitCode.FAILURE)
    token = config.token if config.token == DEFAULT_TOKEN else "(as given with --token)"
    print(f"Emogg simulator\n  REST API:  {sim.api_url}\n  WebSocket: {sim.ws_url}\n"
          f"  token:     {token}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> int:
    """``python -m bridge.simulator.emogg``: parse, log to stderr, serve."""
    parser = argparse.ArgumentParser(
        prog="python -m bridge.simulator.emogg", description="Run an Emogg API simulator."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return int(ExitCode.OK)
