"""The OSC codec against python-osc's parser (an implementation we did not write).

Every message and bundle we encode must decode, with python-osc's ``OscMessage`` and
``OscBundle``, to exactly the address, type tags and values we meant (floats as their
float32 rounding). Speed is printed against python-osc's ``OscMessageBuilder``.
"""

from __future__ import annotations

import math
import struct
import timeit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

import bridge.outputs.osc_codec as osc_codec
from bridge.outputs.osc_codec import (
    IMMEDIATELY,
    MAX_DATAGRAM,
    NTP_UNIX_OFFSET,
    AddressError,
    MessageEncoder,
    address_segment,
    check_address,
    encode_bundle,
    encode_message,
    ntp_timetag,
    osc_string,
    pack_bundles,
    split_time,
    type_tags,
)

# Address segments: printable ASCII without space and OSC's reserved characters.
_SEGMENT_CHARS = "".join(
    c for c in map(chr, range(33, 127)) if c not in "#*,/?[]{}"
)
segments = st.text(alphabet=_SEGMENT_CHARS, min_size=1, max_size=12)
addresses = st.lists(segments, min_size=1, max_size=5).map(lambda s: "/" + "/".join(s))
ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
floats = st.floats(width=32, allow_nan=False)
strings = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
args_lists = st.lists(st.one_of(ints, floats, strings), max_size=24)


def f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def tags_of(dgram: bytes) -> str:
    """The type tag string as sent (python-osc hides it), read the OSC way."""
    end = dgram.index(b"\x00")
    start = (end + 4) & ~3
    return dgram[start : dgram.index(b"\x00", start)].decode()


def assert_decodes(dgram: bytes, address: str, args: list[int | float | str]) -> None:
    message = OscMessage(dgram)
    assert message.address == address
    assert tags_of(dgram) == "," + type_tags(args)
    assert len(message.params) == len(args)
    for got, sent in zip(message.params, args, strict=True):
        if isinstance(sent, str):
            assert got == sent
        elif isinstance(sent, float):
            assert isinstance(got, float)
            if math.isnan(sent):
                assert math.isnan(got)
            else:
                assert got == f32(sent)
        else:
            assert got == sent and type(got) is int


@given(addresses, args_lists)
def test_encode_message_decodes_identically(address: str, args: list[int | float | str]) -> None:
    dgram = encode_message(address, args)
    assert len(dgram) % 4 == 0
    assert_decodes(dgram, address, args)


@given(addresses, st.lists(st.one_of(ints, floats), min_size=1, max_size=64))
def test_message_encoder_matches_the_general_encoder(address: str, args: list[int | float]) -> None:
    encoder = MessageEncoder(address, type_tags(args))
    dgram = encoder.encode(args)
    assert dgram == encode_message(address, args)
    assert encoder.size == len(dgram)
    assert_decodes(dgram, address, args)


@given(addresses, st.lists(st.one_of(ints, floats, strings), min_size=1, max_size=12))
def test_message_encoder_with_strings(address: str, args: list[int | float | str]) -> None:
    encoder = MessageEncoder(address, type_tags(args))
    assert encoder.encode(args) == encode_message(address, args)
    assert_decodes(encoder.encode(args), address, args)


@given(
    st.lists(st.tuples(addresses, args_lists), min_size=1, max_size=6),
    st.one_of(
        st.just(IMMEDIATELY),
        st.floats(min_value=0, max_value=2**32 - NTP_UNIX_OFFSET - 1, allow_nan=False),
    ),
)
def test_bundles_decode_identically(
    contents: list[tuple[str, list[int | float | str]]], when: float
) -> None:
    timetag = IMMEDIATELY if when == IMMEDIATELY else ntp_timetag(when)
    dgram = encode_bundle(timetag, [encode_message(a, args) for a, args in contents])
    bundle = OscBundle(dgram)
    assert bundle.num_contents == len(contents)
    if timetag == IMMEDIATELY:
        assert bundle.timestamp == 0  # python-osc's spelling of "immediately"
    else:
        assert bundle.timestamp == pytest.approx(when, abs=1e-6)
    for message, (address, args) in zip(bundle, contents, strict=True):
        assert_decodes(message.dgram, address, args)


def test_string_signatures_remember_few_strings_and_stay_exact() -> None:
    """The ``sf`` path (com/fac action names, markers): cached strings encode as before,
    a non-string in an ``s`` slot is its text (never a cache hit for an equal number),
    a float beyond float32 still becomes inf, and the cache is bounded."""
    encoder = MessageEncoder("/emotiv/com/action", "sf")
    for _ in range(3):
        assert encoder.encode(["push", 0.5]) == encode_message("/emotiv/com/action", ["push", 0.5])
    assert OscMessage(encoder.encode([1, 0.5])).params == ["1", 0.5]
    assert OscMessage(encoder.encode([True, 0.5])).params == ["True", 0.5]
    assert OscMessage(encoder.encode(["push", 1e39])).params == ["push", math.inf]
    for k in range(1000):
        label = f"label-{k}"
        assert OscMessage(encoder.encode([label, 1.0])).params == [label, 1.0]
    assert len(encoder._strings) <= osc_codec._STRING_CACHE_SIZE
    with pytest.raises(ValueError):
        encoder.encode(["push"])


def test_nan_and_infinities_are_floats() -> None:
    dgram = MessageEncoder("/x", "fff").encode([math.nan, math.inf, -1e39])
    params = OscMessage(dgram).params
    assert math.isnan(params[0]) and params[1] == math.inf and params[2] == -math.inf


def test_out_of_range_int_is_refused() -> None:
    with pytest.raises(ValueError, match="int32"):
        encode_message("/x", [2**31])
    with pytest.raises(ValueError, match="int32"):
        MessageEncoder("/x", "i").encode([2**40])


def test_only_i_f_s_are_produced() -> None:
    with pytest.raises(TypeError, match="int, float or str"):
        encode_message("/x", [b"blob"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="only i, f and s"):
        MessageEncoder("/x", "d")
    assert type_tags([True, 1, 1.0, "a"]) == "iifs"


def test_osc_string_padding() -> None:
    assert osc_string("") == b"\x00\x00\x00\x00"
    assert osc_string("abc") == b"abc\x00"
    assert osc_string("abcd") == b"abcd\x00\x00\x00\x00"
    with pytest.raises(ValueError):
        osc_string("a\x00b")


@pytest.mark.parametrize(
    "address", ["", "/", "emotiv", "/a b", "/a//b", "/a/", "/a*", "/a#1", "/a,b", "/é"]
)
def test_bad_addresses(address: str) -> None:
    with pytest.raises(AddressError):
        check_address(address)


def test_address_segment_keeps_slashes_and_replaces_the_rest() -> None:
    assert address_segment("AF3/theta") == "AF3/theta"
    assert address_segment("a#2") == "a_2"
    assert address_segment("x y*") == "x_y_"
    assert address_segment("a//b") == "a/_/b"
    assert check_address("/p/" + address_segment("µV [raw]"))


def test_ntp_timetag() -> None:
    assert ntp_timetag(0.0) == NTP_UNIX_OFFSET << 32
    assert ntp_timetag(1.5) == ((NTP_UNIX_OFFSET + 1) << 32) | 2**31
    assert ntp_timetag(2.0 - 1e-12) == (NTP_UNIX_OFFSET + 2) << 32  # fraction rounds up
    assert ntp_timetag(-0.25) == ((NTP_UNIX_OFFSET - 1) << 32) | (3 * 2**30)
    assert ntp_timetag(2**32 - NTP_UNIX_OFFSET + 5.0) == 5 << 32  # era 1 (2036)


@given(st.floats(min_value=0, max_value=2**31 - 2, allow_nan=False))
def test_split_time(seconds: float) -> None:
    whole, micros = split_time(seconds)
    assert 0 <= micros < 1_000_000
    assert abs(whole + micros / 1e6 - seconds) <= 0.5e-6 + seconds * 1e-15


def test_pack_bundles_respects_the_limit() -> None:
    messages = [encode_message(f"/m/{i}", [float(i)] * 20) for i in range(40)]
    bundles = pack_bundles(IMMEDIATELY, messages)
    assert len(bundles) > 1
    assert all(len(b) <= MAX_DATAGRAM for b in bundles)
    decoded = [m.dgram for b in bundles for m in OscBundle(b)]
    assert decoded == messages
    too_big = encode_message("/big", [0.0] * 400)
    assert pack_bundles(IMMEDIATELY, [too_big]) == []


def test_encoding_speed_against_python_osc() -> None:
    """Ours must be >= 3x faster than OscMessageBuilder for an EEG-sized vector.

    Best of several repeats for both, interleaved, so that a loaded machine slows both.
    """
    values = [4100.0 + i * 1.25 for i in range(18)]  # EPOC X eeg: 18 channels
    encoder = MessageEncoder("/emotiv/eeg", "f" * 18)

    def ours() -> bytes:
        return encoder.encode(values)

    def theirs() -> bytes:
        builder = OscMessageBuilder("/emotiv/eeg")
        for value in values:
            builder.add_arg(value, "f")
        return bytes(builder.build().dgram)

    assert ours() == theirs()
    n = 2000
    best_ours = min(timeit.repeat(ours, number=n, repeat=7)) / n
    best_theirs = min(timeit.repeat(theirs, number=n, repeat=7)) / n
    ratio = best_theirs / best_ours
    print(
        f"\nOSC encode, 18 floats: ours {best_ours * 1e6:.2f} us, python-osc "
        f"{best_theirs * 1e6:.2f} us, ratio {ratio:.1f}x"
    )
    assert ratio >= 3.0
