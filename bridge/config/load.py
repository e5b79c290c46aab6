"""Loading: the TOML file, then ``CORTEX_BRIDGE_<SECTION>__<KEY>`` variables, then flags.

:func:`load_settings` is the only way the daemon builds its settings: it reads the two
pydantic-settings sources (the TOML file and the environment) explicitly and merges
them (environment wins) instead of letting ``Settings()`` read ``os.environ`` on its
own, so that loading is a pure function of ``(path, environ)`` and tests never touch
the process environment. Every problem becomes one line (see
:mod:`bridge.config.errors`), all of them collected into a single
:class:`~bridge.errors.ConfigError`.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, TomlConfigSettingsSource

from bridge.config.errors import problems_of, toml_error
from bridge.config.keys import field_of, section_models
from bridge.config.models import ENV_NESTED_DELIMITER, ENV_PREFIX, PATH_KEYS, Settings
from bridge.config.rules import cross_field_problems
from bridge.errors import ConfigError

log = logging.getLogger("bridge.config")

DEPRECATED_KEYS: Mapping[str, str] = {
    "markers.record": (
        "deprecated and ignored: the bridge always opens a record while markers are "
        "enabled (Cortex 2.x injects markers only into an open record); remove it, a "
        "future release will refuse it"
    ),
}
"""Keys still accepted for one release, each with what to tell the operator."""


# --- environment ----------------------------------------------------------------------------


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, fed from a given mapping.

    List values are JSON (``["eeg","met"]``) or comma-separated (``eeg,met``); malformed
    JSON is passed through as text so that validation reports it against the key.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if value}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return [item.strip() for item in text.split(",") if item.strip()]


def _scan_environ(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Split ``CORTEX_BRIDGE_*`` variables into known ones and problems.

    Returns ``(known variables, dotted key -> variable name, problem lines)``. Empty
    variables count as unset (systemd's ``Environment=NAME=`` idiom).
    """
    sections = section_models()
    known: dict[str, str] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX) or not value:
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition(ENV_NESTED_DELIMITER)
        if not sep or section not in sections or not key:
            problems.append(
                f"{name}: not a setting (expected {ENV_PREFIX}<SECTION>{ENV_NESTED_DELIMITER}"
                f"<KEY> with a section of {', '.join(sections)})"
            )
        elif key not in sections[section].model_fields:
            problems.append(f"{section}.{key}: unknown key (from {name})")
        else:
            known[name] = value
            origin[f"{section}.{key}"] = name
    return known, origin, problems


# --- the file -------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's tables, with relative paths made relative to the file's directory."""
    shown = f"config file {path}"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError([f"{shown}: not found"]) from None
    except OSError as exc:  # a name too long, a component that is not a directory ...
        raise ConfigError([f"{shown}: cannot read: {exc.strerror or exc}"]) from None
    if not stat.S_ISREG(mode):
        raise ConfigError([f"{shown}: not a regular file"])
    try:
        data = TomlConfigSettingsSource(Settings, toml_file=path)()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{shown}: {toml_error(exc)}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{shown}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror or exc}"]) from None
    _anchor_paths(data, path.parent)
    return data



def _anchor_paths(data: dict[str, Any], directory: Path) -> None:
    """A relative path in a config file means next to that file, whatever the working dir."""
    for section_name, keys in (("cortex", PATH_KEYS), ("emogg", ("token_file",))):
        section = data.get(section_name)
        if not isinstance(section, dict):
            continue
        for key in keys:
            value = section.get(key)
            if isinstance(value, str) and value:
                path = Path(value).expanduser()
                section[key] = str(path if path.is_absolute() else directory / path)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``top``, tables merged key by key."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(data: Mapping[str, Any], origin: Mapping[str, str]) -> Settings:
    """The settings, or every problem: each value's own, else the cross-field rules'."""
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc, origin)) from None
    problems = cross_field_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


# --- public API -----------------------------------------------------------------------------


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` (if any), overridden by ``environ``.

    ``environ`` defaults to ``os.environ``. Raises :class:`ConfigError` with one line
    per problem, each naming the dotted key (and the variable, if the value came from
    the environment). Relative paths in the file are relative to the file's directory.
    """
    env = os.environ if environ is None else environ
    known, origin, problems = _scan_environ(env)
    file_data: dict[str, Any] = {}
    if path is not None:
        try:
            file_data = _read_toml(Path(path))
        except ConfigError as exc:
            raise ConfigError(exc.problems + problems) from None
    env_data = _MappingEnvSource(Settings, known)()
    try:
        settings = _validate(_deep_merge(file_data, env_data), origin)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    for warning in deprecation_warnings(settings, origin):
        log.warning("%s", warning)
    return settings


def deprecation_warnings(settings: Settings, origin: Mapping[str, str]) -> list[str]:
    """One line per deprecated key the file or the environment sets (naming the variable
    when it came from there); a default value does not count as set."""
    warnings: list[str] = []
    for dotted, advice in DEPRECATED_KEYS.items():
        section, _, key = dotted.partition(".")
        if key in getattr(settings, section).model_fields_set:
            source = origin.get(dotted)
            warnings.append(f"{dotted}: {advice}" + (f" (from {source})" if source else ""))
    return warnings


def apply_overrides(settings: Settings, overrides: Mapping[str, object]) -> Settings:
    """``settings`` with dotted keys replaced (command-line flags beat file and env).

    The result is validated like everything else; an invalid or unknown key raises
    :class:`ConfigError` naming it.
    """
    data: dict[str, Any] = settings.model_dump()
    origin: dict[str, str] = {}
    problems: list[str] = []
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if field_of(dotted) is None:
            problems.append(f"{dotted}: unknown key")
            continue
        data[section] = {**data[section], key: value}
        origin[dotted] = "the command line"
    if problems:
        raise ConfigError(problems)
    return _validate(data, origin)

