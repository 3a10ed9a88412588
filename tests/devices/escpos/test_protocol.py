"""ESC/POS pole display codec: the command table, the TOTAL golden vector, CD5220, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.escpos.protocol import (
    CLEAR,
    INIT,
    EscposCodec,
    Garbage,
    MoveCursor,
    Op,
    Role,
    Setting,
    Simple,
    Text,
    WriteLine,
    encode,
    encode_all,
    encode_text,
    setup,
    show_lines,
    total_screen,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (Simple, MoveCursor, Setting, Text, WriteLine, Garbage)


def test_total_golden_vector() -> None:
    wire = bytes.fromhex("0C 1F 24 01 01 54 4F 54 41 4C 1F 24 10 02 31 32 2E 35 30")
    assert encode_all(total_screen("TOTAL", "12.50")) == wire


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (INIT, "1B 40"),
        (CLEAR, "0C"),
        (Simple(Op.CLEAR_LINE), "18"),
        (MoveCursor(20, 2), "1F 24 14 02"),
        (Simple(Op.HOME), "0B"),
        (Simple(Op.CARRIAGE_RETURN), "0D"),
        (Simple(Op.LINE_FEED), "0A"),
        (Simple(Op.LEFT), "08"),
        (Simple(Op.RIGHT), "09"),
        (Simple(Op.OVERWRITE_MODE), "1F 01"),
        (Simple(Op.VERTICAL_SCROLL_MODE), "1F 02"),
        (Simple(Op.HORIZONTAL_SCROLL_MODE), "1F 03"),
        (Setting("cursor", 0), "1F 43 00"),
        (Setting("brightness", 4), "1F 58 04"),
        (Setting("blink", 0), "1F 45 00"),
        (Setting("code_table", 0), "1B 74 00"),
        (Setting("select_device", 2), "1B 3D 02"),
        (WriteLine(1, b"HELLO"), "1B 51 41 48 45 4C 4C 4F 0D"),
        (MoveCursor(1, 2, "cd5220"), "1B 6C 01 02"),
    ],
)
def test_command_table(command: object, wire: str) -> None:
    assert encode(command) == bytes.fromhex(wire)  # type: ignore[arg-type]
    assert EscposCodec(Role.DEVICE).receive_data(bytes.fromhex(wire)) == [command]


def test_show_lines_pads_both_lines_without_a_clear() -> None:
    commands = show_lines("Milk", "TOTAL 1.25")
    assert CLEAR not in commands
    assert commands == [MoveCursor(1, 1), Text(b"Milk".ljust(20)), MoveCursor(1, 2), Text(b"TOTAL 1.25".ljust(20))]
    assert show_lines("x" * 30, "")[1] == Text(b"x" * 20)


def test_cd5220_dialect_writes_whole_lines() -> None:
    assert show_lines("A", "B", dialect="cd5220") == [WriteLine(1, b"A".ljust(20)), WriteLine(2, b"B".ljust(20))]


def test_setup_selects_the_display_when_daisy_chained() -> None:
    assert encode_all(setup(select_device=2)) == bytes.fromhex("1B 3D 02 1B 40 1F 01 1F 43 00")


def test_text_encoding_replaces_what_the_code_page_lacks() -> None:
    assert encode_text("Café\n€", "cp437") == b"Caf\x82 ?"


def test_host_side_treats_received_bytes_as_garbage() -> None:
    assert EscposCodec(Role.HOST).receive_data(b"\x00\x01") == [Garbage(b"\x00\x01", "a display sent bytes")]


def test_partial_sequence_waits() -> None:
    codec = EscposCodec(Role.DEVICE)
    assert codec.receive_data(b"\x1f\x24\x05") == []
    assert codec.receive_data(b"\x02") == [MoveCursor(5, 2)]


def test_unknown_escape_and_control_bytes_are_garbage() -> None:
    events = EscposCodec(Role.DEVICE).receive_data(b"\x1b\x07\x00A")
    assert [type(e) for e in events] == [Garbage, Text]
    assert events[-1] == Text(b"A")


printable = st.binary(min_size=1, max_size=20).map(lambda b: bytes((x % 95 + 0x20) if x < 0x80 else x for x in b))
commands = st.one_of(
    st.sampled_from([Simple(op) for op in Op]),
    st.builds(MoveCursor, st.integers(0, 255), st.integers(0, 255), st.sampled_from(["epson", "cd5220"])),
    st.builds(
        Setting, st.sampled_from(["cursor", "brightness", "blink", "code_table", "select_device"]), st.integers(0, 255)
    ),
    st.builds(Text, printable),
    st.builds(WriteLine, st.sampled_from([1, 2]), printable),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=10), st.data())
def test_commands_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = encode_all(sent)  # type: ignore[arg-type]
    assert merge_runs(feed(EscposCodec(Role.DEVICE), data.draw(chunkings(wire)))) == merge_runs(sent)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = EscposCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert merge_runs(events) == merge_runs(EscposCodec(role).receive_data(noise))
    assert len(codec._buf) <= 64 + 4
