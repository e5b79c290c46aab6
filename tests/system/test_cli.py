"""The command line: version, usage errors, exit codes, dispatch, and ``python -m bridge``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge import __version__, cli
from bridge.errors import AuthError, BridgeError, ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = '[cortex]\nclient_id = "abc"\nclient_secret = "xyz"\n'


pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(CREDENTIALS)
    path.chmod(0o600)
    return path


def stand_in(monkeypatch: pytest.MonkeyPatch, targets: dict[tuple[str, str], Any]) -> None:
    """Replace the lazily imported command targets named in ``targets``."""
    real = cli._load

    def load(module: str, attr: str, command: str) -> Callable[..., Any]:
        if (module, attr) in targets:
            return targets[(module, attr)]  # type: ignore[no-any-return]
        return real(module, attr, command)

    monkeypatch.setattr(cli, "_load", load)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"cortex-bridge {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["--bogus"],
        ["run", "--bogus"],
        ["run", "--log-level", "loud"],
        ["run", "--config"],
        ["demo", "--duration", "abc"],
        ["demo", "--duration", "0"],
        ["bench", "--json"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "usage: cortex-bridge" in err
    assert "error:" in err and "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "check", "demo", "simulate", "bench"):
        assert command in out


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert cli.main(["run", "--config", str(missing)]) == ExitCode.CONFIG
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"cortex-bridge: config file {missing}: not found\n"


def test_run_awaits_the_daemon_and_returns_its_code(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    async def run(settings: Any) -> int:
        seen.append(settings)
        return 7

    stand_in(monkeypatch, {("bridge.app", "run"): run})
    assert cli.main(["run", "-c", str(config)]) == 7
    assert seen[0].cortex.client_id == "abc"


@pytest.mark.parametrize(
    ("exc", "code", "lines"),
    [
        (
            AuthError("Cortex refused the client id or secret"),
            ExitCode.AUTH,
            ["cortex-bridge: Cortex refused the client id or secret"],
        ),
        (BridgeError("no headset found"), ExitCode.FAILURE, ["cortex-bridge: no headset found"]),
        (
            ConfigError(["a.b: one", "c.d: two"]),
            ExitCode.CONFIG,
            ["cortex-bridge: a.b: one", "cortex-bridge: c.d: two"],
        ),
    ],
)
def test_bridge_errors_become_lines_and_exit_codes(
    exc: BridgeError,
    code: ExitCode,
    lines: list[str],
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def check(settings: Any) -> int:
        raise exc

    stand_in(monkeypatch, {("bridge.cortex.check", "check"): check})
    assert cli.main(["check", "--config", str(config)]) == code
    err = capsys.readouterr().err
    assert err.splitlines() == lines


def test_ctrl_c_exits_130_quietly(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(settings: Any) -> int:
        raise KeyboardInterrupt

    stand_in(monkeypatch, {("bridge.app", "run"): run})
    assert cli.main(["run", "--config", str(config)]) == 130
    assert capsys.readouterr() == ("", "")


def test_demo_passes_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def run_demo(**kwargs: Any) -> int:
        calls.append(kwargs)
        return 0

    stand_in(monkeypatch, {("bridge.demo", "run_demo"): run_demo})
    assert cli.main(["demo"]) == 0
    assert (
        cli.main(["demo", "--duration", "2.5", "--headset", "epocx", "--headset", "insight"]) == 0
    )
    assert calls == [
        {"duration": None, "headsets": None},
        {"duration": 2.5, "headsets": ["epocx", "insight"]},
    ]


def test_simulate_hands_its_arguments_to_the_simulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    got: list[argparse.Namespace] = []

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=6868)
        parser.add_argument("--tls", action="store_true")

    def run(args: argparse.Namespace) -> int:
        got.append(args)
        return 0

    stand_in(
        monkeypatch,
        {
            ("bridge.simulator.cli", "add_arguments"): add_arguments,
            ("bridge.simulator.cli", "run"): run,
        },
    )
    assert cli.main(["simulate", "--port", "7000", "--tls"]) == 0
    assert (got[0].port, got[0].tls) == (7000, True)
    assert cli.main(["simulate"]) == 0
    assert got[1].port == 6868

    assert cli.main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cortex-bridge simulate") and "--port" in out

    assert cli.main(["simulate", "--nope"]) == ExitCode.CONFIG
    assert (
        "cortex-bridge simulate: error: unrecognized arguments: --nope" in capsys.readouterr().err
    )


def test_bench_passes_its_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    got: list[argparse.Namespace] = []

    def main(args: argparse.Namespace) -> int:
        got.append(args)
        return 0

    stand_in(monkeypatch, {("bridge.bench", "main"): main})
    assert cli.main(["bench", "--json", str(tmp_path / "out.json")]) == 0
    assert got[0].json == tmp_path / "out.json"


def test_missing_command_module_is_one_line() -> None:
    with pytest.raises(BridgeError) as info:
        cli._load("no_such_dependency", "main", "bench")
    assert str(info.value) == (
        "bench: the Python module 'no_such_dependency' is missing; "
        "reinstall cortex-bridge with its dependencies"
    )
    assert info.value.exit_code == ExitCode.FAILURE
    assert cli._load("bridge.errors", "BridgeError", "bench") is BridgeError


def test_unavailable_command_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = cli._load
    monkeypatch.setattr(cli, "_load", lambda m, a, c: real("bridge.no_such_module", a, c))
    assert cli.main(["bench"]) == 1
    assert capsys.readouterr().err == (
        "cortex-bridge: bench: the Python module 'bridge.no_such_module' is missing; "
        "reinstall cortex-bridge with its dependencies\n"
    )


def test_python_dash_m_bridge_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: cortex-bridge")
    assert result.stderr == ""


def test_python_dash_m_bridge_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[cortex]\ntls_verify = 'maybe'\n")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CORTEX_BRIDGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == ExitCode.CONFIG
    assert result.stderr == (
        "cortex-bridge: cortex.tls_verify: expected true or false, got 'maybe'\n"
    )
