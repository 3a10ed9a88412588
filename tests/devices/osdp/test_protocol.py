"""OSDP framing codec: libosdp's unit-test vectors, CRC and checksum, security blocks, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.osdp.protocol import (
    ACK,
    POLL,
    RAW,
    Garbage,
    OsdpCodec,
    Packet,
    RawCard,
    Role,
    checksum,
    crc16,
    encode,
    encode_raw,
    parse_raw,
    poll,
)
from tests.devices.helpers import chunkings, feed, merge_runs


def test_poll_vectors() -> None:
    assert encode(Packet(0x65, POLL)) == bytes.fromhex("53 65 08 00 04 60 60 90")
    assert poll(0x01) == bytes.fromhex("53 01 08 00 04 60 BA 00")
    assert OsdpCodec(Role.DEVICE).receive_data(bytes.fromhex("53 65 08 00 04 60 60 90")) == [Packet(0x65, POLL)]


def test_ack_vector() -> None:
    wire = bytes.fromhex("53 81 08 00 04 40 08 06")
    assert encode(Packet(1, ACK, reply=True)) == wire
    [packet] = OsdpCodec(Role.HOST).receive_data(wire)
    assert isinstance(packet, Packet)
    assert packet.name == "ACK"
    assert packet.reply


def test_raw_wiegand_card_vector() -> None:
    wire = bytes.fromhex("53 81 10 00 05 50 00 01 1A 00 32 87 FF C0 3A 82")
    [packet] = OsdpCodec(Role.HOST).receive_data(wire)
    assert isinstance(packet, Packet)
    assert (packet.code, packet.sqn) == (RAW, 1)
    card = parse_raw(packet.data)
    assert card == RawCard(reader=0, format=1, bit_count=26, bits=0x0CA1FFF)
    assert encode(Packet(1, RAW, encode_raw(card), sqn=1, reply=True)) == wire


def test_crc_and_checksum() -> None:
    assert crc16(bytes.fromhex("53 65 08 00 04 60")) == 0x9060
    body = bytes.fromhex("53 01 07 00 00 60")
    assert (sum(body) + checksum(body)) & 0xFF == 0
    assert OsdpCodec(Role.DEVICE).receive_data(body + bytes([checksum(body)])) == [Packet(1, POLL, use_crc=False)]


def test_bad_crc_and_mark_byte() -> None:
    bad = bytearray(poll(1))
    bad[-1] ^= 0xFF
    events = OsdpCodec(Role.DEVICE).receive_data(bytes(bad) + b"\xff" + poll(2))
    assert isinstance(events[0], Garbage)
    assert events[-1] == Packet(2, POLL)


def test_packets_for_the_other_side_are_garbage() -> None:
    assert isinstance(OsdpCodec(Role.HOST).receive_data(poll(1))[0], Garbage)


def test_secure_block_and_mac() -> None:
    packet = Packet(1, 0x60, b"", sqn=2, scb=bytes([2, 0x15]), mac=b"\x01\x02\x03\x04")
    assert OsdpCodec(Role.DEVICE).receive_data(encode(packet)) == [packet]


def test_poll_to_broadcast_contains_no_8217_command_character() -> None:
    assert not set(poll()) & set(b"WZTCEF")  # the probe must not zero or tare a scale


scbs = st.one_of(
    st.none(),
    st.builds(
        lambda t, extra: bytes([2 + len(extra), t]) + extra,
        st.sampled_from([0x11, 0x12, 0x13, 0x14]),
        st.binary(max_size=16),
    ),
    st.builds(lambda t: bytes([2, t]), st.sampled_from([0x15, 0x16, 0x17, 0x18])),
)


@st.composite
def packets(draw: st.DrawFn, reply: bool) -> Packet:
    """Draw a packet going one way."""
    scb = draw(scbs)
    mac = draw(st.binary(min_size=4, max_size=4)) if scb is not None and scb[1] >= 0x15 else None
    return Packet(
        draw(st.integers(0, 0x7F)),
        draw(st.integers(0, 255)),
        draw(st.binary(max_size=64)),
        draw(st.integers(0, 3)),
        reply,
        draw(st.booleans()),
        scb,
        mac,
    )


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.data())
def test_packets_round_trip_in_any_chunking(reply: bool, data: st.DataObject) -> None:
    sent = data.draw(st.lists(packets(reply), max_size=6))
    wire = b"".join(encode(p, mark=data.draw(st.booleans())) for p in sent)
    codec = OsdpCodec(Role.HOST if reply else Role.DEVICE)
    assert feed(codec, data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = OsdpCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, (Packet, Garbage)) for e in events)
    assert merge_runs(events) == merge_runs(OsdpCodec(role).receive_data(noise))
    assert len(codec._buf) <= 1440


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_parse_raw_never_crashes(data: bytes) -> None:
    card = parse_raw(data)
    assert card is None or card.bit_count <= (len(data) - 4) * 8
