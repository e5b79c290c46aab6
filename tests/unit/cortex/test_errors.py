"""The error/warning table covers every code the references document, and its defaults
are safe.

The documented codes are read from the reference Markdown itself (``../shared/reference``
next to the repository), so a code added to the references fails here until it has a row.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bridge.cortex.errors import (
    ACTIVATION_ERRORS,
    ERRORS,
    LICENCE_PATIENCE,
    METHOD_RULES,
    WARNINGS,
    Action,
    WarningEvent,
    error_rule,
    warning_rule,
)
from bridge.cortex.lifecycle import RETRY_CAP
from bridge.cortex.protocol import SECRET_PARAMS, ErrorCode, WarningCode
from bridge.errors import ExitCode

REPO = Path(__file__).resolve().parents[3]
REFERENCE = REPO.parent / "shared" / "reference"
API = REFERENCE / "cortex_api.md"
MORE = REFERENCE / "cortex_api_more.md"
SEEDS = REFERENCE / "seeds"

pytestmark = pytest.mark.skipif(not API.is_file(), reason=f"no reference at {REFERENCE}")

# The references write minus as U+2212 in tables and as "-" in code.
ERROR_CODE = re.compile(r"[\u2212-](3\d{4})\b")
NUMBER = re.compile(r"\b\d{1,3}\b")


def _section(text: str, heading: str) -> str:
    """The body of the Markdown section whose heading starts with ``heading``, up to the
    next heading of the same or a higher level."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"(#+)\s+(.*)", line)
        if match and match.group(2).startswith(heading):
            level = len(match.group(1))
            body: list[str] = []
            for rest in lines[i + 1 :]:
                other = re.match(r"(#+)\s", rest)
                if other and len(other.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    raise AssertionError(f"no section {heading!r}")


def _first_cells(section: str) -> list[tuple[str, str]]:
    """(first cell, whole row) of every table row but the header and the rule."""
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or re.match(r"\|\s*-", line):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("Code", ""):
            continue
        rows.append((cells[0], line))
    return rows


def _error_codes_in_table(section: str) -> set[int]:
    return {
        -int(m)
        for cell, _ in _first_cells(section)
        for m in ERROR_CODE.findall(cell)
    }


def documented_error_codes() -> dict[int, str]:
    """Every error code in cortex_api.md §9.1/§9.2, cortex_api_more.md §G and the 1.x
    docs page's "Errors" list, with where it was found."""
    found: dict[int, str] = {}
    api = API.read_text(encoding="utf-8")
    for code in _error_codes_in_table(_section(api, "9.1")):
        found.setdefault(code, "cortex_api.md §9.1")
    for m in ERROR_CODE.findall(_section(api, "9.2")):
        found.setdefault(-int(m), "cortex_api.md §9.2")
    more = MORE.read_text(encoding="utf-8")
    for code in _error_codes_in_table(_section(more, "G.")):
        found.setdefault(code, "cortex_api_more.md §G")
    for seed in sorted(SEEDS.glob("*.txt")):
        text = seed.read_text(encoding="utf-8")
        if "The API uses the following error codes" not in text:
            continue
        errors = text.split("The API uses the following error codes", 1)[1]
        for m in re.findall(r"^\s*-(3\d{4}) ", errors, re.MULTILINE):
            found.setdefault(-int(m), f"seeds/{seed.name}")
    return found


def documented_warning_codes() -> dict[int, str]:
    """Every warning code in cortex_api.md §6 and cortex_api_more.md §F (rows that say
    nothing was found, like "50-55", name no code)."""
    found: dict[int, str] = {}
    for path, heading in ((API, "6. Warnings"), (MORE, "F.")):
        section = _section(path.read_text(encoding="utf-8"), heading)
        for cell, row in _first_cells(section):
            if "Nothing found" in row:
                continue
            for m in NUMBER.findall(cell):
                found.setdefault(int(m), f"{path.name} {heading}")
    return found


def test_the_reference_parser_finds_the_tables() -> None:
    # Guards the parser itself: if the Markdown changes shape and the parser finds
    # nothing, the coverage tests below would pass vacuously.
    errors = documented_error_codes()
    warnings = documented_warning_codes()
    assert {-32700, -32002, -32016, -32232, -32115, -32041, -32044, -32001, -32040} <= set(errors)
    assert {0, 1, 2, 4, 5, 11, 21, 22, 103, 110, 111, 142} <= set(warnings)
    assert 50 not in warnings and 55 not in warnings
    assert len(errors) >= 55 and len(warnings) >= 35


def test_every_documented_error_has_a_row() -> None:
    missing = {code: where for code, where in documented_error_codes().items() if code not in ERRORS}
    assert not missing, f"documented error codes without a rule: {missing}"


def test_every_documented_warning_has_a_row() -> None:
    documented = documented_warning_codes()
    missing = {code: where for code, where in documented.items() if code not in WARNINGS}
    assert not missing, f"documented warning codes without a rule: {missing}"


def test_every_row_is_documented() -> None:
    # A row for a code no reference names would be an invention.
    assert set(ERRORS) <= set(documented_error_codes())
    assert set(WARNINGS) <= set(documented_warning_codes())


def test_protocol_enums_are_in_the_tables() -> None:
    for code in ErrorCode:
        assert ERRORS[code].name == code.name
    for wcode in WarningCode:
        assert wcode in WARNINGS


def test_rows_are_keyed_by_their_code_and_cite_a_source() -> None:
    for code, rule in ERRORS.items():
        assert rule.code == code and rule.source and rule.hint
    for wcode, wrule in WARNINGS.items():
        assert wrule.code == wcode and wrule.source and wrule.hint
        assert wrule.level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    for (method, code), rule in METHOD_RULES.items():
        assert rule.code == code and code in ERRORS and method in rule.source


def test_fatal_rules_have_an_exit_code_and_only_they() -> None:
    for rule in [*ERRORS.values(), *METHOD_RULES.values()]:
        if rule.action is Action.FATAL:
            assert isinstance(rule.exit_code, ExitCode) and rule.exit_code != ExitCode.OK
        else:
            assert rule.exit_code is None, rule


def test_unknown_error_retries_and_names_the_code() -> None:
    rule = error_rule(-32999, "subscribe")
    assert rule.action is Action.RETRY
    assert "-32999" in rule.hint and "subscribe" in rule.hint
    assert rule.exit_code is None
    # An unknown method with a known code gets the code's general rule.
    assert error_rule(-32016, "noSuchMethod") is ERRORS[-32016]


def test_unknown_warning_is_info() -> None:
    rule = warning_rule(54321)
    assert rule.event is WarningEvent.INFO
    assert rule.level == logging.INFO
    assert "54321" in rule.hint


@pytest.mark.parametrize(
    ("method", "code", "action"),
    [
        # The brief's examples and issue 15's cases.
        # A licence refusal is asked for again (at the licence patience); an older
        # Cortex that does not know the stream is not.
        ("subscribe", -32016, Action.RETRY),
        ("subscribe", -32012, Action.RETRY),
        ("subscribe", -32232, Action.RETRY),
        ("subscribe", -32602, Action.DROP_STREAM),
        ("stopRecord", -32011, Action.IGNORE),
        ("createSession", -32004, Action.RESTART_SESSION),
        ("createSession", -32019, Action.DEGRADE),
        ("authorize", -32033, Action.WAIT_FOR_USER),
        ("hasAccessRight", -32102, Action.WAIT_FOR_USER),
        ("authorize", -32041, Action.WAIT_FOR_USER),
        ("authorize", -32024, Action.WAIT_FOR_USER),
        ("authorize", -32027, Action.WAIT_FOR_USER),
        ("createSession", -32027, Action.DEGRADE),
        ("authorize", -32021, Action.FATAL),
        ("subscribe", -32014, Action.REAUTHORIZE),
        ("subscribe", -32015, Action.REAUTHORIZE),
        ("createSession", -32040, Action.RESTART_SESSION),
        ("createSession", -32005, Action.RESTART_SESSION),
        ("getCortexInfo", -32601, Action.DEGRADE),
        ("injectMarker", -32115, Action.DROP_STREAM),
        ("injectMarker", -32007, Action.RESTART_SESSION),
    ],
)
def test_actions(method: str, code: int, action: Action) -> None:
    assert error_rule(code, method).action is action


def test_activation_errors_are_the_tables_licence_rows() -> None:
    # Derived from the table: createSession's DEGRADE rows, licence limits all.
    assert {-32002, -32019, -32024, -32027} <= ACTIVATION_ERRORS
    for code in ACTIVATION_ERRORS:
        assert error_rule(code, "createSession").action is Action.DEGRADE
        assert error_rule(code, "updateSession").action is Action.DEGRADE


def test_refused_streams_are_asked_for_with_the_licence_patience() -> None:
    # The subscribe rows' hints promise "a backoff growing to an hour".
    assert RETRY_CAP == LICENCE_PATIENCE == 3600.0
    for (method, _), rule in METHOD_RULES.items():
        if method == "subscribe" and rule.action is Action.RETRY:
            assert "growing to an hour" in rule.hint


def test_nothing_for_methods_the_bridge_never_calls() -> None:
    assert not [key for key in METHOD_RULES if key[0] == "unsubscribe"]


@pytest.mark.parametrize(
    ("code", "event"),
    [
        (0, WarningEvent.SESSION_ENDED),
        (1, WarningEvent.SESSION_ENDED),
        (2, WarningEvent.USER_LOGGED_IN),
        (3, WarningEvent.USER_LOGGED_OUT),
        (9, WarningEvent.ACCESS_GRANTED),
        (10, WarningEvent.ACCESS_REJECTED),
        (11, WarningEvent.REOPEN_CONNECTION),
        (13, WarningEvent.PROFILE_CHANGED),
        (17, WarningEvent.EULA_ACCEPTED),
        (100, WarningEvent.HEADSET_CONNECT_FAILED),
        (101, WarningEvent.HEADSET_CONNECT_FAILED),
        (102, WarningEvent.HEADSET_CONNECT_FAILED),
        (113, WarningEvent.HEADSET_CONNECT_FAILED),
        (103, WarningEvent.HEADSET_LOST),
        (104, WarningEvent.HEADSET_CONNECTED),
        (142, WarningEvent.SCAN_FINISHED),
    ],
)
def test_warning_events(code: int, event: WarningEvent) -> None:
    assert warning_rule(code).event is event


# Anything that looks like a credential: a JWT, a long run of hex or base64, a
# "secret=..."/"token:..." pair, or one of the protocol's secret parameter names
# followed by a value.
SECRET_LIKE = [
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b[0-9a-fA-F]{24,}\b"),
    re.compile(r"[A-Za-z0-9+/_-]{32,}"),
    re.compile(r"(secret|token|password)(\s*=\s*|:)[^\s:]", re.IGNORECASE),
    *(re.compile(rf"{re.escape(name)}\s*[:=]") for name in SECRET_PARAMS),
]


def test_hints_never_hold_a_secret() -> None:
    texts = [
        *(r.hint for r in ERRORS.values()),
        *(r.hint for r in METHOD_RULES.values()),
        *(r.hint for r in WARNINGS.values()),
        error_rule(-1, "authorize").hint,
        warning_rule(-1).hint,
    ]
    for text in texts:
        assert "\n" not in text
        for pattern in SECRET_LIKE:
            assert not pattern.search(text), (pattern.pattern, text)
