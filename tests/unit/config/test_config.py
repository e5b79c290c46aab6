"""Configuration: defaults, file + environment, one clear line per problem, secrets kept secret."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import cli
from bridge.config import (
    STREAM_NAMES,
    Settings,
    apply_overrides,
    env_var_name,
    load_settings,
    preflight,
    resolve_client_secret,
    secret_file_warnings,
    setting_keys,
)
from bridge.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
SECRET = "s3cr3t-Value-do-not-print-8c1f"
VALID_CREDENTIALS = f'[cortex]\nclient_id = "abc"\nclient_secret = "{SECRET}"\n'


pytestmark = pytest.mark.usefixtures("clean_bridge_environment")


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a TOML file (mode 0600 unless told) and return its path."""

    def _write(text: str, name: str = "config.toml", mode: int = 0o600) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        return path

    return _write


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace the daemon behind run/check (the config path stays real); records calls."""
    calls: list[Any] = []

    async def fake(settings: Settings) -> int:
        calls.append(settings)
        return 0

    real_load = cli._load

    def load(module: str, attr: str, command: str) -> Callable[..., Any]:
        if module in ("bridge.app", "bridge.cortex.check"):
            return fake
        return real_load(module, attr, command)

    monkeypatch.setattr(cli, "_load", load)
    return calls


def problems_of(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    return info.value.problems


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


# --- defaults and precedence ----------------------------------------------------------------


def test_defaults() -> None:
    s = load_settings(None, {})
    c = s.cortex
    assert c.url == "wss://localhost:6868"
    assert (c.client_id, c.client_secret.get_secret_value(), c.client_secret_file) == ("", "", "")
    assert c.tls_verify is True and c.ca_file == ""
    assert c.headsets == ()
    assert c.streams == ("eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys")
    assert c.activate is True and c.license == "" and c.debit == 0
    assert (c.request_timeout, c.reconnect_max_delay, c.clock) == (10.0, 30.0, "auto")
    assert s.lsl.name_template == "Emotiv-{stream}-{headset}"
    assert (s.log.level, s.log.status_interval) == ("info", 10.0)


def test_settings_are_frozen() -> None:
    s = load_settings(None, {})
    with pytest.raises(ValueError):
        s.cortex.url = "ws://elsewhere:1"  # type: ignore[misc]


def test_settings_ignore_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only load_settings reads the environment, and only the mapping it is given."""
    monkeypatch.setenv("CORTEX_BRIDGE_CORTEX__CLIENT_ID", "from-process")
    assert load_settings(None, {}).cortex.client_id == ""
    assert Settings().cortex.client_id == ""
    assert load_settings(None).cortex.client_id == "from-process"


def test_file_values_and_env_precedence(write: Callable[..., Path]) -> None:
    path = write(
        '[cortex]\nurl = "ws://10.0.0.5:6868"\nclient_id = "file-id"\ndebit = 2\n'
        'headsets = ["EPOCX-*"]\n[log]\nlevel = "WARNING"\n'
    )
    s = load_settings(path, {"CORTEX_BRIDGE_CORTEX__CLIENT_ID": "env-id"})
    assert s.cortex.client_id == "env-id"  # env beats file
    assert s.cortex.url == "ws://10.0.0.5:6868"  # file beats default
    assert s.cortex.debit == 2
    assert s.cortex.headsets == ("EPOCX-*",)
    assert s.log.level == "warning"


def test_env_scalars_are_converted() -> None:
    s = load_settings(
        None,
        {
            "CORTEX_BRIDGE_CORTEX__TLS_VERIFY": "false",
            "CORTEX_BRIDGE_CORTEX__DEBIT": "3",
            "CORTEX_BRIDGE_CORTEX__REQUEST_TIMEOUT": "2.5",
            "CORTEX_BRIDGE_LOG__STATUS_INTERVAL": "1",
        },
    )
    assert s.cortex.tls_verify is False
    assert s.cortex.debit == 3
    assert s.cortex.request_timeout == 2.5
    assert s.log.status_interval == 1.0


def test_empty_env_variable_counts_as_unset(write: Callable[..., Path]) -> None:
    path = write('[cortex]\nclient_id = "file-id"\n')
    s = load_settings(path, {"CORTEX_BRIDGE_CORTEX__CLIENT_ID": "", "CORTEX_BRIDGE_NOPE": ""})
    assert s.cortex.client_id == "file-id"


@given(st.lists(st.sampled_from(STREAM_NAMES), min_size=1, unique=True))
def test_env_lists_json_or_comma_separated(streams: list[str]) -> None:
    as_json = "[" + ",".join(f'"{s}"' for s in streams) + "]"
    as_commas = " , ".join(streams)
    for text in (as_json, as_commas):
        s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__STREAMS": text})
        assert s.cortex.streams == tuple(streams)


def test_env_headset_patterns() -> None:
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__HEADSETS": "EPOCX-*,INSIGHT-1"})
    assert s.cortex.headsets == ("EPOCX-*", "INSIGHT-1")
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__HEADSETS": "[]"})
    assert s.cortex.headsets == ()


def test_bad_json_list_in_env() -> None:
    assert problems_of(None, {"CORTEX_BRIDGE_CORTEX__STREAMS": '["eeg",'}) == [
        "cortex.streams: expected a JSON list or comma-separated values, got '[\"eeg\",' "
        "(from CORTEX_BRIDGE_CORTEX__STREAMS)"
    ]


def test_relative_paths_are_relative_to_the_config_file(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write('[cortex]\nclient_secret_file = "secret.txt"\nca_file = "certs/ca.pem"\n')
    s = load_settings(path, {})
    assert s.cortex.client_secret_file == str(tmp_path / "secret.txt")
    assert s.cortex.ca_file == str(tmp_path / "certs" / "ca.pem")


def test_apply_overrides() -> None:
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": SECRET})
    t = apply_overrides(s, {"log.level": "debug"})
    assert t.log.level == "debug" and s.log.level == "info"
    assert t.cortex.client_secret.get_secret_value() == SECRET
    with pytest.raises(ConfigError) as info:
        apply_overrides(s, {"log.level": "loud"})
    assert info.value.problems == [
        "log.level: expected 'debug', 'info', 'warning' or 'error', got 'loud' "
        "(from the command line)"
    ]
    with pytest.raises(ConfigError, match=r"^log\.colour: unknown key$"):
        apply_overrides(s, {"log.colour": 1})


# --- one line per problem, through the CLI --------------------------------------------------

INVALID = [
    ("[cortex]\ntls_verify = 'maybe'", "cortex.tls_verify: expected true or false, got 'maybe'"),
    ("[cortex]\nurl = 'http://localhost:6868'", "cortex.url: must be a ws:// or wss:// URL"),
    ("[cortex]\nurl = 'wss://'", "cortex.url: must be a ws:// or wss:// URL with a host"),
    ("[cortex]\nurl = 'wss://h:port'", "cortex.url: not a valid URL: 'wss://h:port'"),
    ("[cortex]\nurl = 5", "cortex.url: expected a string, got 5"),
    ("[cortex]\ndebit = -1", "cortex.debit: must be at least 0, got -1"),
    ("[cortex]\ndebit = 1.5", "cortex.debit: expected an integer, got 1.5"),
    ("[cortex]\nrequest_timeout = 0", "cortex.request_timeout: must be at least 0.5, got 0"),
    ("[cortex]\nreconnect_max_delay = 'x'", "cortex.reconnect_max_delay: expected a number"),
    ("[cortex]\nclock = 'ntp'", "cortex.clock: expected 'auto', 'sync' or 'epoch', got 'ntp'"),
    ("[cortex]\nstreams = ['eeg', 'eeg']", "cortex.streams: 'eeg' is listed twice"),
    ("[cortex]\nstreams = ['eeg', 'brain']", "cortex.streams: unknown stream 'brain'"),
    ("[cortex]\nstreams = []", "cortex.streams: must name at least one stream"),
    ("[cortex]\nstreams = 'eeg'", "cortex.streams: expected a list, got 'eeg'"),
    ("[cortex]\nheadsets = ['']", "cortex.headsets: headset ids and patterns must not be empty"),
    ("[cortex]\nheadsets = [1]", "cortex.headsets[0]: expected a string, got 1"),
    ("[cortex]\nactivate = 'perhaps'", "cortex.activate: expected true or false"),
    ("[cortex]\ncolour = 'red'", "cortex.colour: unknown key"),
    ("cortex = 5", "cortex: expected a table, got 5"),
    ("[midi]\nport = 9000", "midi: unknown section"),
    ("verbose = true", "verbose: unknown key (settings belong in a section"),
    (
        "[lsl]\nname_template = 'X-{headset}-{bogus}'",
        "lsl.name_template: unknown placeholder {bogus}",
    ),
    ("[lsl]\nname_template = 'X-{}'", "lsl.name_template: placeholders must be plain names"),
    ("[lsl]\nname_template = 'X-{headset:>9}'", "lsl.name_template: placeholders must be plain"),
    ("[lsl]\nname_template = 'X-{headset'", "lsl.name_template: malformed template"),
    ("[lsl]\nname_template = '{headset'", "lsl.name_template: malformed template"),
    (
        "[cortex]\nheadsets = ['EPOCX-*']\n[lsl]\nname_template = 'X-{stream}'",
        "lsl.name_template: must contain {headset} when cortex.headsets can match more than one",
    ),
    ("[log]\nlevel = 'loud'", "log.level: expected 'debug', 'info', 'warning' or 'error'"),
    ("[log]\nstatus_interval = -2", "log.status_interval: must be at least 1, got -2"),
    ("[cortex]\nurl = \n", "line 2: Invalid value (column 7)"),
    ("[cortex]\nurl = ", "at end of file: Invalid value"),
    ("[cortex\n", "line 1: Expected ']' at the end of a table declaration"),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid_value_is_one_clear_line(
    text: str, expected: str, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(text)
    code, out, err = run_check(path, capsys)
    assert code == ExitCode.CONFIG
    lines = err.splitlines()
    assert len(lines) == 1, err
    if expected.startswith(("line ", "at end")):
        assert lines[0].startswith(f"cortex-bridge: config file {path}: {expected}")
    else:
        assert lines[0].startswith(f"cortex-bridge: {expected}"), lines[0]
    assert "Traceback" not in out + err


def test_every_problem_is_reported_at_once(
    write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write("[cortex]\ntls_verify = 'maybe'\ndebit = -1\ncolour = 1\n[log]\nlevel = 3\n")
    code, _, err = run_check(path, capsys)
    assert code == ExitCode.CONFIG
    assert err.splitlines() == [
        "cortex-bridge: cortex.tls_verify: expected true or false, got 'maybe'",
        "cortex-bridge: cortex.debit: must be at least 0, got -1",
        "cortex-bridge: cortex.colour: unknown key",
        "cortex-bridge: log.level: expected 'debug', 'info', 'warning' or 'error', got 3",
    ]


def test_invalid_env_value_names_key_and_variable(
    monkeypatch: pytest.MonkeyPatch, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CORTEX_BRIDGE_CORTEX__TLS_VERIFY", "maybe")
    code, _, err = run_check(write(VALID_CREDENTIALS), capsys)
    assert code == ExitCode.CONFIG
    assert err.splitlines() == [
        "cortex-bridge: cortex.tls_verify: expected true or false, got 'maybe' "
        "(from CORTEX_BRIDGE_CORTEX__TLS_VERIFY)"
    ]


def test_unknown_env_variables(
    monkeypatch: pytest.MonkeyPatch, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CORTEX_BRIDGE_CORTEX__COLOUR", "red")
    monkeypatch.setenv("CORTEX_BRIDGE_MIDI__PORT", "9000")
    monkeypatch.setenv("CORTEX_BRIDGE_CORTEX", "{}")
    code, _, err = run_check(write(VALID_CREDENTIALS), capsys)
    assert code == ExitCode.CONFIG
    lines = sorted(err.splitlines())
    assert lines == [
        "cortex-bridge: CORTEX_BRIDGE_CORTEX: not a setting (expected "
        "CORTEX_BRIDGE_<SECTION>__<KEY> with a section of cortex, lsl, log, osc, markers, emogg, status)",
        "cortex-bridge: CORTEX_BRIDGE_MIDI__PORT: not a setting (expected "
        "CORTEX_BRIDGE_<SECTION>__<KEY> with a section of cortex, lsl, log, osc, markers, emogg, status)",
        "cortex-bridge: cortex.colour: unknown key (from CORTEX_BRIDGE_CORTEX__COLOUR)",
    ]


def test_env_names_are_case_insensitive() -> None:
    s = load_settings(None, {"cortex_bridge_cortex__client_id": "lower"})
    assert s.cortex.client_id == "lower"


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.toml"
    code, _, err = run_check(path, capsys)
    assert code == ExitCode.CONFIG
    assert err == f"cortex-bridge: config file {path}: not found\n"


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"config file {tmp_path}: not a regular file"]


def test_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[cortex]\nclient_id = "caf\xe9"\n')
    assert problems_of(path) == [f"config file {path}: not UTF-8 text"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_config_unreadable(write: Callable[..., Path]) -> None:
    path = write(VALID_CREDENTIALS, mode=0o000)
    assert problems_of(path) == [f"config file {path}: cannot read: Permission denied"]


def test_file_problem_and_env_problem_together(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert problems_of(path, {"CORTEX_BRIDGE_X": "1"}) == [
        f"config file {path}: not found",
        "CORTEX_BRIDGE_X: not a setting (expected CORTEX_BRIDGE_<SECTION>__<KEY> "
        "with a section of cortex, lsl, log, osc, markers, emogg, status)",
    ]


def test_name_template_without_headset_for_one_headset() -> None:
    for headsets in ("", "EPOCX-E50202E4"):
        s = load_settings(
            None,
            {
                "CORTEX_BRIDGE_LSL__NAME_TEMPLATE": "EmotivDataStream-{stream}",
                "CORTEX_BRIDGE_CORTEX__HEADSETS": headsets or "[]",
            },
        )
        assert s.lsl.name_template == "EmotivDataStream-{stream}"


def test_run_and_check_require_credentials(
    write: Callable[..., Path], capsys: pytest.CaptureFixture[str], stand_in: list[Any]
) -> None:
    code, _, err = run_check(write("[cortex]\n"), capsys)
    assert code == ExitCode.CONFIG
    assert err.splitlines() == [
        "cortex-bridge: cortex.client_id: not set (set it in the config file or "
        "CORTEX_BRIDGE_CORTEX__CLIENT_ID)",
        "cortex-bridge: cortex.client_secret: not set (set cortex.client_secret, "
        "cortex.client_secret_file, CORTEX_BRIDGE_CORTEX__CLIENT_SECRET, or a systemd "
        "credential named client_secret)",
    ]
    assert stand_in == []


def test_missing_ca_file_is_reported_before_connecting(
    write: Callable[..., Path], capsys: pytest.CaptureFixture[str], stand_in: list[Any]
) -> None:
    path = write(VALID_CREDENTIALS + 'ca_file = "nope.pem"\n')
    code, _, err = run_check(path, capsys)
    assert code == ExitCode.CONFIG
    assert err == f"cortex-bridge: cortex.ca_file: {path.parent / 'nope.pem'}: not found\n"
    assert stand_in == []


def test_check_hands_loaded_settings_to_the_daemon(
    write: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    stand_in: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORTEX_BRIDGE_CORTEX__STREAMS", "eeg,met")
    code, _, err = run_check(write(VALID_CREDENTIALS), capsys)
    assert (code, err) == (0, "")
    (settings,) = stand_in
    assert settings.cortex.client_id == "abc"
    assert settings.cortex.streams == ("eeg", "met")


def test_log_level_flag_overrides_config(
    write: Callable[..., Path], capsys: pytest.CaptureFixture[str], stand_in: list[Any]
) -> None:
    path = write(VALID_CREDENTIALS + '[log]\nlevel = "error"\n')
    assert cli.main(["run", "--config", str(path), "--log-level", "DEBUG"]) == 0
    (settings,) = stand_in
    assert settings.log.level == "debug"
    assert logging.getLogger().level == logging.DEBUG


# --- secrets --------------------------------------------------------------------------------


def test_secret_never_in_repr_or_dump() -> None:
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": SECRET})
    assert s.cortex.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert SECRET not in s.model_dump_json()


@pytest.mark.parametrize(
    "text",
    [
        f'[cortex]\nclient_secret = ["{SECRET}"]\n',
        f'[cortex]\nclient_secret = {{ value = "{SECRET}" }}\n',
        f'[cortex]\nclient_secret = "{SECRET}"\ntls_verify = "maybe"\ncolour = 1\n',
    ],
)
def test_wrong_secret_is_not_echoed(
    text: str, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    code, out, err = run_check(path, capsys)
    assert code == ExitCode.CONFIG
    assert SECRET not in out + err
    assert "Traceback" not in err


def test_wrong_secret_type_message(write: Callable[..., Path]) -> None:
    path = write(f'[cortex]\nclient_secret = ["{SECRET}"]\n')
    assert problems_of(path) == ["cortex.client_secret: expected a string"]


def test_secret_not_printed_anywhere_during_a_run(
    write: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Debug logging, a group-readable config holding the secret, and a failing daemon."""
    from bridge.errors import AuthError

    async def refuse(settings: Settings) -> int:
        raise AuthError("Cortex refused the client id or secret")

    monkeypatch.setattr(cli, "_load", lambda *a: refuse)
    path = write(VALID_CREDENTIALS, mode=0o644)
    caplog.set_level(logging.DEBUG)
    code = cli.main(["run", "--config", str(path), "--log-level", "debug"])
    out, err = capsys.readouterr()
    assert code == ExitCode.AUTH
    assert "readable by group or others" in err
    assert "cortex-bridge: Cortex refused the client id or secret" in err
    assert SECRET not in out + err + caplog.text


def test_secret_from_file(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    path = write('[cortex]\nclient_secret_file = "secret.txt"\n')
    assert resolve_client_secret(load_settings(path, {}), {}) == SECRET


def test_configured_secret_beats_file_and_credential(tmp_path: Path) -> None:
    (tmp_path / "client_secret").write_text("from-credential")
    (tmp_path / "file").write_text("from-file")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET": SECRET})
    assert resolve_client_secret(s, env) == SECRET
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE": str(tmp_path / "file")})
    assert resolve_client_secret(s, env) == "from-file"


def test_secret_from_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "client_secret").write_text(SECRET + "\r\n")
    s = load_settings(None, {})
    assert resolve_client_secret(s, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == SECRET


def test_credentials_directory_through_the_cli(
    tmp_path: Path,
    write: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    stand_in: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "client_secret").write_text(SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    code, _, err = run_check(write('[cortex]\nclient_id = "abc"\n'), capsys)
    assert (code, err) == (0, "")
    assert len(stand_in) == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "not found"), ("", "is empty"), ("\n", "is empty")],
)
def test_secret_file_problems(tmp_path: Path, content: str | None, problem: str) -> None:
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE": str(secret)})
    with pytest.raises(ConfigError) as info:
        resolve_client_secret(s, {})
    assert info.value.problems == [f"cortex.client_secret_file: {secret}: {problem}"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0)
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE": str(secret)})
    with pytest.raises(ConfigError) as info:
        resolve_client_secret(s, {})
    assert info.value.problems == [
        f"cortex.client_secret_file: {secret}: cannot read: Permission denied"
    ]


def test_no_secret_anywhere(tmp_path: Path) -> None:
    s = load_settings(None, {})
    with pytest.raises(ConfigError, match=r"^cortex\.client_secret: not set"):
        resolve_client_secret(s, {"CREDENTIALS_DIRECTORY": str(tmp_path)})  # no file there


def test_preflight_lists_every_problem(tmp_path: Path) -> None:
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CA_FILE": str(tmp_path / "ca.pem")})
    with pytest.raises(ConfigError) as info:
        preflight(s, {})
    keys = [p.split(":", 1)[0] for p in info.value.problems]
    assert keys == ["cortex.client_id", "cortex.client_secret", "cortex.ca_file"]


# --- file permissions -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_readable_secret_file_warns(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(mode)
    (warning,) = secret_file_warnings(secret)
    assert str(secret) in warning and f"{mode:04o}" in warning
    assert "chmod go-rwx" in warning and SECRET not in warning


def test_private_secret_file_is_quiet(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    assert secret_file_warnings(secret) == []
    assert secret_file_warnings(tmp_path / "absent") == []


def test_readable_config_warns_only_when_it_holds_the_secret(write: Callable[..., Path]) -> None:
    with_secret = write(VALID_CREDENTIALS, "with.toml", mode=0o644)
    without = write(
        '[cortex]\nclient_id = "abc"\nclient_secret_file = "/x"\n', "without.toml", 0o644
    )
    assert len(secret_file_warnings(with_secret)) == 1
    assert secret_file_warnings(without) == []
    assert stat.S_IMODE(without.stat().st_mode) == 0o644


def test_cli_warns_about_readable_secret_file(
    tmp_path: Path,
    write: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    stand_in: list[Any],
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    path = write('[cortex]\nclient_id = "abc"\nclient_secret_file = "secret"\n', mode=0o644)
    code, _, err = run_check(path, capsys)
    assert code == 0
    warnings = [line for line in err.splitlines() if "readable by group or others" in line]
    assert len(warnings) == 1 and str(secret) in warnings[0]
    assert re.search(r"\d\d:\d\d:\d\d,\d+ WARNING bridge\.cli: ", warnings[0])
    assert SECRET not in err


# --- example configs and docs ---------------------------------------------------------------


def test_example_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert names >= {
        "demo.toml",
        "epocx.toml",
        "multi-headset.toml",
        "remote-cortex.toml",
        "openvibe.toml",
        "emotivpro-names.toml",
        "artist.toml",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_config_loads(path: Path) -> None:
    settings = load_settings(path, {})
    assert settings.cortex.url.startswith(("ws://", "wss://"))


def test_example_configs_say_what_they_promise() -> None:
    load = {p.name: load_settings(p, {}) for p in CONFIGS}
    demo = load["demo.toml"].cortex
    assert (demo.url, demo.client_id) == ("ws://127.0.0.1:6868", "cortex-bridge-demo")
    assert demo.client_secret.get_secret_value() == "cortex-bridge-demo-secret"
    assert load["remote-cortex.toml"].cortex.clock == "epoch"
    assert load["remote-cortex.toml"].cortex.ca_file
    assert load["emotivpro-names.toml"].lsl.name_template == "EmotivDataStream-{emotivpro}"
    # The service examples leave the secret to the systemd credential: the unit's dynamic
    # user could not read a root-only client_secret_file (install-service installs both).
    for name in ("epocx.toml", "remote-cortex.toml", "openvibe.toml", "artist.toml"):
        assert not load[name].cortex.client_secret_file, name
    assert load["artist.toml"].osc.enabled
    assert any("*" in h for h in load["multi-headset.toml"].cortex.headsets)
    for name, settings in load.items():
        if name != "demo.toml":  # real credentials never sit in an example config
            assert not settings.cortex.client_secret.get_secret_value(), name


def _deprecations(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "bridge.config" and r.levelno == logging.WARNING
    ]


def test_deprecated_markers_record_warns_once_and_is_ignored(
    write: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.config")
    # false with markers on was an error before the key was deprecated: now it loads
    settings = load_settings(write("[markers]\nenabled = true\nrecord = false\n"), {})
    assert settings.markers.enabled
    (line,) = _deprecations(caplog)
    assert line.startswith("markers.record: deprecated and ignored")
    assert "remove it" in line and "(from" not in line


def test_deprecated_key_from_the_environment_names_the_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.config")
    load_settings(None, {"CORTEX_BRIDGE_MARKERS__RECORD": "true"})
    (line,) = _deprecations(caplog)
    assert line.startswith("markers.record: deprecated")
    assert line.endswith("(from CORTEX_BRIDGE_MARKERS__RECORD)")


def test_no_deprecation_warning_when_the_key_is_not_set(
    write: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.config")
    load_settings(write("[markers]\nenabled = true\nrecord_title = \"run {headset}\"\n"), {})
    load_settings(None, {})
    assert _deprecations(caplog) == []


def test_docs_cover_every_key() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for key in setting_keys():
        section, name = key.split(".")
        assert f"`{name}`" in docs, key
        assert env_var_name(key) in docs, key
        assert f"[{section}]" in docs, key


def test_secret_file_that_is_a_directory(tmp_path: Path) -> None:
    s = load_settings(None, {"CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE": str(tmp_path)})
    with pytest.raises(ConfigError) as info:
        resolve_client_secret(s, {})
    assert info.value.problems == [
        f"cortex.client_secret_file: {tmp_path}: is a directory, not a regular file "
        "holding the secret"
    ]
