"""A faster ``push_sample`` for float32 outlets (the hot path's LSL half).

pylsl's ``push_sample`` builds a new ctypes array per sample (``(c_float * n)(*x)``),
which costs more than the liblsl call itself. liblsl copies the sample before
``lsl_push_sample_ftp`` returns, so one buffer per outlet can be reused: the values are
packed into it with one precompiled ``struct.pack_into``, which rounds to float32
exactly as the ctypes conversion does.

The liblsl function is called through a handle of our own with its argument types
declared (pylsl's has none), so ctypes converts the timestamp and the flag itself instead
of Python building a ``c_double`` per sample, and the error check is one comparison;
pylsl's ``handle_error`` runs only for a failed push.

Anything the packer refuses (a wrong channel count, a value beyond float32, a
non-number) makes the pusher return False, and the caller falls back to pylsl's own
``push_sample``, which then behaves (and raises) exactly as before.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from typing import Any

import pylsl
from pylsl.util import handle_error

Pusher = Callable[[Sequence[Any], float], bool]


def _push_function() -> Any:
    """``lsl_push_sample_ftp`` with declared argument types, on a library handle of our
    own (pylsl's function object, which has none, is left as it is)."""
    function = ctypes.CDLL(pylsl.lib.lib._name).lsl_push_sample_ftp
    function.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_double,
                         ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_push_ftp = _push_function()


def float32_pusher(outlet: pylsl.StreamOutlet) -> Pusher | None:
    """A pusher for ``outlet`` (pushthrough on), or None if it is not a float32 outlet.

    The pusher keeps ``outlet`` alive: drop it when the outlet is closed.
    """
    if outlet.channel_format != pylsl.cf_float32:
        return None
    count = outlet.channel_count
    buffer = (ctypes.c_float * count)()
    pack_into = struct.Struct(f"={count}f").pack_into
    push = _push_ftp

    def push_float32(sample: Sequence[Any], timestamp: float) -> bool:
        try:
            pack_into(buffer, 0, *sample)
        except (struct.error, OverflowError, TypeError):
            return False
        # ``outlet.obj``, not a copy of the handle: the closure keeps the outlet alive
        code = push(outlet.obj, buffer, timestamp, 1)
        if code:
            handle_error(code)
        return True

    return push_float32
