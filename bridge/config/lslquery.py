"""The marker predicate (``markers.lsl_predicate``), judged by liblsl itself.

liblsl evaluates a resolve predicate as ``/info[session_id='...' and <predicate>]`` on
each stream it hears of, and a predicate it cannot compile matches nothing, with no error
to the caller: the marker input would stay silently off. A faithful Python parser of
pugixml's XPath would drift from it, so liblsl is asked, without any network: pylsl is
imported only when a predicate is checked, and each distinct predicate once.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Callable, Iterator


@functools.lru_cache(maxsize=64)
def lsl_predicate_problem(predicate: str) -> str | None:
    """Why liblsl cannot parse ``predicate``, or None when it can (or cannot be asked).

    liblsl evaluates a resolve predicate as ``/info[session_id='...' and <predicate>]``
    on each stream it hears of, and a predicate it cannot compile matches nothing, with
    no error to the caller: the marker input would stay silently off. Here liblsl
    compiles the same query against a local stream description (no network): with
    ``or true()`` appended, a query that compiles matches, whatever the predicate says,
    and one that does not compile never does.
    """
    if not predicate.strip():
        return None  # "must not be empty" is the other validator's line
    if "\0" in predicate:
        return "must not contain a NUL character"
    try:
        query = f"session_id='cortex-bridge' and {predicate} or true()".encode()
    except UnicodeEncodeError:
        return "must be valid UTF-8 text"
    matches = _liblsl_matcher()
    if matches is None:
        return None
    if matches(query):
        return None
    return (f"liblsl cannot parse {predicate[:60]!r} as a stream predicate (XPath 1.0, "
            "e.g. type='Markers' or name='PsychoPy Markers')")


@functools.lru_cache(maxsize=1)
def _liblsl_matcher() -> Callable[[bytes], bool] | None:
    """``query -> whether it matches`` through liblsl, or None without a usable liblsl."""
    try:
        import pylsl
        from pylsl.lib import lib
    except (ImportError, OSError, RuntimeError):
        return None
    function = getattr(lib, "lsl_stream_info_matches_query", None)
    if function is None:
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    with _quiet_stderr():  # the first liblsl call logs where its configuration came from
        info = pylsl.StreamInfo("cortex-bridge-check", "Markers", 1, 0, pylsl.cf_string, "check")

    def matches(query: bytes) -> bool:
        with _quiet_stderr():  # liblsl logs a warning for a query it cannot compile
            return bool(function(info.obj, query))

    return matches


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for a moment: liblsl writes its log there itself,
    and our own one-line message says what its warning would have said."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


