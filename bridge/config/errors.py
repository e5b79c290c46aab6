"""Error text: every configuration problem as one line naming the dotted key.

pydantic's own messages quote the offending input, which would leak a mistyped secret,
so messages are built here from each error's ``loc``, ``type`` and context, and the
inputs of secret fields (every ``SecretStr``) are never shown.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from bridge.config.keys import secret_keys, section_models

_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|(?P<end>end of document))\)$"
)


def toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """``line 3: <message> (column 5)`` from tomllib's ``<message> (at line 3, column 5)``."""
    text = str(exc)
    match = _TOML_POSITION.match(text)
    if not match:
        return text
    if match["end"]:
        return f"at end of file: {match['msg']}"
    return f"line {match['line']}: {match['msg']} (column {match['col']})"



_EXPECTED = {
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "dict_type": "expected a table",
}


def _show(value: object) -> str:
    """A value as the operator wrote it (TOML spelling for booleans), kept short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping):
        text = "a table"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: Mapping[str, Any], secret: bool) -> str:
    """The text after ``key:`` for one pydantic error; inputs of secret fields never appear."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = "" if secret or "input" not in error else f", got {_show(error['input'])}"
    if kind in _EXPECTED:
        return _EXPECTED[kind] + got
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}{got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }
        bound = next(iter(ctx.values()), "?")
        bound = f"{bound:g}" if isinstance(bound, float) else bound
        return f"must be {words[kind]} {bound}{got}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if secret:
        return "invalid value"
    return str(error["msg"]) + got


def _format_error(
    error: Mapping[str, Any], origin: Mapping[str, str], secrets: frozenset[str]
) -> str:
    loc = tuple(error["loc"])
    key = _dotted(loc)
    if not loc:
        # model validators name their keys themselves ("lsl.name_template: ...")
        return _describe(error, secret=True)
    section_key = ".".join(str(p) for p in loc[:2])
    secret = section_key in secrets
    if error["type"] == "extra_forbidden":
        if len(loc) == 1 and not isinstance(error.get("input"), Mapping):
            text = f"unknown key (settings belong in a section: {', '.join(section_models())})"
        else:
            text = "unknown section" if len(loc) == 1 else "unknown key"
    else:
        text = _describe(error, secret)
    source = origin.get(section_key)
    if source and error["type"] in ("list_type", "tuple_type"):
        text = text.replace("expected a list", "expected a JSON list or comma-separated values")
    return f"{key}: {text}" + (f" (from {source})" if source else "")


def problems_of(exc: ValidationError, origin: Mapping[str, str]) -> list[str]:
    """One line per validation error; see the module docstring for why not ``str(exc)``."""
    secrets = secret_keys()
    return [_format_error(e, origin, secrets) for e in exc.errors(include_url=False)]
