"""The ``cortex-bridge`` command: ``run``, ``check``, ``list``, ``init``, ``install-service``,
``demo``, ``simulate``, ``bench``.

Operator mistakes end in one clear line per problem on stderr and a documented exit code
(:class:`~bridge.errors.ExitCode`), never a traceback: every :class:`BridgeError` is
caught here, Ctrl-C ends quietly with 130, and argparse usage errors exit 2.

The application, demo, simulator and benchmark modules are imported only by the command
that needs them, so ``--help`` and ``check`` stay fast and a module that is missing from
an installation breaks only its own command (with a one-line message, exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bridge import __version__
from bridge.config import (
    Settings,
    apply_overrides,
    load_settings,
    permission_warnings,
    preflight,
)
from bridge.errors import BridgeError, ExitCode
from bridge.logfmt import formatter_for

PROG = "cortex-bridge"
LOG_LEVELS = ("debug", "info", "warning", "error")
EXIT_INTERRUPTED = int(ExitCode.INTERRUPTED)  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`

log = logging.getLogger("bridge.cli")

Handler = Callable[[argparse.Namespace], int]


# --- logging --------------------------------------------------------------------------------


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is *now* (pytest and embedders replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(level: str) -> None:
    """Root logging to stderr with time, level and logger name, or with journald's
    priority prefixes when stderr is the journal (:mod:`bridge.logfmt`).

    Idempotent: a second call only changes the level, so ``main`` can run repeatedly
    in one process (tests) without duplicating lines.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    # websockets logs every frame at debug level, each with the frame's first and last
    # 24 characters: the tail of the client secret in authorize, of the token in each
    # answer. Never below INFO, whatever the level (our connection logs requests redacted).
    logging.getLogger("websockets").setLevel(max(logging.INFO, root.level))
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(formatter_for(sys.stderr))  # journald: <N> priority prefixes
        root.addHandler(handler)


# --- lazy command targets -------------------------------------------------------------------


def _load(module_name: str, attr: str, command: str) -> Callable[..., Any]:
    """``module_name.attr``, imported only when its command runs, so that one command
    neither pays for nor fails on the imports of another.

    A missing dependency (an optional package, a broken install) becomes one clear
    :class:`BridgeError` instead of a traceback. Tests replace this function to stand in
    for a command's target.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise BridgeError(
            f"{command}: the Python module {missing!r} is missing; "
            "reinstall cortex-bridge with its dependencies"
        ) from None
    target: Callable[..., Any] = getattr(module, attr)
    return target


def _finish(result: object) -> int:
    """Run a coroutine to completion if the target returned one; its int is the exit code."""
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    if result is None:
        return int(ExitCode.OK)
    if isinstance(result, int):
        return int(result)
    raise TypeError(f"command returned {result!r}, not an exit code")


# --- settings for run/check -----------------------------------------------------------------


def _settings_for(args: argparse.Namespace) -> Settings:
    """Load, apply ``--log-level``, start logging, warn about exposed secrets, preflight."""
    config: Path | None = args.config
    settings = load_settings(config)
    if args.log_level:
        settings = apply_overrides(settings, {"log.level": args.log_level})
    configure_logging(settings.log.level)
    for warning in permission_warnings(settings, config):
        log.warning("%s", warning)
    preflight(settings)
    return settings




# --- commands -------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_for(args)
    run = _load("bridge.app", "run", "run")
    # SIGHUP reloads: the same loading (file, environment, --log-level, preflight) again,
    # for a target that takes it.
    reload: Callable[[], Settings] = lambda: _settings_for(args)  # noqa: E731
    if "reload" in inspect.signature(run).parameters:
        return _finish(run(settings, reload=reload))
    return _finish(run(settings))


def _cmd_check(args: argparse.Namespace) -> int:
    settings = _settings_for(args)
    check = _load("bridge.cortex.check", "check", "check")
    return _finish(check(settings, activate=True) if args.activate else check(settings))


def _cmd_list(args: argparse.Namespace) -> int:
    settings = _settings_for(args)
    return _finish(_load("bridge.cortex.listing", "list_headsets", "list")(settings))


def _cmd_init(args: argparse.Namespace) -> int:
    init = _load("bridge.install.commands", "init", "init")
    return _finish(init(args.profile, args.output, client_id=args.client_id, host=args.host,
                        ca_file=args.ca_file, force=args.force))


def _cmd_install_service(args: argparse.Namespace) -> int:
    install = _load("bridge.install.commands", "install_service", "install-service")
    return _finish(install(
        args.config, profile=args.profile, instance=args.instance,
        secret_file=args.secret_file, ca_file=args.ca_file, root=args.root,
        dry_run=args.dry_run, force=args.force,
    ))


def _cmd_demo(args: argparse.Namespace) -> int:
    configure_logging(args.log_level or "info")
    run_demo = _load("bridge.demo", "run_demo", "demo")
    return _finish(run_demo(duration=args.duration, headsets=args.headsets))


def _run_mounted(module: str, command: str, description: str, argv: list[str]) -> int:
    """A simulator command: it owns its options, parsed here so its import stays lazy."""
    add_arguments = _load(module, "add_arguments", command)
    run = _load(module, "run", command)
    parser = argparse.ArgumentParser(prog=f"{PROG} {command}", description=description)
    add_arguments(parser)
    try:
        sim_args = parser.parse_args(argv)
    except SystemExit as exc:
        return _system_exit_code(exc)
    configure_logging(getattr(sim_args, "log_level", None) or "info")
    return _finish(run(sim_args))


def _cmd_simulate(args: argparse.Namespace) -> int:
    return _run_mounted("bridge.simulator.cli", "simulate",
                        "Run a Cortex-compatible simulator.", args.sim_argv)


def _cmd_simulate_emogg(args: argparse.Namespace) -> int:
    return _run_mounted("bridge.simulator.emogg.cli", "simulate-emogg",
                        "Run an Emogg API simulator (REST + WS).", args.sim_argv)


def _cmd_bench(args: argparse.Namespace) -> int:
    configure_logging(args.log_level or "info")
    return _finish(_load("bridge.bench", "main", "bench")(args))


def _cmd_status(args: argparse.Namespace) -> int:
    configure_logging(args.log_level or "warning")
    return _finish(_load("bridge.status.lsl", "fleet_command", "status")(
        wait=args.wait, as_json=args.json))


# --- parser ---------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text!r}")
    return value


def _headset_spec(text: str) -> str:
    """A demo headset as the simulator reads it (``epocx:rate=256``), checked while the
    command line is parsed so that ``--headset toaster`` is a usage error, not a
    traceback from the simulator (imported only when the option is given)."""
    from bridge.simulator.headsets import parse_headset_spec

    try:
        parse_headset_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="FILE",
        help="TOML config file (without it: defaults and CORTEX_BRIDGE_* variables only)",
    )
    _add_log_level(parser, "overrides log.level")


def _add_log_level(parser: argparse.ArgumentParser, extra: str = "default info") -> None:
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, type=str.lower, help=f"log verbosity ({extra})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line; each subcommand stores its handler in ``args.handler``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bridge the Emotiv Cortex service to Lab Streaming Layer and OSC.",
        epilog="Exit codes: 0 ok, 1 failure, 2 bad command line or configuration, "
        "3 credentials refused, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bridge (the systemd service)")
    _add_config(run)
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check", help="validate the config, connect once and report what would be bridged"
    )
    _add_config(check)
    check.add_argument(
        "--activate", action="store_true",
        help="open an activated session, as run does (it may count against the licence); "
             "without it check opens an unactivated one",
    )
    check.set_defaults(handler=_cmd_check)

    listing = commands.add_parser(
        "list", help="the headsets Cortex knows: status, connection, battery, contact quality"
    )
    _add_config(listing)
    listing.set_defaults(handler=_cmd_list)

    profiles = ("local", "remote", "openvibe", "artist")  # bridge.install.configfile.PROFILES
    init = commands.add_parser(
        "init", help="write a commented config file for a common case",
        description="Write a commented config file. Profiles: local (Cortex on this "
        "machine), remote (Cortex on another machine: a Linux box), openvibe (names and "
        "streams for OpenViBE), artist (OSC for Max, Pure Data, TouchDesigner).",
    )
    init.add_argument("profile", nargs="?", default="local", choices=profiles,
                      help="the case to start from (default: local)")
    init.add_argument("-o", "--output", default="cortex-bridge.toml", metavar="FILE",
                      help="where to write (default: cortex-bridge.toml; - for stdout)")
    init.add_argument("--client-id", metavar="ID", help="your Cortex application's client id")
    init.add_argument("--host", metavar="HOST",
                      help="Cortex's host name (remote: emotiv-cortex.remote) or a wss:// URL")
    init.add_argument("--ca-file", metavar="PEM", help="Emotiv's rootCA.pem (cortex.ca_file)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(handler=_cmd_init)

    service = commands.add_parser(
        "install-service",
        help="install the systemd unit, the config, the CA and the client secret",
        description="Install /etc/systemd/system/cortex-bridge.service (or the template "
        "for --instance), /etc/cortex-bridge/<name>.toml (0644), "
        "/etc/cortex-bridge/emotiv-rootCA.pem (0644) and the credential "
        "/etc/cortex-bridge/client_secret (0600), then systemctl daemon-reload.",
    )
    service.add_argument("--config", "-c", type=Path, metavar="FILE",
                         help="the config to install (default: the --profile template)")
    service.add_argument("--profile", default="remote", choices=profiles,
                         help="without --config: the template to install (default: remote)")
    service.add_argument("--instance", metavar="NAME",
                         help="install cortex-bridge@NAME with /etc/cortex-bridge/NAME.toml")
    service.add_argument("--secret-file", metavar="FILE",
                         help="the client secret (- reads standard input)")
    service.add_argument("--ca-file", type=Path, metavar="PEM",
                         help="Emotiv's rootCA.pem, installed as cortex.ca_file")
    service.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                         help="install below DIR instead of / (a scratch root, an image)")
    service.add_argument("--dry-run", action="store_true",
                         help="print what would be installed, change nothing")
    service.add_argument("--force", action="store_true",
                         help="replace an existing, different config")
    service.set_defaults(handler=_cmd_install_service)

    demo = commands.add_parser("demo", help="the built-in simulator bridged to LSL")
    demo.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds")
    demo.add_argument(
        "--headset",
        dest="headsets",
        action="append",
        type=_headset_spec,
        metavar="SPEC",
        help="a simulated headset (repeat for several; default: one EPOC X)",
    )
    _add_log_level(demo)
    demo.set_defaults(handler=_cmd_demo)

    simulate = commands.add_parser(
        "simulate",
        help="run a Cortex-compatible simulator (see: simulate --help)",
        add_help=False,
        prefix_chars="\0",  # every token, --help included, goes to the simulator's parser
    )
    simulate.add_argument("sim_argv", nargs=argparse.REMAINDER)
    simulate.set_defaults(handler=_cmd_simulate)

    simulate_emogg = commands.add_parser(
        "simulate-emogg",
        help="run an Emogg API simulator (see: simulate-emogg --help)",
        add_help=False,
        prefix_chars="\0",
    )
    simulate_emogg.add_argument("sim_argv", nargs=argparse.REMAINDER)
    simulate_emogg.set_defaults(handler=_cmd_simulate_emogg)

    status = commands.add_parser(
        "status", help="every bridge on the LSL network: one table of hosts and headsets"
    )
    status.add_argument("--wait", type=_positive_float, default=2.0, metavar="S",
                        help="seconds to look for bridges (default 2)")
    status.add_argument("--json", action="store_true", help="their status as JSON")
    _add_log_level(status)
    status.set_defaults(handler=_cmd_status)

    bench = commands.add_parser("bench", help="measure throughput and latency")
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    bench.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable): osc_encoding, throughput, cost, "
        "latency, timestamps, status_page",
    )
    bench.add_argument(
        "--quick", action="store_true", help="short smoke run (rough figures, 1-2 minutes)"
    )
    _add_log_level(bench)
    bench.set_defaults(handler=_cmd_bench)
    return parser


# --- entry point ----------------------------------------------------------------------------


def _system_exit_code(exc: SystemExit) -> int:
    """argparse exits 0 after --help/--version and 2 on a usage error."""
    code = exc.code
    if code is None:
        return int(ExitCode.OK)
    return code if isinstance(code, int) else int(ExitCode.FAILURE)


def _report(exc: BridgeError) -> None:
    """``cortex-bridge: <line>`` for each line of the message, nothing else."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _system_exit_code(exc)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required", file=sys.stderr)
        return int(ExitCode.CONFIG)
    try:
        return handler(args)
    except BridgeError as exc:
        _report(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away (``cortex-bridge check | head``): stop quietly.

    Standard output is pointed at /dev/null so that the interpreter's final flush does
    not fail a second time; the exit code is the shell's for SIGPIPE, as ``yes | head``.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE
