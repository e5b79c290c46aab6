"""Fuzzing the command line: any arguments give exit 0 or a usage/one-line error with
exit 2 (or 1 where a command documents it), never a traceback (issue 16).

Options are read from the parsers themselves (the main one and the simulators'
``add_arguments``), so a new option is fuzzed without a change here. What would start
something (the daemon, the demo, a simulator's server, the benchmarks) is stood in for;
what the real command does with its arguments before that (the simulators build their
configuration) runs for real, in a scratch directory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import cli
from bridge.config import ENV_PREFIX
from bridge.errors import ExitCode
from bridge.simulator import cli as sim_cli
from bridge.simulator.emogg import cli as emogg_cli


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, list[str]]]:
    """``(option, its choices)`` for every optional argument of ``parser``."""
    found: list[tuple[str, list[str]]] = []
    for action in parser._actions:
        for option in action.option_strings:
            if option in ("-h", "--help", "--version"):
                continue
            found.append((option, [str(c) for c in action.choices or ()]))
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _mounted(add_arguments: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


COMMANDS = _subparsers(cli.build_parser())
OPTIONS: dict[str, list[tuple[str, list[str]]]] = {
    name: _options(parser) for name, parser in COMMANDS.items()
}
OPTIONS["simulate"] = _options(_mounted(sim_cli.add_arguments))
OPTIONS["simulate-emogg"] = _options(_mounted(emogg_cli.add_arguments))

VALUES = st.one_of(
    st.sampled_from([
        "0", "1", "-1", "65535", "65536", "1e300", "inf", "nan", "-inf", "0.5", "", " ",
        "toaster", "epocx", "epocx:rate=256", "insight:rate=0", "sine:10", "sine:nan",
        "stall:seconds=3@10", "stall:seconds=nan@1", "x=5", "x=nan", "/dev/null", "/dev/zero",
        "a" * 300, "::1", "[::1]", "localhost", "succeeded", "failed,", "DEBUG", "debug",
    ]),
    st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
            max_size=20),
)


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from([*OPTIONS, "nonsense", ""]))
    argv = [command] if command else []
    options = OPTIONS.get(command, [])
    for _ in range(draw(st.integers(0, 4))):
        if options and draw(st.integers(0, 5)):
            option, choices = draw(st.sampled_from(options))
            argv.append(option)
            if draw(st.integers(0, 4)):
                argv.append(draw(st.sampled_from(choices)) if choices and draw(st.booleans())
                            else draw(VALUES))
        else:
            argv.append(draw(VALUES))
    return argv


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing starts: the daemon, check, demo and bench return 0; the Cortex simulator
    builds its configuration and then serves nothing; the Emogg simulator builds its."""

    def fake(*_args: Any, **_kwargs: Any) -> int:
        return 0

    async def serve_nothing(_sim: Any) -> None:
        return None

    def emogg_run(args: argparse.Namespace) -> int:
        emogg_cli.EmoggSimulator(emogg_cli.config_from_args(args))
        return 0

    real_load = cli._load

    def load(module: str, attr: str, command: str) -> Callable[..., Any]:
        if module == "bridge.simulator.emogg.cli" and attr == "run":
            return emogg_run
        if module.startswith("bridge.simulator"):
            return real_load(module, attr, command)
        return fake

    monkeypatch.setattr(cli, "_load", load)
    monkeypatch.setattr(sim_cli, "_serve", serve_nothing)
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv(ENV_PREFIX + "CORTEX__CLIENT_ID", "fuzz")
    monkeypatch.setenv(ENV_PREFIX + "CORTEX__CLIENT_SECRET", "fuzz")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_any_command_line_is_ok_or_a_clear_error(
    argv: list[str], stand_ins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert code in (ExitCode.OK, ExitCode.CONFIG), (argv, code, err)
    if code == ExitCode.CONFIG:
        assert err.strip(), argv


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--headset", "toaster"], "argument --headset: unknown headset model 'toaster'"),
        (["demo", "--duration", "inf"], "argument --duration: must be a finite number"),
        (["simulate", "--port", "65536"], "argument --port: expected a port from 0 to 65535"),
        (["simulate", "--delay-ms", "nan"], "argument --delay-ms: expected a number of "
         "milliseconds >= 0"),
        (["simulate", "--fault", "stall:seconds=1@-1"], "bad time '-1' after '@'"),
        (["simulate-emogg", "--ws-port", "70000"], "argument --ws-port: expected a port"),
        (["simulate", "--host", "a" * 300], "argument --host: the host name is 300 characters"),
        (["check", "--config", "a" * 300], "cannot read: File name too long"),
    ],
)
def test_named_mistakes(
    argv: list[str], message: str, stand_ins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_a_state_directory_it_cannot_use_is_one_line(
    stand_ins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["simulate", "--state-dir", "/dev/null"]) == ExitCode.CONFIG
    assert capsys.readouterr().err.splitlines() == [
        "cortex-bridge simulate: [Errno 20] Not a directory: '/dev/null/cortex-bridge-user'"
    ]
