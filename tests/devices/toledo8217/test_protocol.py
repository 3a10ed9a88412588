"""Toledo 8217 codec: golden frames, status bits, echo mode, 7E1 masking, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.toledo8217.protocol import (
    CLEAR,
    ECHO_OFF,
    ECHO_ON,
    MOTION,
    NET_MODE,
    OVER_CAPACITY,
    PROBE_REPLY,
    PROBE_REQUEST,
    TARE,
    UNDER_ZERO,
    WEIGH,
    ZERO,
    DigitalTare,
    Echo,
    EchoMode,
    Garbage,
    Role,
    ScaleCommand,
    StatusFrame,
    Toledo8217Codec,
    WeightFrame,
    encode_weight,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (ScaleCommand, DigitalTare, WeightFrame, StatusFrame, EchoMode, Echo, Garbage)


def host() -> Toledo8217Codec:
    """Return a host-side codec."""
    return Toledo8217Codec(Role.HOST)


def device() -> Toledo8217Codec:
    """Return a device-side codec."""
    return Toledo8217Codec(Role.DEVICE)


def test_commands_are_single_characters_without_terminator() -> None:
    codec = host()
    assert [codec.send(c) for c in (WEIGH, ZERO, TARE, CLEAR, ECHO_ON, ECHO_OFF)] == [
        b"W",
        b"Z",
        b"T",
        b"C",
        b"E",
        b"F",
    ]
    assert codec.send(DigitalTare(1.234)) == b"T01234"


def test_gross_kg_weight_frame() -> None:
    wire = bytes.fromhex("02 30 31 2E 32 33 34 0D")
    assert encode_weight(WeightFrame(1.234, "kg")) == wire
    assert host().receive_data(wire) == [WeightFrame(1.234, "kg", net=False)]


def test_net_weight_frame_adds_n() -> None:
    wire = bytes.fromhex("02 30 31 2E 32 33 34 4E 0D")
    assert encode_weight(WeightFrame(1.234, "kg", net=True)) == wire
    assert host().receive_data(wire) == [WeightFrame(1.234, "kg", net=True)]


def test_lb_frame_has_two_decimals() -> None:
    assert encode_weight(WeightFrame(12.34, "lb")) == b"\x02012.34\r"
    assert host().receive_data(b"\x02012.34\r") == [WeightFrame(12.34, "lb")]


def test_forced_unit_overrides_the_decimals_rule() -> None:
    assert Toledo8217Codec(Role.HOST, unit="lb").receive_data(b"\x0201.234\r") == [WeightFrame(1.234, "lb")]


def test_negative_weights_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="never negative"):
        encode_weight(WeightFrame(-1.0, "kg"))


@pytest.mark.parametrize(
    ("wire", "attribute"),
    [
        ("02 3F 41 0D", "motion"),
        ("02 3F 42 0D", "over_capacity"),
        ("02 3F 44 0D", "under_zero"),
        ("02 3F 48 0D", "outside_zero_range"),
        ("02 3F 50 0D", "center_of_zero"),
        ("02 3F 60 0D", "net"),
    ],
)
def test_status_bits(wire: str, attribute: str) -> None:
    [frame] = host().receive_data(bytes.fromhex(wire))
    assert isinstance(frame, StatusFrame)
    assert getattr(frame, attribute) is True
    others = {"motion", "over_capacity", "under_zero", "outside_zero_range", "center_of_zero", "net"} - {attribute}
    assert not any(getattr(frame, name) for name in others)


def test_first_problem_is_named_like_odoo_logs_it() -> None:
    assert StatusFrame(MOTION | UNDER_ZERO).first_problem() == "motion"
    assert StatusFrame(NET_MODE).first_problem() is None
    assert device().send(StatusFrame(OVER_CAPACITY)) == b"\x02?B\r"


def test_ehello_probe_bytes() -> None:
    assert PROBE_REQUEST == bytes.fromhex("45 68 65 6C 6C 6F")
    assert bytes.fromhex("02 45 0D 68 65 6C 6C 6F") == PROBE_REPLY
    codec = device()
    events = codec.receive_data(PROBE_REQUEST)
    assert events == [ECHO_ON, Echo(b"hello")]
    assert codec.receive_data(b"F") == [ECHO_OFF]
    assert codec.receive_data(b"W") == [WEIGH]


def test_host_sees_echo_mode_and_echoed_text() -> None:
    codec = host()
    assert codec.receive_data(PROBE_REPLY) == [EchoMode(True), Echo(b"hello")]
    assert codec.echo_mode
    assert codec.receive_data(b"\x02F\r") == [EchoMode(False)]
    assert codec.receive_data(b"xy") == [Garbage(b"xy", "outside a frame")]


def test_parity_bit_is_masked() -> None:
    with_parity = bytes(b | 0x80 for b in bytes.fromhex("02 30 31 2E 32 33 34 0D"))
    assert host().receive_data(with_parity) == [WeightFrame(1.234, "kg")]
    assert device().receive_data(bytes([ord("W") | 0x80])) == [WEIGH]


def test_lone_t_is_held_until_the_next_byte_or_idle() -> None:
    codec = device()
    assert codec.receive_data(b"T") == []
    assert codec.idle() == [TARE]
    assert codec.receive_data(b"TW") == [TARE, WEIGH]
    assert codec.receive_data(b"T0123") == []
    assert codec.receive_data(b"4") == [DigitalTare(1.234)]
    assert [type(e) for e in codec.receive_data(b"T12W")] == [Garbage, ScaleCommand]


def test_stx_without_cr_is_skipped_and_parsing_resumes() -> None:
    events = host().receive_data(b"\x02" + b"9" * 30 + b"\x0201.000\r")
    assert events[-1] == WeightFrame(1.0, "kg")
    assert isinstance(events[0], Garbage)


weights_kg = st.builds(lambda n: n / 1000, st.integers(0, 99_999))
weights_lb = st.builds(lambda n: n / 100, st.integers(0, 99_999))
frames = st.one_of(
    st.builds(WeightFrame, weights_kg, st.just("kg"), st.booleans()),
    st.builds(WeightFrame, weights_lb, st.just("lb"), st.booleans()),
    st.builds(StatusFrame, st.integers(0, 0x3F)),
)
commands = st.one_of(st.sampled_from([WEIGH, ZERO, TARE, CLEAR]), st.builds(DigitalTare, weights_kg))


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=8), st.data())
def test_frames_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(device().send(f) for f in sent)  # type: ignore[arg-type]
    assert feed(host(), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=8), st.data())
def test_commands_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(host().send(c) for c in sent)  # type: ignore[arg-type]
    codec = device()
    assert [*feed(codec, data.draw(chunkings(wire))), *codec.idle()] == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = Toledo8217Codec(role)
    events = [*feed(codec, data.draw(chunkings(noise))), *codec.idle()]
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    whole = Toledo8217Codec(role)
    assert merge_runs(events) == merge_runs([*whole.receive_data(noise), *whole.idle()])
    assert len(codec._buf) <= 16


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_host_resynchronises_after_garbage(noise: bytes) -> None:
    events = host().receive_data(noise + b"\r\x0212.345\r")
    assert events[-1] == WeightFrame(12.345, "kg")
