"""MT-SICS codec: golden bytes from the protocol notes, round trips, fuzzing, resynchronisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.mtsics.protocol import (
    CLEAR_TARE,
    RESET,
    WEIGH_IMMEDIATE,
    WEIGH_STABLE,
    ZERO,
    Command,
    CommandLine,
    Garbage,
    MtSicsCodec,
    Role,
    SicsError,
    StatusReply,
    TextReply,
    WeightReply,
    format_weight,
    preset_tare,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (WeightReply, StatusReply, TextReply, SicsError, CommandLine, Garbage)


def host() -> MtSicsCodec:
    """Return a host-side codec."""
    return MtSicsCodec(Role.HOST)


def device() -> MtSicsCodec:
    """Return a device-side codec."""
    return MtSicsCodec(Role.DEVICE)


# ---------------------------------------------------------------- golden vectors (device-protocols.md §1.1)
def test_weigh_command_bytes() -> None:
    assert host().send(WEIGH_STABLE) == bytes.fromhex("53 0D 0A")
    assert host().send(WEIGH_IMMEDIATE) == b"SI\r\n"
    assert host().send(preset_tare("2.486", "g")) == b"TA 2.486 g\r\n"


def test_stable_weight_reply_bytes() -> None:
    wire = bytes.fromhex("53 20 53 20 20 20 20 20 31 30 30 2E 30 30 20 67 0D 0A")
    assert device().send(WeightReply("S", "S", "100.00", "g")) == wire
    assert host().receive_data(wire) == [WeightReply("S", "S", "100.00", "g")]


def test_dynamic_weight_is_unstable() -> None:
    [reply] = host().receive_data(b"S D     129.07 g\r\n")
    assert isinstance(reply, WeightReply)
    assert not reply.stable
    assert reply.number == pytest.approx(129.07)


def test_negative_weight_keeps_its_sign() -> None:
    [reply] = host().receive_data(b"S S    -100.00 g\r\n")
    assert isinstance(reply, WeightReply)
    assert reply.number == -100.0


def test_errors_without_status() -> None:
    assert host().receive_data(bytes.fromhex("45 53 0D 0A")) == [SicsError("ES")]
    events = host().receive_data(b"ET\r\nEL\r\n")
    assert [e.meaning for e in events if isinstance(e, SicsError)] == ["transmission error", "logical error"]


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b"S I\r\n", StatusReply("S", "I")),
        (b"S +\r\n", StatusReply("S", "+")),
        (b"S -\r\n", StatusReply("S", "-")),
        (b"Z A\r\n", StatusReply("Z", "A")),
        (b"Z I\r\n", StatusReply("Z", "I")),
        (b"TAC A\r\n", StatusReply("TAC", "A")),
        (b"T S      2.486 g\r\n", WeightReply("T", "S", "2.486", "g")),
        (b"TA A      2.486 g\r\n", WeightReply("TA", "A", "2.486", "g")),
        (b'I4 A "0123456789"\r\n', TextReply("I4", "A", "0123456789")),
    ],
)
def test_reply_table(line: bytes, event: object) -> None:
    assert host().receive_data(line) == [event]


def test_weight_is_right_aligned_in_ten_characters() -> None:
    assert format_weight(100.0, 2) == "    100.00"
    assert format_weight(-0.5, 3) == "    -0.500"


def test_device_side_parses_commands() -> None:
    events = device().receive_data(b"S\r\nSI\r\nZ\r\nTA 2.486 g\r\nTAC\r\n@\r\n")
    assert [e.command for e in events if isinstance(e, CommandLine)] == [
        WEIGH_STABLE,
        WEIGH_IMMEDIATE,
        ZERO,
        Command("TA", ("2.486", "g")),
        CLEAR_TARE,
        RESET,
    ]


# ---------------------------------------------------------------- garbage and partial lines
def test_partial_line_waits_for_its_end() -> None:
    codec = host()
    assert codec.receive_data(b"S S     10") == []
    assert codec.receive_data(b"0.00 g\r") == []
    assert codec.receive_data(b"\n") == [WeightReply("S", "S", "100.00", "g")]


def test_wrong_baud_bytes_are_garbage_then_the_next_line_decodes() -> None:
    events = host().receive_data(b"\xf0\x8c\x99\x00\xfe\r\nS S     1.00 g\r\n")
    assert isinstance(events[0], Garbage)
    assert events[1] == WeightReply("S", "S", "1.00", "g")


def test_overlong_line_is_dropped_not_buffered() -> None:
    codec = host()
    events = codec.receive_data(b"X" * 10_000 + b"\r\nZ A\r\n")
    assert [type(e) for e in events] == [Garbage, StatusReply]
    assert len(events[0].data) <= 128  # type: ignore[union-attr]


def test_reset_drops_a_partial_line() -> None:
    codec = host()
    codec.receive_data(b"garbage-without-end")
    codec.reset()
    assert codec.receive_data(b"Z A\r\n") == [StatusReply("Z", "A")]


# ---------------------------------------------------------------- properties
values = st.builds(lambda n, d: f"{n / 10**d:.{d}f}", st.integers(-99_999_999, 999_999_999), st.integers(0, 3))
replies = st.one_of(
    st.builds(
        WeightReply,
        st.sampled_from(["S", "T", "TA"]),
        st.sampled_from(list("SDA")),
        values,
        st.sampled_from(["g", "kg", "mg", "lb"]),
    ),
    st.builds(StatusReply, st.sampled_from(["S", "Z", "T", "TAC", "SI"]), st.sampled_from(list("AI+-L"))),
    st.builds(
        TextReply,
        st.sampled_from(["I4", "I2", "I3"]),
        st.just("A"),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'), max_size=20),
    ),
    st.builds(SicsError, st.sampled_from(["ES", "ET", "EL"])),
)
commands = st.one_of(
    st.sampled_from(
        [
            WEIGH_STABLE,
            WEIGH_IMMEDIATE,
            ZERO,
            CLEAR_TARE,
            RESET,
            Command("T"),
            Command("TI"),
            Command("ZI"),
            Command("TA"),
        ]
    ),
    st.builds(lambda v: preset_tare(v, "g"), values),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(replies, max_size=8), st.data())
def test_replies_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(device().send(r) for r in sent)  # type: ignore[arg-type]
    assert feed(host(), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=8), st.data())
def test_commands_round_trip_in_any_chunking(sent: list[Command], data: st.DataObject) -> None:
    wire = b"".join(host().send(c) for c in sent)
    assert feed(device(), data.draw(chunkings(wire))) == [CommandLine(c) for c in sent]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash_and_never_buffer_without_bound(
    noise: bytes, data: st.DataObject, role: Role
) -> None:
    codec = MtSicsCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert merge_runs(events) == merge_runs(codec_whole(role, noise))


def codec_whole(role: Role, data: bytes) -> list[object]:
    """Decode ``data`` in one piece."""
    return MtSicsCodec(role).receive_data(data)  # type: ignore[return-value]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_resynchronises_after_garbage(noise: bytes) -> None:
    events = host().receive_data(noise + b"\r\nS S     42.00 g\r\n")
    assert events[-1] == WeightReply("S", "S", "42.00", "g")
