"""CAS continuous-output codec: the three frame formats, lamp bits, commands, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.cas.protocol import (
    LAMP_GROSS,
    LAMP_STABLE,
    LAMP_TARE,
    CasCodec,
    CasCommand,
    CasFrame,
    Garbage,
    Role,
    encode_frame,
    lamp_byte,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (CasFrame, CasCommand, Garbage)
CAS22 = bytes.fromhex("53 54 2C 47 53 2C 31 C4 2C 30 30 30 30 31 33 2E 35 20 6B 67 0D 0A")
AND18 = bytes.fromhex("53 54 2C 47 53 2C 2B 30 30 31 33 2E 35 30 6B 67 0D 0A")


def host() -> CasCodec:
    """Return a host-side codec."""
    return CasCodec(Role.HOST)


def test_22_byte_frame_golden() -> None:
    [frame] = host().receive_data(CAS22)
    assert frame == CasFrame("ST", "GS", 13.5, "kg", 1, 0xC4, "1", "cas22")
    assert frame.stable
    assert not frame.net
    assert len(CAS22) == 22
    assert encode_frame(CasFrame("ST", "GS", 13.5, "kg", 1, None, "1", "cas22")) == CAS22


def test_lamp_byte_bits() -> None:
    assert lamp_byte(stable=True, gross=True, tare=False, zero=False) == 0xC4
    assert lamp_byte(stable=False, gross=False, tare=True, zero=False) == 0x80 | LAMP_TARE
    assert 0xC4 & LAMP_STABLE
    assert 0xC4 & LAMP_GROSS


def test_18_byte_and_format_golden() -> None:
    assert len(AND18) == 18
    [frame] = host().receive_data(AND18)
    assert (frame.status, frame.mode, frame.value, frame.unit, frame.format) == ("ST", "GS", 13.5, "kg", "and18")  # type: ignore[union-attr]
    assert encode_frame(CasFrame("ST", "GS", 13.5, "kg", 2, None, "1", "and18")) == AND18


def test_and_format_with_parity_bits_is_masked_on_a_seven_bit_line() -> None:
    with_parity = bytes(b | 0x80 if b.bit_count() % 2 else b for b in AND18)  # even parity in bit 7
    assert with_parity != AND18
    [frame] = CasCodec(Role.HOST, seven_bit=True).receive_data(with_parity)
    assert isinstance(frame, CasFrame)
    assert frame.value == 13.5


def test_10_byte_data_only_format() -> None:
    events = CasCodec(Role.HOST, unit_for_data10="g").receive_data(b"000250.0\r\n")
    assert events == [CasFrame(None, None, 250.0, "g", 1, None, "1", "data10")]
    assert events[0].stable  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "status", "net"),
    [
        (b"US,GS,1\x84,000013.5 kg\r\n", "US", False),
        (b"ST,NT,1\xc2,000000.0 kg\r\n", "ST", True),
        (b"OL,GS,1\x84,  --OL-- kg\r\n", "OL", False),
    ],
)
def test_status_and_mode(line: bytes, status: str, net: bool) -> None:
    [frame] = host().receive_data(line)
    assert isinstance(frame, CasFrame)
    assert (frame.status, frame.net) == (status, net)
    assert frame.stable is (status == "ST")
    assert frame.overload is (status == "OL")


def test_overload_frame_has_no_value() -> None:
    [frame] = host().receive_data(b"OL,GS,1\x84,  --OL-- kg\r\n")
    assert isinstance(frame, CasFrame)
    assert frame.value is None


def test_commands() -> None:
    assert host().send(CasCommand("ZE")) == b"ZE\r\n"
    assert CasCodec(Role.DEVICE).receive_data(b"ZE\r\nTR\r\nXX\r\n") == [
        CasCommand("ZE"),
        CasCommand("TR"),
        Garbage(b"XX", "not a CAS command"),
    ]


def test_value_must_fit_the_data_field() -> None:
    with pytest.raises(ValueError, match="8-character"):
        encode_frame(CasFrame("ST", "GS", 123456789.0, "kg", 1))


def decimals_value(n: int, d: int) -> float:
    """Return ``n`` scaled by ``10**-d``."""
    return n / 10**d


frames = st.one_of(
    st.builds(
        lambda st_, mode, n, d, unit, lamp: CasFrame(st_, mode, decimals_value(n, d), unit, d, lamp, "1", "cas22"),
        st.sampled_from(["ST", "US", "OL"]),
        st.sampled_from(["GS", "NT"]),
        st.integers(-99_999, 999_999),
        st.integers(1, 3),
        st.sampled_from(["kg", "g", "lb"]),
        st.integers(0x80, 0xFF),
    ),
    st.builds(
        lambda st_, mode, n, d, unit: CasFrame(st_, mode, decimals_value(n, d), unit, d, None, "1", "and18"),
        st.sampled_from(["ST", "US", "OL"]),
        st.sampled_from(["GS", "NT"]),
        st.integers(-99_999, 99_999),
        st.integers(1, 3),
        st.sampled_from(["kg", "g", "lb"]),
    ),
    st.builds(
        lambda n, d: CasFrame(None, None, decimals_value(n, d), "kg", d, None, "1", "data10"),
        st.integers(-99_999, 999_999),
        st.integers(1, 3),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=8), st.data())
def test_frames_round_trip_in_any_chunking(sent: list[CasFrame], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(f) for f in sent)
    assert feed(host(), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = CasCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert merge_runs(events) == merge_runs(CasCodec(role).receive_data(noise))
    assert len(codec._buf) <= 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_resynchronises_after_garbage(noise: bytes) -> None:
    assert host().receive_data(noise + b"\n" + CAS22)[-1] == CasFrame("ST", "GS", 13.5, "kg", 1, 0xC4, "1", "cas22")
