"""Wiegand frames, converter text formats, keypad keys and PIN entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.wiegand.protocol import (
    CardRead,
    ConverterFormat,
    Garbage,
    KeyPressed,
    ParityError,
    PinAbandoned,
    PinEntered,
    PinEntry,
    Role,
    WiegandCodec,
    decode_frame,
    decode_key,
    encode_frame,
    encode_key,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (CardRead, KeyPressed, ParityError, Garbage)


def test_allegion_worked_example() -> None:
    frame = encode_frame(26, 101, 4095)
    assert format(frame, "026b") == "00110010100001111111111111"
    assert frame == 0x0CA1FFF
    assert decode_frame(26, frame) == CardRead(26, 101, 4095)


def test_parity_errors_are_detected_on_either_parity_bit() -> None:
    frame = encode_frame(26, 101, 4095)
    assert decode_frame(26, frame ^ 1) == ParityError(26, frame ^ 1)
    assert isinstance(decode_frame(26, frame ^ (1 << 25)), ParityError)
    assert isinstance(decode_frame(26, frame ^ (1 << 10)), ParityError)  # a flipped data bit too


def test_wiegand_34() -> None:
    frame = encode_frame(34, 0xBEEF, 0x1234)
    assert frame.bit_length() <= 34
    assert decode_frame(34, frame) == CardRead(34, 0xBEEF, 0x1234)
    assert isinstance(decode_frame(34, encode_frame(34, 1, 2, corrupt_parity=True)), ParityError)


def test_out_of_range_cards_are_refused() -> None:
    with pytest.raises(ValueError, match="facility 0-255"):
        encode_frame(26, 256, 1)
    with pytest.raises(ValueError, match="26- and 34-bit"):
        encode_frame(37, 1, 1)


def test_keypad_keys() -> None:
    assert encode_key("1", 8) == 0b11100001
    assert encode_key("#", 4) == 0xB
    assert encode_key("*", 4) == 0xA
    assert decode_key(8, 0b11100001) == KeyPressed("1")
    assert decode_key(8, 0b11110001) == ParityError(8, 0b11110001)
    assert decode_key(4, 0xE) is None


@pytest.mark.parametrize(
    ("fmt", "wire"),
    [
        (ConverterFormat("hex-data", b"\r"), b"650FFF\r"),
        (ConverterFormat("hex-frame"), b"0CA1FFF\r\n"),
        (ConverterFormat("bits"), b"00110010100001111111111111\r\n"),
        (ConverterFormat("decimal"), b"0006623231\r\n"),
    ],
)
def test_converter_text_formats(fmt: ConverterFormat, wire: bytes) -> None:
    assert WiegandCodec(Role.DEVICE, fmt).send(CardRead(26, 101, 4095)) == wire
    assert WiegandCodec(Role.HOST, fmt).receive_data(wire) == [CardRead(26, 101, 4095)]


def test_bad_parity_line_and_junk() -> None:
    events = WiegandCodec(Role.HOST).receive_data(b"0CA1FFE\r\nhello\r\n12345\r\n")
    assert events[0] == ParityError(26, 0x0CA1FFE)
    assert [type(e) for e in events[1:]] == [Garbage, Garbage]


def test_pin_entry_with_hash_star_timeout_and_length() -> None:
    pin = PinEntry(min_digits=4, max_digits=6, timeout_s=5.0)
    out = [e for i, k in enumerate("1234#") for e in pin.key(k, float(i))]
    assert out == [PinEntered("1234")]
    assert [e for k in "12*" for e in pin.key(k, 10.0)] == [PinAbandoned("cleared", 2)]
    assert [e for k in "12#" for e in pin.key(k, 11.0)] == [PinAbandoned("cleared", 2)]  # too short
    pin.key("9", 20.0)
    assert pin.expire(26.0) == [PinAbandoned("timeout", 1)]
    assert [e for k in "1234567" for e in pin.key(k, 30.0)] == [PinAbandoned("too_long", 7)]


cards26 = st.builds(CardRead, st.just(26), st.integers(0, 255), st.integers(0, 65535))
cards34 = st.builds(CardRead, st.just(34), st.integers(0, 65535), st.integers(0, 65535))
keys = st.builds(KeyPressed, st.sampled_from(list("0123456789*#")))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["hex-frame", "hex-data", "bits", "decimal"]),
    st.sampled_from([4, 8]),
    st.lists(st.one_of(cards26, cards34, keys), max_size=8),
    st.data(),
)
def test_events_round_trip_in_any_chunking(text: str, key_bits: int, sent: list[object], data: st.DataObject) -> None:
    if text == "decimal":  # 10 digits cannot tell keys or small W34 cards from W26 cards
        sent = [e for e in sent if isinstance(e, CardRead) and e.bits == 26]
    fmt = ConverterFormat(text, b"\r\n")  # type: ignore[arg-type]
    wire = b"".join(WiegandCodec(Role.DEVICE, fmt).send(e, key_bits=key_bits) for e in sent)  # type: ignore[arg-type]
    assert feed(WiegandCodec(Role.HOST, fmt), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from(["hex-frame", "hex-data", "bits", "decimal"]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, text: str) -> None:
    fmt = ConverterFormat(text)  # type: ignore[arg-type]
    codec = WiegandCodec(Role.HOST, fmt)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert merge_runs(events) == merge_runs(WiegandCodec(Role.HOST, fmt).receive_data(noise))
    assert len(codec._buf) <= 64
    assert all(isinstance(e, Garbage) for e in WiegandCodec(Role.DEVICE, fmt).receive_data(noise))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_resynchronises_after_garbage(noise: bytes) -> None:
    assert WiegandCodec(Role.HOST).receive_data(noise + b"\n0CA1FFF\r\n")[-1] == CardRead(26, 101, 4095)
