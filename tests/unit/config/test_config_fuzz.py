"""Fuzzing the whole configuration surface: any TOML file and any ``CORTEX_BRIDGE_*``
environment gives ``check`` exit 0 or one line per problem with exit 2, never a
traceback (issue 16).

Keys and value shapes are read from the models (:func:`bridge.config.setting_keys` and
each field's annotation), so a key added to a section is fuzzed without a change here.
``check``'s daemon is stood in for: everything up to it (loading, cross-field rules,
preflight with its secret and CA files) runs for real. Bounded to a few seconds.
"""

from __future__ import annotations

import json
import math
import os
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bridge import cli
from bridge.config import ENV_PREFIX, env_var_name, setting_keys
from bridge.config.keys import field_of, section_models
from bridge.errors import ExitCode

# --- values, by the field's annotation ----------------------------------------------------

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
SPECIAL_TEXT = st.sampled_from([
    "", " ", "inf", "-inf", "nan", "1e300", "-1", "0", "65536", "true", "[]", "{}", "a=b,c",
    "wss://user:pass@localhost", "ws://[::1]:6868", "wss://" + "a" * 300 + ":6868",
    "/dev/zero", ".", "..", "~", "type='Markers", "foo()", "127.0.0.1:7402", "::1:9000",
    "{headset}", "{", "}", "eeg,eeg", "\u00e9", "x" * 300,
])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.25, 0.1, 1e-300, 1e300, 65535, 65536, -1]),
)
SCALARS = st.one_of(st.booleans(), NUMBERS, TEXT, SPECIAL_TEXT)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _literal_choices(annotation: Any) -> list[Any]:
    return list(typing.get_args(annotation)) if typing.get_origin(annotation) is typing.Literal else []


def value_strategy(annotation: Any) -> st.SearchStrategy[Any]:
    """Values shaped like the field (so they reach its validators), and anything."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        typed: st.SearchStrategy[Any] = st.booleans()
    elif annotation in (int, float):
        typed = NUMBERS
    elif annotation in (str, SecretStr):
        typed = st.one_of(TEXT, SPECIAL_TEXT)
    elif origin is typing.Literal:
        typed = st.sampled_from(_literal_choices(annotation))
    elif origin is tuple:
        typed = st.lists(st.one_of(st.sampled_from(["eeg", "met", "EPOCX-*", "127.0.0.1:9000"]),
                                   TEXT, st.fixed_dictionaries(  # osc.targets' table form
                                       {"target": st.sampled_from(["127.0.0.1:9001", "x"])},
                                       optional={"bundle": st.one_of(st.booleans(), TEXT)})),
                         max_size=4)
    elif origin is dict:
        typed = st.dictionaries(st.sampled_from(["eeg", "met", "pow", "brain"]),
                                st.one_of(NUMBERS, st.sampled_from(["split", "vector"])),
                                max_size=3)
    elif isinstance(annotation, types.UnionType) or origin is typing.Union:
        typed = st.one_of(*(value_strategy(a) for a in typing.get_args(annotation)))
    else:
        typed = ANY_VALUE
    return st.one_of(typed, typed, ANY_VALUE)


KEYS = setting_keys()
STRATEGIES = {key: value_strategy(field.annotation) for key in KEYS
              if (field := field_of(key)) is not None}

# --- TOML and environment text --------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML spelling of ``value`` (inline tables and arrays for containers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}"
                          for k, v in value.items())
        return "{ " + items + " }"
    raise TypeError(value)


def env_value(value: Any) -> str:
    """How an operator would write ``value`` in an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value or isinstance(value, dict) else "[]"
    return str(value).replace("\0", "")


SECTIONS = list(section_models())
EXTRA_SECTIONS = st.sampled_from(["midi", "Cortex", "cortex.extra"])
ExampleConfig = tuple[dict[str, dict[str, Any]], dict[str, str], str | None]


@st.composite
def configurations(draw: st.DrawFn) -> ExampleConfig:
    """A file's tables, the environment, and sometimes raw text instead of the tables."""
    tables: dict[str, dict[str, Any]] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True)):
        section, _, name = key.partition(".")
        tables.setdefault(section, {})[name] = draw(STRATEGIES[key])
    if draw(st.integers(0, 9)) == 0:  # an unknown key or section now and then
        tables.setdefault(draw(st.sampled_from([*SECTIONS, "midi"])), {})["colour"] = 1
    environ: dict[str, str] = {}
    if draw(st.booleans()):  # credentials, so that some examples get past preflight
        environ[env_var_name("cortex.client_id")] = "fuzz-id"
        environ[env_var_name("cortex.client_secret")] = "fuzz-secret"
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4, unique=True)):
        environ[env_var_name(key)] = env_value(draw(STRATEGIES[key]))
    if draw(st.integers(0, 9)) == 0:
        environ[ENV_PREFIX + draw(st.sampled_from(["CORTX__URL", "CORTEX__COLOUR", "X"]))] = "1"
    raw = draw(st.one_of(st.none(), st.none(), st.none(), TEXT))
    return tables, environ, raw


def render(tables: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, values in tables.items():
        lines.append(f"[{section}]")
        lines += [f"{json.dumps(key)} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


# --- the run --------------------------------------------------------------------------------


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Any]]:
    """``check``'s daemon replaced; cwd a scratch directory (relative paths land there);
    no ``CORTEX_BRIDGE_*`` or credentials directory from the outer environment."""
    calls: list[Any] = []

    async def fake(settings: Any) -> int:
        calls.append(settings)
        return 0

    real_load = cli._load

    def load(module: str, attr: str, command: str) -> Callable[..., Any]:
        return fake if module == "bridge.cortex.check" else real_load(module, attr, command)

    monkeypatch.setattr(cli, "_load", load)
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX) or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    yield calls


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(example=configurations())
def test_any_configuration_is_ok_or_one_line_per_problem(
    example: ExampleConfig, stand_in: list[Any], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tables, environ, raw = example
    path = tmp_path / "bridge.toml"
    path.write_text(render(tables) if raw is None else raw, encoding="utf-8")
    path.chmod(0o600)
    before = len(stand_in)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        code = cli.main(["check", "--config", str(path)])
    _out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code in (ExitCode.OK, ExitCode.CONFIG), (code, err)
    if code == ExitCode.OK:
        assert len(stand_in) == before + 1
        return
    lines = err.splitlines()
    problems = [line for line in lines if line.startswith("cortex-bridge: ")]
    assert problems, err
    # besides the problems only log lines (a permission warning), never anything else
    assert all(line.startswith("cortex-bridge: ") or " WARNING " in line for line in lines), err


def test_the_fuzzer_covers_every_key() -> None:
    """A new key is fuzzed by construction; a key whose annotation the strategy does not
    know still gets arbitrary values, but should be taught here."""
    known = (bool, int, float, str, SecretStr)
    for key in KEYS:
        field = field_of(key)
        assert field is not None
        annotation = field.annotation
        assert (annotation in known or typing.get_origin(annotation)
                in (typing.Literal, tuple, dict, typing.Union)), \
            f"{key}: teach value_strategy {annotation}"
