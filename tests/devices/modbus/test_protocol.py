"""Modbus RTU codec: the vector table of the protocol notes, CRC, exceptions, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.modbus.protocol import (
    ILLEGAL_VALUE,
    READ_COILS,
    READ_DISCRETE_INPUTS,
    BitsReply,
    ExceptionReply,
    FlashCoil,
    Garbage,
    ModbusCodec,
    ReadBits,
    Role,
    WriteCoil,
    crc16,
    crc_ok,
    encode,
    flash_units,
    with_crc,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (WriteCoil, FlashCoil, ReadBits, BitsReply, ExceptionReply, Garbage)


@pytest.mark.parametrize(
    ("request_", "wire"),
    [
        (WriteCoil(1, 0, True), "01 05 00 00 FF 00 8C 3A"),
        (WriteCoil(1, 0, False), "01 05 00 00 00 00 CD CA"),
        (WriteCoil(1, 1, True), "01 05 00 01 FF 00 DD FA"),
        (ReadBits(1, READ_COILS, 0, 8), "01 01 00 00 00 08 3D CC"),
        (ReadBits(1, READ_DISCRETE_INPUTS, 0, 8), "01 02 00 00 00 08 79 CC"),
    ],
)
def test_request_vectors(request_: object, wire: str) -> None:
    assert encode(request_) == bytes.fromhex(wire)  # type: ignore[arg-type]
    assert ModbusCodec(Role.DEVICE).receive_data(bytes.fromhex(wire)) == [request_]


def test_reply_vectors() -> None:
    host = ModbusCodec(Role.HOST)
    host.send(ReadBits(1, READ_COILS, 0, 8))
    assert host.receive_data(bytes.fromhex("01 01 01 01 90 48")) == [BitsReply(1, READ_COILS, (True,) + (False,) * 7)]
    host.send(ReadBits(1, READ_DISCRETE_INPUTS, 0, 8))
    assert host.receive_data(bytes.fromhex("01 02 01 05 61 8B")) == [
        BitsReply(1, READ_DISCRETE_INPUTS, (True, False, True) + (False,) * 5)
    ]
    assert host.receive_data(bytes.fromhex("01 85 02 C3 51")) == [ExceptionReply(1, 0x05, 0x02)]


def test_waveshare_toggle_is_not_taken_for_on_or_off() -> None:
    assert ModbusCodec(Role.DEVICE).receive_data(bytes.fromhex("01 05 00 00 55 00 F2 9A")) == [
        ExceptionReply(1, 0x05, ILLEGAL_VALUE)
    ]


def test_crc_low_byte_first() -> None:
    assert crc16(bytes.fromhex("01 05 00 00 FF 00")) == 0x3A8C
    assert crc_ok(bytes.fromhex("01 05 00 00 FF 00 8C 3A"))
    assert not crc_ok(bytes.fromhex("01 05 00 00 FF 00 3A 8C"))


def test_reply_count_follows_the_request() -> None:
    host = ModbusCodec(Role.HOST)
    host.send(ReadBits(1, READ_DISCRETE_INPUTS, 0, 2))
    [reply] = host.receive_data(encode(BitsReply(1, READ_DISCRETE_INPUTS, (True, True))))
    assert reply == BitsReply(1, READ_DISCRETE_INPUTS, (True, True))


requests = st.one_of(
    st.builds(
        WriteCoil,
        st.integers(0, 247),
        st.integers(0, 65535).filter(lambda a: a >> 8 != 0x02),  # 0x02NN is the flash command
        st.booleans(),
    ),
    st.builds(FlashCoil, st.integers(0, 247), st.integers(0, 255), st.integers(1, 0x7FFF)),
    st.builds(
        ReadBits,
        st.integers(0, 247),
        st.sampled_from([READ_COILS, READ_DISCRETE_INPUTS]),
        st.integers(0, 65535),
        st.integers(1, 2000),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(requests, max_size=8), st.data())
def test_requests_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(encode(r) for r in sent)  # type: ignore[arg-type]
    assert feed(ModbusCodec(Role.DEVICE), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=64), st.integers(1, 247), st.data())
def test_bit_replies_round_trip_in_any_chunking(bits: list[bool], unit: int, data: st.DataObject) -> None:
    host = ModbusCodec(Role.HOST)
    host.send(ReadBits(unit, READ_COILS, 0, len(bits)))
    reply = BitsReply(unit, READ_COILS, tuple(bits))
    assert feed(host, data.draw(chunkings(encode(reply)))) == [reply]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = ModbusCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert len(codec._buf) <= 260
    if role is Role.DEVICE:  # fixed 8-byte requests: the decoding does not depend on chunking
        assert merge_runs(events) == merge_runs(ModbusCodec(role).receive_data(noise))


def test_flash_on_matches_the_waveshare_vector() -> None:
    # Waveshare Modbus RTU Relay protocol V2: relay 0 "flash on" for 7 x 100 ms
    assert encode(FlashCoil(1, 0, 7)) == bytes.fromhex("01 05 02 00 00 07 8D B0")
    [request] = ModbusCodec(Role.DEVICE).receive_data(bytes.fromhex("01 05 02 00 00 07 8D B0"))
    assert request == FlashCoil(1, 0, 7)
    assert request.seconds == pytest.approx(0.7)
    host = ModbusCodec(Role.HOST)
    assert host.receive_data(encode(FlashCoil(1, 3, 50))) == [FlashCoil(1, 3, 50)]  # the echo


def test_flash_units_round_up_and_stay_in_range() -> None:
    assert flash_units(0.5) == 5
    assert flash_units(0.7) == 7
    assert flash_units(0.01) == 1
    assert flash_units(5.04) == 51
    assert flash_units(10_000) == 0x7FFF


def test_flash_with_no_time_is_an_illegal_value_and_plain_writes_never_use_its_page() -> None:
    zero = bytes.fromhex("01 05 02 00 00 00")
    assert ModbusCodec(Role.DEVICE).receive_data(with_crc(zero)) == [ExceptionReply(1, 5, ILLEGAL_VALUE)]
    with pytest.raises(ValueError, match="flash"):
        encode(WriteCoil(1, 0x0201, True))
