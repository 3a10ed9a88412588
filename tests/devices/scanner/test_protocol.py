"""Scanner codec: line framing, prefix/suffix, AIM ids, overlong lines, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.scanner.profiles import AIM_CRLF, GENERIC_CR, GENERIC_CRLF, GENERIC_TAB, ScannerProfile
from devices.scanner.protocol import AIM_SYMBOLOGIES, CodeScanned, Garbage, Role, ScannerCodec
from tests.devices.helpers import chunkings, feed, merge_runs


def test_ean13_line_golden() -> None:
    wire = bytes.fromhex("34 30 30 36 33 38 31 33 33 33 39 33 31 0D 0A")
    assert ScannerCodec(Role.HOST).receive_data(wire) == [CodeScanned("4006381333931")]
    assert ScannerCodec(Role.DEVICE, GENERIC_CRLF).send(CodeScanned("4006381333931")) == wire


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_any_line_end_is_accepted(ending: bytes) -> None:
    assert ScannerCodec(Role.HOST, GENERIC_CR).receive_data(b"ABC" + ending) == [CodeScanned("ABC")]


def test_configured_one_byte_terminator() -> None:
    assert ScannerCodec(Role.HOST, GENERIC_TAB).receive_data(b"A1\tB2\t") == [CodeScanned("A1"), CodeScanned("B2")]


def test_aim_symbology_ids() -> None:
    codec = ScannerCodec(Role.HOST, AIM_CRLF)
    assert codec.receive_data(b"]Q1hello\r\n]E04006381333931\r\n") == [
        CodeScanned("hello", "qr"),
        CodeScanned("4006381333931", "ean"),
    ]


def test_prefix_and_suffix_are_stripped_and_a_missing_prefix_is_garbage() -> None:
    profile = ScannerProfile(prefix=b"@@", suffix=b"#")
    codec = ScannerCodec(Role.HOST, profile)
    assert codec.receive_data(b"@@CODE#\r\n") == [CodeScanned("CODE")]
    assert codec.receive_data(b"CODE#\r\n") == [Garbage(b"CODE#", "missing prefix")]
    assert ScannerCodec(Role.DEVICE, profile).send(CodeScanned("X")) == b"@@X#\r\n"


def test_non_text_and_overlong_lines_are_garbage() -> None:
    codec = ScannerCodec(Role.HOST, ScannerProfile(max_length=8))
    events = codec.receive_data(b"\xff\xfe\r\n" + b"A" * 50 + b"\r\nOK\r\n")
    assert [type(e) for e in events] == [Garbage, Garbage, CodeScanned]
    assert events[1] == Garbage(b"A" * 8, "line too long")


texts = st.text(st.characters(categories=["L", "N", "P", "S"], exclude_characters="\r\n\t]"), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(texts, st.sampled_from(sorted(AIM_SYMBOLOGIES.values()))), max_size=6),
    st.data(),
    st.sampled_from([GENERIC_CRLF, GENERIC_CR, AIM_CRLF, GENERIC_TAB, ScannerProfile(prefix=b"<", suffix=b">")]),
)
def test_scans_round_trip_in_any_chunking(
    scans: list[tuple[str, str]], data: st.DataObject, profile: ScannerProfile
) -> None:
    sent = [CodeScanned(text, symbology if profile.aim_ids else None) for text, symbology in scans]
    wire = b"".join(ScannerCodec(Role.DEVICE, profile).send(s) for s in sent)
    assert feed(ScannerCodec(Role.HOST, profile), data.draw(chunkings(wire))) == sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1500), st.data(), st.sampled_from([Role.HOST, Role.DEVICE]))
def test_arbitrary_bytes_never_crash(noise: bytes, data: st.DataObject, role: Role) -> None:
    codec = ScannerCodec(role, ScannerProfile(max_length=256))
    events = feed(codec, data.draw(chunkings(noise)))
    assert all(isinstance(e, (CodeScanned, Garbage)) for e in events)
    assert merge_runs(events) == merge_runs(ScannerCodec(role, ScannerProfile(max_length=256)).receive_data(noise))
    assert len(codec._buf) <= 256


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_resynchronises_after_garbage(noise: bytes) -> None:
    assert ScannerCodec(Role.HOST).receive_data(noise + b"\r\n5449000000996\r\n")[-1] == CodeScanned("5449000000996")
