"""LCUS relay codec: switch frames from the vendor text, status lines, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.lcus.protocol import (
    Garbage,
    LcusCodec,
    QueryStatus,
    RelayStatus,
    Role,
    SetRelay,
    encode_set,
    encode_status,
)
from tests.devices.helpers import chunkings, feed, merge_runs


@pytest.mark.parametrize(
    ("channel", "on", "wire"), [(1, True, "A0 01 01 A2"), (1, False, "A0 01 00 A1"), (2, True, "A0 02 01 A3")]
)
def test_switch_frames(channel: int, on: bool, wire: str) -> None:
    assert encode_set(channel, on) == bytes.fromhex(wire)
    assert LcusCodec(Role.DEVICE).receive_data(bytes.fromhex(wire)) == [SetRelay(channel, on)]


def test_status_query_and_reply() -> None:
    assert LcusCodec(Role.HOST).send(QueryStatus()) == b"\xff"
    assert encode_status({1: True, 2: False}) == b"CH1: ON \r\nCH2: OFF\r\n"
    assert LcusCodec(Role.HOST).receive_data(b"CH1: ON \r\nCH2: OFF\r\n") == [
        RelayStatus(1, True),
        RelayStatus(2, False),
    ]


def test_bad_checksum_is_skipped_and_the_next_frame_found() -> None:
    events = LcusCodec(Role.DEVICE).receive_data(bytes.fromhex("A0 01 01 A3 A0 01 01 A2"))
    assert events[-1] == SetRelay(1, True)
    assert isinstance(events[0], Garbage)


def test_channel_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="1-8"):
        encode_set(9, True)


commands = st.one_of(st.builds(SetRelay, st.integers(1, 8), st.booleans()), st.just(QueryStatus()))


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=10), st.data())
def test_commands_round_trip_in_any_chunking(sent: list[object], data: st.DataObject) -> None:
    wire = b"".join(LcusCodec(Role.HOST).send(c) for c in sent)  # type: ignore[arg-type]
    assert feed(LcusCodec(Role.DEVICE), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(1, 8), st.booleans(), max_size=8), st.data())
def test_status_round_trip_in_any_chunking(states: dict[int, bool], data: st.DataObject) -> None:
    wire = LcusCodec(Role.DEVICE).send(states)
    assert feed(LcusCodec(Role.HOST), data.draw(chunkings(wire))) == [
        RelayStatus(ch, on) for ch, on in sorted(states.items())
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = LcusCodec(role)
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, (SetRelay, QueryStatus, RelayStatus, Garbage)) for e in events)
    assert merge_runs(events) == merge_runs(LcusCodec(role).receive_data(noise))
    assert len(codec._buf) <= 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_device_resynchronises_after_garbage(noise: bytes) -> None:
    assert LcusCodec(Role.DEVICE).receive_data(noise + bytes.fromhex("A0 03 01 A4"))[-1] == SetRelay(3, True)
