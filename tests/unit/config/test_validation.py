"""Nothing wrong gets through (issue 16): cross-field rules, bounds, URLs and hosts, the
marker predicate, the CA file, special secret files, permission warnings, and URLs that
never show their credentials. Plain data; ``check`` with the daemon stood in for."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge import cli
from bridge.config import (
    ca_file_problem,
    load_settings,
    permission_warnings,
    preflight,
    resolve_client_secret,
)
from bridge.config.lslquery import lsl_predicate_problem
from bridge.config.rules import reaches_listener
from bridge.config.uris import host_problem, scrub_userinfo, shown_url
from bridge.errors import ConfigError, ExitCode


def problems(environ: dict[str, str], path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ)
    return info.value.problems


def env(**values: str) -> dict[str, str]:
    """``cortex__url="..."`` -> ``{"CORTEX_BRIDGE_CORTEX__URL": "..."}``."""
    return {f"CORTEX_BRIDGE_{key.upper()}": value for key, value in values.items()}


@pytest.fixture
def toml(tmp_path: Path) -> Callable[[str], Path]:
    def _write(text: str) -> Path:
        path = tmp_path / "bridge.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return _write


# --- cross-field rules ------------------------------------------------------------------


def test_markers_need_an_activated_session() -> None:
    [line] = problems(env(markers__enabled="true", cortex__activate="false"))
    assert line.startswith("markers.enabled: markers need an activated session")
    assert "set cortex.activate = true or markers.enabled = false" in line
    load_settings(None, env(markers__enabled="false", cortex__activate="false"))


LOOP = """
[markers]
enabled = true
osc_input = true
osc_host = "{bind}"
osc_port = {port}
[osc]
enabled = true
prefix = "{prefix}"
targets = ["{target}"]
[cortex]
headsets = {headsets}
"""


@pytest.mark.parametrize(
    ("bind", "port", "prefix", "target", "headsets", "loops"),
    [
        ("127.0.0.1", 7402, "", "127.0.0.1:7402", "[]", True),
        ("127.0.0.1", 7402, "", "localhost:7402", "[]", True),
        ("0.0.0.0", 7402, "", "127.0.0.1:7402", "[]", True),
        ("::", 7402, "", "[::1]:7402", "[]", True),
        ("127.0.0.1", 7402, "/emotiv", "127.0.0.1:7402", "[]", False),  # /emotiv/marker
        ("127.0.0.1", 7402, "", "127.0.0.1:7403", "[]", False),  # another port
        ("127.0.0.1", 0, "", "127.0.0.1:7402", "[]", False),  # a fresh port every start
        ("127.0.0.1", 7402, "", "192.0.2.7:7402", "[]", False),  # another machine
        ("127.0.0.1", 7402, "", "127.0.0.1:7402", '["EPOCX-*"]', False),  # /<headset>/marker
    ],
)
def test_our_osc_output_aimed_at_our_marker_input(
    toml: Callable[[str], Path],
    bind: str, port: int, prefix: str, target: str, headsets: str, loops: bool,
) -> None:
    text = LOOP.format(bind=bind, port=port, prefix=prefix, target=target, headsets=headsets)
    if "{headset}" not in text and headsets != "[]":
        text += '[lsl]\nname_template = "x-{stream}-{headset}"\n'
    path = toml(text)
    if not loops:
        load_settings(path, {})
        return
    [line] = problems({}, path)
    assert line.startswith(f"osc.targets: {target!r} is this bridge's own OSC marker input")
    assert 'set osc.prefix (e.g. "/emotiv")' in line


def test_no_loop_without_the_echo(toml: Callable[[str], Path]) -> None:
    text = LOOP.format(bind="127.0.0.1", port=7402, prefix="", target="127.0.0.1:7402",
                       headsets="[]")
    load_settings(toml(text.replace("osc_input = true", "osc_input = true\necho = false")), {})


def test_every_problem_at_once(toml: Callable[[str], Path]) -> None:
    text = LOOP.format(bind="127.0.0.1", port=7402, prefix="", target="127.0.0.1:7402",
                       headsets="[]") + "activate = false\n"
    lines = problems({}, toml(text))
    assert [line.split(":")[0] for line in lines] == ["markers.enabled", "osc.targets"]


@pytest.mark.parametrize(
    ("target", "bind", "expected"),
    [
        ("localhost", "127.0.0.1", True),
        ("LOCALHOST.", "::1", True),
        ("127.0.0.1", "192.0.2.1", False),
        ("studio.local", "studio.local", True),
        ("studio.local", "0.0.0.0", False),  # no DNS at load time
    ],
)
def test_reaches_listener(target: str, bind: str, expected: bool) -> None:
    assert reaches_listener(target, bind) is expected


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cortex__request_timeout", "inf", "cortex.request_timeout: expected a finite number"),
        ("cortex__request_timeout", "nan", "cortex.request_timeout: expected a finite number"),
        ("cortex__request_timeout", "0.1", "cortex.request_timeout: must be at least 0.5"),
        ("cortex__request_timeout", "301", "cortex.request_timeout: must be at most 300"),
        ("cortex__reconnect_max_delay", "0.1", "cortex.reconnect_max_delay: must be at least 0.25"),
        ("cortex__reconnect_max_delay", "1e9", "cortex.reconnect_max_delay: must be at most 3600"),
        ("cortex__stall_timeout", "1e-300", "cortex.stall_timeout: must be at least 0.5"),
        ("cortex__v1_latency", "11", "cortex.v1_latency: must be at most 10"),
        ("log__status_interval", "1e-300", "log.status_interval: must be at least 1"),
        ("log__status_interval", "1e300", "log.status_interval: must be at most 86400"),
        ("emogg__ping_interval", "0.01", "emogg.ping_interval: must be at least 0.1"),
        ("emogg__request_timeout", "inf", "emogg.request_timeout: expected a finite number"),
        ("emogg__reconnect_max_delay", "0.5", "emogg.reconnect_max_delay: must be at least 1"),
        ("osc__rate_caps", "eeg=nan", "osc.rate_caps.eeg: expected a finite number"),
        ("markers__osc_port", "65536", "markers.osc_port: must be at most 65535"),
    ],
)
def test_bounds_that_cannot_work(key: str, value: str, message: str) -> None:
    [line] = problems(env(**{key: value}))
    assert line.startswith(message), line
    assert line.endswith(f"(from CORTEX_BRIDGE_{key.upper()})")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cortex__request_timeout", "0.5"),
        ("cortex__reconnect_max_delay", "0.25"),
        ("log__status_interval", "1"),
        ("emogg__ping_interval", "0.3"),
        ("emogg__reconnect_max_delay", "1"),
    ],
)
def test_the_bounds_themselves_are_accepted(key: str, value: str) -> None:
    load_settings(None, env(**{key: value}))


# --- URLs and hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "url", "message"),
    [
        ("cortex__url", "wss://localhost", "cortex.url: must name the port (without one it "
         "would be 443), e.g. wss://localhost:6868"),
        ("cortex__url", "ws://127.0.0.1", "cortex.url: must name the port (without one it "
         "would be 80)"),
        ("cortex__url", "wss://localhost:0", "cortex.url: the port must be a number from 1"),
        ("cortex__url", "wss://localhost:65536", "cortex.url: not a valid URL"),
        ("cortex__url", "wss://" + "a" * 300 + ":6868",
         "cortex.url: the host name is 300 characters long, at most 253 allowed"),
        ("cortex__url", "wss://" + "b" * 64 + ".example:6868",
         "cortex.url: the host name has a label of 64 characters, at most 63 allowed"),
        ("cortex__url", "wss://-bad-.example:6868", "cortex.url: '-bad-.example' is not a "
         "valid host name"),
        ("emogg__ws_url", "wss://api..emogg.com/ws", "emogg.ws_url: 'api..emogg.com' is not"),
        ("emogg__api_url", "https://" + "c" * 70 + ".com/v1", "emogg.api_url: the host name "
         "has a label of 70"),
        ("osc__targets", "x" * 64 + ".local:9000", "osc.targets: "),
        ("markers__osc_host", "not a host", "markers.osc_host: 'not a host' is not a valid"),
    ],
)
def test_urls_and_hosts(key: str, url: str, message: str) -> None:
    [line] = problems(env(**{key: url}))
    assert line.startswith(message), line


@pytest.mark.parametrize(
    "url", ["wss://localhost:6868", "ws://[::1]:6868", "wss://emotiv-cortex.remote:6868",
            "wss://bücher.example:6868", "ws://my_pi.lan:54321"],
)
def test_good_cortex_urls(url: str) -> None:
    assert load_settings(None, env(cortex__url=url)).cortex.url == url


def test_emogg_urls_may_leave_the_port_to_the_scheme() -> None:
    emogg = load_settings(None, env(emogg__api_url="https://api.emogg.com/v1")).emogg
    assert emogg.api_url == "https://api.emogg.com/v1"


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1", True), ("[::1]", True), ("a.b-c.d", True), ("a" * 63, True),
     ("a" * 64, False), ("a.-b", False), ("", False), ("a b", False), ("x" * 254, False)],
)
def test_host_problem(host: str, ok: bool) -> None:
    assert (host_problem(host) is None) is ok


# --- the marker predicate ---------------------------------------------------------------


@pytest.mark.parametrize(
    "predicate",
    ["type='Markers'", "name='PsychoPy Markers'", "starts-with(name, 'Ps')",
     "type='Markers' and contains(source_id, 'x')", 'name="a"'],
)
def test_predicates_liblsl_parses(predicate: str) -> None:
    assert lsl_predicate_problem(predicate) is None
    load_settings(None, env(markers__lsl_predicate=predicate))


@pytest.mark.parametrize(
    "predicate", ["type='Markers", "foo()", "name='a' and", "count(1)", "a) or (b", "]",
                  "type='Markers'\0"],
)
def test_predicates_liblsl_cannot_parse(predicate: str, capfd: pytest.CaptureFixture[str]) -> None:
    [line] = problems(env(markers__lsl_predicate=predicate))
    assert line.startswith("markers.lsl_predicate: ")
    assert "liblsl cannot parse" in line or "NUL" in line
    # liblsl's own warning (written to file descriptor 2) is kept out of the output
    assert "stream_info_impl" not in capfd.readouterr().err


# --- CA file ----------------------------------------------------------------------------


def test_ca_file_rules(tmp_path: Path) -> None:
    from bridge.simulator.tls import generate

    good = generate(tmp_path / "tls").ca_pem
    assert ca_file_problem(str(good)) is None
    not_pem = tmp_path / "rootCA.pem"
    not_pem.write_text("hello\n")
    assert ca_file_problem(str(not_pem)) == (
        f"cortex.ca_file: {not_pem}: not a PEM CA certificate (expected text starting "
        "with -----BEGIN CERTIFICATE-----, e.g. Emotiv's rootCA.pem)"
    )
    assert ca_file_problem(str(tmp_path)) == (
        f"cortex.ca_file: {tmp_path}: is a directory; name the PEM file itself (e.g. rootCA.pem)"
    )
    assert ca_file_problem("/dev/zero") is not None
    assert ca_file_problem(str(tmp_path / "absent")) == (
        f"cortex.ca_file: {tmp_path / 'absent'}: not found"
    )


def test_check_refuses_a_ca_directory(
    tmp_path: Path, toml: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = toml(f'[cortex]\nclient_id = "x"\nclient_secret = "y"\nca_file = "{tmp_path}"\n')
    assert cli.main(["check", "--config", str(path)]) == ExitCode.CONFIG
    err = capsys.readouterr().err.splitlines()
    assert err == [f"cortex-bridge: cortex.ca_file: {tmp_path}: is a directory; name the PEM "
                   "file itself (e.g. rootCA.pem)"]


# --- secret files -----------------------------------------------------------------------


def _secret_problem(path: str) -> str:
    settings = load_settings(None, env(cortex__client_secret_file=path))
    with pytest.raises(ConfigError) as info:
        resolve_client_secret(settings, {})
    [line] = info.value.problems
    return line


def test_special_files_are_refused_as_secret_files(tmp_path: Path) -> None:
    assert _secret_problem("/dev/zero") == (
        "cortex.client_secret_file: /dev/zero: is a character device, not a regular file "
        "holding the secret"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "is a FIFO" in _secret_problem(str(fifo))  # and nothing blocks on it
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    assert "too large to be a secret" in _secret_problem(str(big))


def test_emogg_token_file_is_refused_when_special() -> None:
    settings = load_settings(None, env(emogg__enabled="true", emogg__token_file="/dev/zero",
                                       emogg__session_id="x" * 24))
    with pytest.raises(ConfigError) as info:
        preflight(settings, {})
    assert "emogg.token_file: /dev/zero: is a character device" in "\n".join(info.value.problems)


def test_every_secret_file_gets_the_permission_warning(tmp_path: Path) -> None:
    secret = tmp_path / "client_secret"
    token = tmp_path / "emogg_token"
    for path in (secret, token):
        path.write_text("s3cret\n")
        path.chmod(0o644)
    settings = load_settings(None, env(
        cortex__client_secret_file=str(secret),
        emogg__enabled="true", emogg__token_file=str(token),
    ))
    warnings = permission_warnings(settings, None)
    assert [w.split(" ")[0] for w in warnings] == [str(secret), str(token)]
    assert all("chmod go-rwx" in w and "s3cret" not in w for w in warnings)
    # a device is never read for the warning (it is refused by preflight instead)
    devices = load_settings(None, env(cortex__client_secret_file="/dev/zero"))
    assert permission_warnings(devices, None) == []


# --- URLs never show their credentials --------------------------------------------------


def test_shown_url_and_scrub() -> None:
    assert shown_url("wss://user:pass@host:6868/x?y") == "wss://host:6868/x?y"
    assert shown_url("wss://host:6868") == "wss://host:6868"
    text = "cannot reach wss://user:p%40ss@host:6868 nor https://a:b@c@d/x"
    assert scrub_userinfo(text) == "cannot reach wss://host:6868 nor https://d/x"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_credentials_in_the_url_never_show(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A bad URL, and a good one whose Cortex is unreachable: neither the error line
    nor the check's report nor any log line carries the user name or password."""
    caplog.set_level(logging.DEBUG)
    bad = problems(env(cortex__url="wss://someuser:hunter2@localhost"))
    assert bad and not any("hunter2" in line or "someuser" in line for line in bad)
    environ = env(cortex__url=f"ws://someuser:hunter2@127.0.0.1:{_closed_port()}",
                  cortex__client_id="id", cortex__client_secret="secret")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        code = cli.main(["check"])
    out, err = capsys.readouterr()
    assert code == ExitCode.FAILURE
    assert "unreachable" in out and "ws://127.0.0.1:" in out
    everything = out + err + caplog.text
    assert "hunter2" not in everything and "someuser" not in everything
