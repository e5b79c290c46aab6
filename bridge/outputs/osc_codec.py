"""OSC 1.0 encoding, sans-I/O: addresses and arguments in, datagram bytes out.

Only the three type tags every receiver we target understands are produced: ``i``
(int32), ``f`` (float32) and ``s`` (string). Pure Data's ``oscparse`` knows only
``i f s b`` and TouchDesigner's OSC In CHOP only numbers (``lsl_osc.md`` §5), so there
are no doubles, int64, booleans or arrays here. Times travel as three ``i`` (day, second
of the day, microsecond; :func:`day_time`): every part stays below 2**24, so it is exact
both as an int32 (Max, liblo, python-osc) and after receivers that keep only float32
(Pure Data's ``oscparse``, TouchDesigner's CHOPs) have converted it; a float32 has a
24-bit mantissa and would round an epoch time, or an int32 of epoch seconds, to 128 s.

Encoding is on the hot path (one message per sample per stream, EEG at 256 Hz), so the
address and type tag string of a stream are encoded once, by a :class:`MessageEncoder`,
and each numeric sample then costs a single ``struct.pack`` call. :func:`encode_message`
is the general, slower entry point (any address, inferred tags).
"""

from __future__ import annotations

import math
import operator
import re
import struct
from collections.abc import Sequence
from typing import Final

__all__ = [
    "IMMEDIATELY",
    "MAX_DATAGRAM",
    "MAX_MESSAGE",
    "NTP_UNIX_OFFSET",
    "AddressError",
    "BundleBuffer",
    "FrameEncoder",
    "MessageEncoder",
    "address_segment",
    "bundle_overhead",
    "check_address",
    "day_time",
    "encode_bundle",
    "encode_message",
    "ntp_timetag",
    "osc_string",
    "pack_bundles",
    "split_time",
    "type_tags",
]

Arg = int | float | str

IMMEDIATELY: Final = 1
"""The OSC timetag meaning "now" (63 zero bits and a one)."""

MAX_DATAGRAM: Final = 1472
"""Largest datagram we send: an Ethernet MTU of 1500 minus IPv4 and UDP headers. A
larger datagram is fragmented, and on Wi-Fi a lost fragment loses the whole datagram."""

MAX_MESSAGE: Final = MAX_DATAGRAM - 20
"""Largest message we send: one that fits a 1472-byte datagram inside a bundle of its own
(``bundle_overhead(1)`` = 20 bytes), so whether a target takes bundles never changes which
messages exist, and every message fits any bundle datagram we allow."""

NTP_UNIX_OFFSET: Final = 2_208_988_800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""

_BUNDLE_HEAD: Final = b"#bundle\x00"
_TIMETAG = struct.Struct(">Q")
_SIZE = struct.Struct(">i")
_IMMEDIATE_HEAD: Final = _BUNDLE_HEAD + _TIMETAG.pack(IMMEDIATELY)
_EMPTY_BUNDLE_SIZE: Final = len(_IMMEDIATE_HEAD)
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_FLOAT32_MAX: Final = 3.4028234663852886e38
_STRING_CACHE_SIZE: Final = 256
"""Encoded strings one encoder remembers; past that, strings are encoded each time (a
marker stream with ever-new labels must not grow memory)."""

# Printable ASCII except space and the characters OSC reserves for pattern matching.
_ADDRESS_FORBIDDEN: Final = frozenset(" #*,?[]{}")
_TAG_OF: Final = {int: "i", float: "f", str: "s", bool: "i"}


class AddressError(ValueError):
    """Not a valid OSC address (or segment)."""


def osc_string(text: str) -> bytes:
    """An OSC-string: UTF-8, NUL-terminated, NUL-padded to a multiple of 4 bytes."""
    data = text.encode("utf-8")
    if b"\x00" in data:
        raise ValueError("an OSC string cannot contain NUL")
    return data + b"\x00" * (4 - len(data) % 4)


def check_address(address: str) -> str:
    """``address`` if it is a valid OSC address we may send, else :class:`AddressError`.

    ``/`` then segments of printable ASCII without space or ``# * , ? [ ] { }``, no empty
    segment. Receivers treat the reserved characters as patterns, and Max/Pd split on
    spaces.
    """
    if not address.startswith("/") or address == "/":
        raise AddressError(f"an OSC address starts with '/' and names something: {address!r}")
    for segment in address[1:].split("/"):
        if not segment:
            raise AddressError(f"empty segment in OSC address {address!r}")
        bad = sorted({c for c in segment if c in _ADDRESS_FORBIDDEN or not " " < c <= "~"})
        if bad:
            raise AddressError(f"OSC address {address!r} contains {''.join(bad)!r}")
    return address


def address_segment(label: str) -> str:
    """A channel label made safe as OSC address segments (``/`` stays a separator).

    Characters OSC reserves, spaces and non-ASCII become ``_``, so ``AF3/theta`` stays
    ``AF3/theta`` and ``a#2`` becomes ``a_2``. Empty segments become ``_``.
    """
    cleaned = "".join(
        c if (c == "/" or (" " < c <= "~" and c not in _ADDRESS_FORBIDDEN)) else "_" for c in label
    )
    return "/".join(part or "_" for part in cleaned.split("/"))


def type_tags(args: Sequence[Arg]) -> str:
    """The tags (without the comma) for ``args``: int -> i, float -> f, str -> s."""
    try:
        return "".join([_TAG_OF[type(a)] for a in args])
    except KeyError:
        bad = next(a for a in args if type(a) not in _TAG_OF)
        raise TypeError(
            f"OSC arguments must be int, float or str, not {type(bad).__name__}"
        ) from None


def _f32(value: float) -> float:
    """A float32-representable value: beyond the float32 range becomes +-inf, as in LSL."""
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        # Values that round to FLT_MAX are fine; struct refuses only true overflow.
        try:
            struct.pack(">f", value)
        except OverflowError:
            return math.copysign(math.inf, value)
    return value


def _encode_args(signature: str, args: Sequence[Arg]) -> bytes:
    """The argument bytes for ``args`` under ``signature`` (any tags of i, f, s)."""
    if len(args) != len(signature):
        raise ValueError(f"{len(args)} arguments for type tags {signature!r}")
    out: list[bytes] = []
    for tag, arg in zip(signature, args, strict=True):
        if tag == "s":
            out.append(osc_string(str(arg)))
        elif tag == "f":
            out.append(struct.pack(">f", _f32(float(arg))))
        else:
            value = int(arg)
            if not _INT32_MIN <= value <= _INT32_MAX:
                raise ValueError(f"{value} does not fit an OSC int32")
            out.append(struct.pack(">i", value))
    return b"".join(out)


def encode_message(address: str, args: Sequence[Arg]) -> bytes:
    """One OSC message; tags inferred (bool is sent as ``i``). General, not the hot path."""
    signature = type_tags(args)
    return osc_string(address) + osc_string("," + signature) + _encode_args(signature, args)


class MessageEncoder:
    """Messages for one (address, signature), with address and tags encoded once.

    ``encode(args)`` for a numeric signature (only ``i``/``f``) is one ``struct.pack``
    of the precomputed prefix and the arguments. A signature with strings is cut into
    runs at init (a string; a run of numbers with its own ``struct``), and the encoded
    form of each string is remembered (com's and fac's action names, marker labels: a
    handful of distinct values), so ``"sf"`` costs one dict lookup and one pack.
    ``size`` is the datagram size of a numeric message (``-1`` when strings make it
    variable).
    """

    __slots__ = ("_pack", "_prefix", "_runs", "_strings", "address", "signature", "size")

    def __init__(self, address: str, signature: str) -> None:
        check_address(address)
        if set(signature) - set("ifs"):
            raise ValueError(f"only i, f and s type tags are sent, not {signature!r}")
        self.address = address
        self.signature = signature
        self._prefix = osc_string(address) + osc_string("," + signature)
        self._strings: dict[str, bytes] = {}
        self._runs: list[tuple[int, int, struct.Struct | None]] = []
        if "s" in signature:
            self._pack: struct.Struct | None = None
            self.size = -1
            for match in re.finditer(r"s|[if]+", signature):
                tags = match.group()
                packer = None if tags == "s" else struct.Struct(">" + tags)
                self._runs.append((match.start(), match.end(), packer))
        else:
            self._pack = struct.Struct(f">{len(self._prefix)}s{signature}")
            self.size = self._pack.size

    def encode(self, args: Sequence[Arg]) -> bytes:
        """One message with ``args`` (``len(args)`` must match the signature).

        Floats beyond the float32 range are sent as infinities (what LSL's float32
        conversion gives), ints must fit int32.
        """
        pack = self._pack
        try:
            if pack is not None:
                return pack.pack(self._prefix, *args)
            if len(args) == len(self.signature):
                return self._encode_runs(args)
        except (OverflowError, struct.error):
            pass  # out-of-range value or wrong count: the careful path says which
        return self._prefix + _encode_args(self.signature, args)

    def _encode_runs(self, args: Sequence[Arg]) -> bytes:
        parts = [self._prefix]
        strings = self._strings
        for start, stop, packer in self._runs:
            if packer is not None:
                parts.append(packer.pack(*args[start:stop]))
                continue
            value = args[start]
            if type(value) is not str:
                parts.append(osc_string(str(value)))
                continue
            encoded = strings.get(value)
            if encoded is None:
                encoded = osc_string(value)
                if len(strings) < _STRING_CACHE_SIZE:
                    strings[value] = encoded
            parts.append(encoded)
        return b"".join(parts)


class FrameEncoder:
    """The numeric messages of one sample, encoded together as bundle elements.

    A sender whose messages have a fixed shape (the EEG vector and its electrodes, band
    means, per-channel numbers, times) describes its values as a *row* (the sample, plus
    whatever the caller adds: the time, band means) with one type tag per column, and
    each message as its :class:`MessageEncoder` and the row columns of its arguments.
    ``encode(row)`` packs the row once (every value converted once, though the EEG
    electrodes go out twice) and joins precomputed constants (each element's int32 size,
    address and type tags) with slices of the packed row: the result is exactly what
    :meth:`BundleBuffer.add` makes of the messages one by one, ready to go into a bundle
    as one part (:meth:`BundleBuffer.put`); :meth:`split` gives the messages themselves
    for a target without bundles. Values a message encoder would correct (beyond
    float32, beyond int32) raise ``OverflowError`` or ``struct.error`` here: the caller
    then encodes that sample message by message.
    """

    __slots__ = ("_gather", "_pack", "_parts", "count", "cuts", "encoders")

    def __init__(
        self, row_tags: str, messages: Sequence[tuple[MessageEncoder, Sequence[int]]]
    ) -> None:
        if not messages:
            raise ValueError("a frame holds at least one message")
        offsets = [0]  # byte offset of each row column in the packed row
        for tag in row_tags:
            offsets.append(offsets[-1] + struct.calcsize(">" + tag))
        # (constant, byte range of the packed row) pieces: one per run of consecutive
        # columns, the first of each message after its size, address and tags.
        pieces: list[tuple[bytes, int, int]] = []
        cuts: list[tuple[int, int]] = []
        at = 0
        for encoder, columns in messages:
            if encoder.size < 0 or encoder.signature != "".join(row_tags[c] for c in columns):
                raise ValueError(f"{encoder.address}: its tags are not those of row columns "
                                 f"{list(columns)}")
            head = _SIZE.pack(encoder.size) + encoder._prefix
            for k, column in enumerate(columns):
                if k and column == columns[k - 1] + 1:  # extends the current run
                    const, first, _stop = pieces[-1]
                    pieces[-1] = (const, first, offsets[column + 1])
                else:
                    pieces.append((b"" if k else head, offsets[column], offsets[column + 1]))
            cuts.append((at + _SIZE.size, at + _SIZE.size + encoder.size))
            at += _SIZE.size + encoder.size
        self.encoders = tuple(encoder for encoder, _columns in messages)
        self.count = len(messages)
        self.cuts = tuple(cuts)
        whole = len(pieces) == 1 and pieces[0][1:] == (0, offsets[-1])
        if whole:  # one message of the whole row (mot's vector): one pack, nothing else
            self._pack = struct.Struct(f">{len(pieces[0][0])}s{row_tags}").pack
            self._parts: tuple[bytes, ...] = (pieces[0][0],)
            self._gather = None
            return
        if len(pieces) == 1:  # itemgetter returns a tuple from two slices or more
            pieces.append((b"", 0, 0))
        self._pack = struct.Struct(">" + row_tags).pack
        # Constants at even places, the row's slices go to the odd ones (per call, into
        # a copy: a sender may be called from more than one thread).
        self._parts = tuple(part for const, _a, _b in pieces for part in (const, b""))
        self._gather = operator.itemgetter(*(slice(a, b) for _const, a, b in pieces))

    def encode(self, row: Sequence[Arg]) -> bytes:
        """The framed elements (size, message, size, message ...) of one row."""
        gather = self._gather
        if gather is None:
            return self._pack(*self._parts, *row)
        parts = list(self._parts)
        parts[1::2] = gather(self._pack(*row))
        return b"".join(parts)

    def split(self, framed: bytes) -> list[bytes]:
        """The messages of :meth:`encode`'s result, each as its own datagram would be."""
        return [framed[start:stop] for start, stop in self.cuts]


def encode_bundle(timetag: int, messages: Sequence[bytes]) -> bytes:
    """An OSC bundle of already encoded messages (or bundles) with an NTP ``timetag``.

    ``timetag`` is a 64-bit NTP time (:func:`ntp_timetag`), or :data:`IMMEDIATELY`.
    """
    parts = [_BUNDLE_HEAD, _TIMETAG.pack(timetag)]
    for message in messages:
        parts.append(_SIZE.pack(len(message)))
        parts.append(message)
    return b"".join(parts)


def bundle_overhead(count: int) -> int:
    """Bytes a bundle adds to ``count`` messages: header, timetag, a size per element."""
    return len(_BUNDLE_HEAD) + _TIMETAG.size + _SIZE.size * count


def pack_bundles(timetag: int, messages: Sequence[bytes], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """``messages`` as few bundles of at most ``limit`` bytes each, in order.

    A message that cannot fit a bundle of its own is left out (the caller checks sizes
    when it builds its encoders, so this does not happen for our streams).
    """
    bundles: list[bytes] = []
    group: list[bytes] = []
    size = bundle_overhead(0)
    for message in messages:
        need = _SIZE.size + len(message)
        if size + need > limit and group:
            bundles.append(encode_bundle(timetag, group))
            group, size = [], bundle_overhead(0)
        if size + need > limit:
            continue
        group.append(message)
        size += need
    if group:
        bundles.append(encode_bundle(timetag, group))
    return bundles


class BundleBuffer:
    """The messages of one loop tick for one target, as ``#bundle`` datagrams (timetag
    "immediately") of at most ``limit`` bytes each, in order.

    Sans-I/O: :meth:`add` returns a finished datagram when the next element would not fit
    (the caller sends it at once, so order holds), :meth:`take` the rest at the end of the
    tick. One send per datagram instead of one per message is the point: on Linux the
    system call, not the bytes, is what a datagram costs.
    """

    __slots__ = ("_count", "_parts", "_size", "limit")

    def __init__(self, limit: int) -> None:
        if limit < _EMPTY_BUNDLE_SIZE + _SIZE.size + 4:
            raise ValueError(f"a bundle datagram of {limit} bytes holds no message")
        self.limit = limit
        self._parts: list[bytes] = [_IMMEDIATE_HEAD]
        self._size = _EMPTY_BUNDLE_SIZE
        self._count = 0

    def __len__(self) -> int:
        """Elements waiting."""
        return self._count

    def put(self, framed: bytes, count: int) -> bool:
        """Queue ``count`` elements already framed (:meth:`FrameEncoder.encode`) as one
        part, if they all fit the current datagram; False (nothing queued) if not, and
        the caller adds them one by one (so a datagram ends where it would have)."""
        size = self._size + len(framed)
        if size > self.limit:
            return False
        self._parts.append(framed)
        self._size = size
        self._count += count
        return True

    def add(self, element: bytes) -> bytes | None:
        """Queue one message (or bundle); a datagram to send now when it did not fit the
        current one. An element too large for any bundle of ``limit`` bytes is refused
        with ``ValueError`` (the caller counts it; ours are built below
        :data:`MAX_MESSAGE`)."""
        size = len(element)
        need = _SIZE.size + size
        done = None
        if self._size + need > self.limit:
            if _EMPTY_BUNDLE_SIZE + need > self.limit:
                raise ValueError(f"a {size}-byte element does not fit a {self.limit}-byte bundle")
            done = self.take()
        parts = self._parts
        parts.append(_SIZE.pack(size))
        parts.append(element)
        self._size += need
        self._count += 1
        return done

    def take(self) -> bytes | None:
        """The datagram of what is queued (``None`` when nothing is), and empty again."""
        parts = self._parts
        if len(parts) == 1:
            return None
        data = b"".join(parts)
        self._parts = [_IMMEDIATE_HEAD]
        self._size = _EMPTY_BUNDLE_SIZE
        self._count = 0
        return data


def ntp_timetag(epoch_seconds: float) -> int:
    """The 64-bit NTP timetag (seconds since 1900 << 32 | fraction) of a Unix time.

    The seconds field wraps in February 2036 (NTP era 1), as NTP's own does.
    """
    seconds = math.floor(epoch_seconds)
    fraction = round((epoch_seconds - seconds) * 2**32)
    if fraction >= 2**32:  # the fraction rounded up to a whole second
        seconds, fraction = seconds + 1, 0
    return (((seconds + NTP_UNIX_OFFSET) % 2**32) << 32) | fraction


def split_time(seconds: float) -> tuple[int, int]:
    """A time as (whole seconds, microseconds 0..999999), for two OSC ``i`` arguments."""
    whole = math.floor(seconds)
    micros = round((seconds - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, 0
    return whole, micros


SECONDS_PER_DAY: Final = 86_400
FLOAT32_EXACT: Final = 2**24
"""Integers below this survive a float32 unchanged (24-bit mantissa)."""


def day_time(seconds: float) -> tuple[int, int, int]:
    """A time as (day, second of the day 0..86399, microsecond 0..999999).

    The form every OSC time we send takes. Each part is an integer below 2**24, so a
    receiver that turns every number into a float32 (Pure Data, TouchDesigner) keeps it
    exactly, where one int32 of Unix seconds (1796284995) arrives as 1.79629e+09. The
    day is counted from the clock's origin: 1970-01-01 UTC for Unix time (so the second
    of the day is UTC time of day), the LSL clock's own origin for LSL time.
    ``day * 86400 + second + microsecond / 1e6`` is the time again.
    """
    whole, micros = split_time(seconds)
    day, second = divmod(whole, SECONDS_PER_DAY)
    return day, second, micros
