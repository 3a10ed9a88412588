"""Nextion codec: instruction bytes, the return-code table, touch events, resync, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.nextion.protocol import (
    RETURN_CODES,
    SENDME,
    CurrentPage,
    DisplayState,
    Garbage,
    Instruction,
    NextionCodec,
    NumberValue,
    ReturnCode,
    Role,
    Startup,
    StringValue,
    Touch,
    TouchXY,
    bkcmd,
    escape,
    get,
    parse_instruction,
    set_number,
    set_text,
    show_page,
    unescape,
)
from tests.devices.helpers import chunkings, feed, merge_runs

EVENT_TYPES = (
    ReturnCode,
    Startup,
    DisplayState,
    Touch,
    CurrentPage,
    TouchXY,
    StringValue,
    NumberValue,
    Instruction,
    Garbage,
)


def host() -> NextionCodec:
    """Return a host-side codec."""
    return NextionCodec(Role.HOST)


def test_text_assignment_golden() -> None:
    wire = bytes.fromhex("74 30 2E 74 78 74 3D 22 48 65 6C 6C 6F 22 FF FF FF")
    assert host().send(set_text("t0", "Hello")) == wire
    assert NextionCodec(Role.DEVICE).receive_data(wire) == [Instruction('t0.txt="Hello"')]


def test_other_instructions() -> None:
    codec = host()
    assert codec.send(set_number("n0", 50)) == b"n0.val=50\xff\xff\xff"
    assert codec.send(show_page("choices")) == b"page choices\xff\xff\xff"
    assert codec.send(get("t0", "txt")) == b"get t0.txt\xff\xff\xff"
    assert codec.send(SENDME) == b"sendme\xff\xff\xff"
    assert codec.send(bkcmd(3)) == b"bkcmd=3\xff\xff\xff"


def test_quotes_backslashes_and_line_breaks_are_escaped() -> None:
    text = 'say "hi"\\now\nbye'
    assert escape(text) == 'say \\"hi\\"\\\\now\\rbye'
    assert unescape(escape(text)) == text
    assert parse_instruction(set_text("t1", text).text) == ("assign_text", "t1", "txt", text)


@pytest.mark.parametrize(
    ("wire", "event"),
    [
        ("01 FF FF FF", ReturnCode(0x01)),
        ("00 FF FF FF", ReturnCode(0x00)),
        ("00 00 00 FF FF FF", Startup()),
        ("1A FF FF FF", ReturnCode(0x1A)),
        ("24 FF FF FF", ReturnCode(0x24)),
        ("65 01 03 01 FF FF FF", Touch(1, 3, True)),
        ("65 01 03 00 FF FF FF", Touch(1, 3, False)),
        ("66 02 FF FF FF", CurrentPage(2)),
        ("67 00 7A 01 0E 01 FF FF FF", TouchXY(122, 270, True, False)),
        ("70 41 42 43 FF FF FF", StringValue("ABC")),
        ("71 32 00 00 00 FF FF FF", NumberValue(50)),
        ("71 FF FF FF FF FF FF FF", NumberValue(-1)),
        ("88 FF FF FF", DisplayState("ready")),
        ("86 FF FF FF", DisplayState("sleep")),
    ],
)
def test_frame_table(wire: str, event: object) -> None:
    assert host().receive_data(bytes.fromhex(wire)) == [event]


def test_return_code_meanings() -> None:
    assert ReturnCode(0x1A).meaning == "invalid variable name or attribute"
    assert ReturnCode(0x01).ok
    assert not ReturnCode(0x00).ok


def test_junk_costs_one_byte_at_a_time_and_parsing_resumes() -> None:
    events = host().receive_data(bytes.fromhex("42 65 01 FF FF 01 FF FF FF"))
    assert events == [Garbage(bytes.fromhex("42 65 01 FF FF"), "not a Nextion frame"), ReturnCode(0x01)]


def test_touch_between_answers_is_its_own_event() -> None:
    events = host().receive_data(bytes.fromhex("01 FF FF FF 65 01 02 01 FF FF FF 01 FF FF FF"))
    assert events == [ReturnCode(1), Touch(1, 2, True), ReturnCode(1)]


def test_partial_frames_wait() -> None:
    codec = host()
    assert codec.receive_data(b"\x65\x01") == []
    assert codec.receive_data(b"\x02\x01\xff\xff") == []
    assert codec.receive_data(b"\xff") == [Touch(1, 2, True)]


def test_device_ignores_empty_flush_instructions() -> None:
    assert NextionCodec(Role.DEVICE).receive_data(b"\xff\xff\xffsendme\xff\xff\xff") == [SENDME]


codes = st.sampled_from(sorted(RETURN_CODES))
safe_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFE), max_size=30)
replies = st.one_of(
    st.builds(ReturnCode, codes),
    st.just(Startup()),
    st.builds(
        DisplayState, st.sampled_from(["sleep", "wake", "ready", "upgrade", "transparent_done", "transparent_ready"])
    ),
    st.builds(Touch, st.integers(0, 255), st.integers(0, 255), st.booleans()),
    st.builds(CurrentPage, st.integers(0, 255)),
    st.builds(TouchXY, st.integers(0, 65535), st.integers(0, 65535), st.booleans(), st.booleans()),
    st.builds(StringValue, safe_text),
    st.builds(NumberValue, st.integers(-(2**31), 2**31 - 1)),
)
instructions = st.builds(
    Instruction, st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFE), min_size=1, max_size=40)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(replies, max_size=10), st.data())
def test_replies_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    device = NextionCodec(Role.DEVICE)
    wire = b"".join(device.send(r) for r in sent)  # type: ignore[arg-type]
    assert feed(host(), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.lists(instructions, max_size=10), st.data())
def test_instructions_round_trip_in_any_chunking(sent: list[Instruction], data: st.DataObject) -> None:
    wire = b"".join(host().send(i) for i in sent)
    assert feed(NextionCodec(Role.DEVICE), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = NextionCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert merge_runs(events) == merge_runs(NextionCodec(role).receive_data(noise))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_host_resynchronises_after_garbage(noise: bytes) -> None:
    events = host().receive_data(noise + b"\xff\xff\xff" + bytes.fromhex("65 01 02 01 FF FF FF"))
    assert events[-1] == Touch(1, 2, True)
