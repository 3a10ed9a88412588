"""Member codes: format, signatures, windows, and every refusal reason the format can give."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.errors import ContractError
from contracts.member_code import (
    _PASS_DOMAIN,
    CodeRefused,
    IssuerKey,
    MemberPass,
    PhoneKey,
    decode_code,
    decode_public_keys,
    encode_public_keys,
    is_usable_phone_key,
    verify_code,
    window_of,
)
from contracts.messages import DenyReason

NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def issuer() -> IssuerKey:
    return IssuerKey.generate()


@pytest.fixture(scope="module")
def phone() -> PhoneKey:
    return PhoneKey.generate()


def _signed(issuer: IssuerKey, phone: PhoneKey, **kw: object) -> bytes:
    args: dict[str, object] = {"member_id": "m-1", "tier": "gold", "phone_key": phone.public_raw, "now": NOW - 10}
    args.update(kw)
    return issuer.issue_pass(**args)  # type: ignore[arg-type]


def _verify(issuer: IssuerKey, text: str, *, store: str = "s1", now: float = NOW) -> str:
    p = verify_code(decode_code(text), trusted_keys={issuer.kid: issuer.public_raw}, store_id=store, now=now)
    return p.member_id


def _reason(issuer: IssuerKey, text: str, **kw: object) -> DenyReason:
    with pytest.raises(CodeRefused) as info:
        _verify(issuer, text, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_valid_code_verifies_and_carries_member(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone), store_id="s1", now=NOW)
    assert text.startswith("SM1.")
    assert _verify(issuer, text) == "m-1"
    assert decode_code(text).member_pass.tier == "gold"


def test_code_is_good_one_window_either_side_only(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone), store_id="s1", now=NOW)
    w = window_of(NOW)
    start = w * 15
    assert _verify(issuer, text, now=start + 15 + 14) == "m-1"  # next window: still good
    assert _reason(issuer, text, now=start + 30) is DenyReason.EXPIRED  # two windows later
    assert _reason(issuer, text, now=start - 16) is DenyReason.EXPIRED  # from the future


def test_a_code_refused_for_its_window_says_how_many_windows_off(issuer: IssuerKey, phone: PhoneKey) -> None:
    # The store is an hour behind the cloud and the phone: the pass, issued a minute ago by the
    # cloud's clock, is not valid yet by the store's either; the window is what tells the skew.
    text = phone.show_code(_signed(issuer, phone, now=NOW + 3540), store_id="s1", now=NOW + 3600)
    with pytest.raises(CodeRefused) as info:
        _verify(issuer, text)
    assert (info.value.reason, info.value.window_offset) == (DenyReason.EXPIRED, 240)
    with pytest.raises(CodeRefused) as wrong_store:
        _verify(issuer, phone.show_code(_signed(issuer, phone), store_id="s2", now=NOW))
    assert wrong_store.value.window_offset is None


def test_expired_and_not_yet_valid_pass(issuer: IssuerKey, phone: PhoneKey) -> None:
    signed = _signed(issuer, phone, valid_s=60)
    late = phone.show_code(signed, store_id="s1", now=NOW + 100)
    assert _reason(issuer, late, now=NOW + 100) is DenyReason.EXPIRED
    early = phone.show_code(_signed(issuer, phone, now=NOW + 500), store_id="s1", now=NOW)
    assert _reason(issuer, early) is DenyReason.EXPIRED


def test_wrong_store(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone), store_id="other-store", now=NOW)
    assert _reason(issuer, text) is DenyReason.WRONG_STORE


def test_unknown_issuer_key(phone: PhoneKey, issuer: IssuerKey) -> None:
    stranger = IssuerKey.generate()
    text = phone.show_code(_signed(stranger, phone), store_id="s1", now=NOW)
    assert _reason(issuer, text) is DenyReason.UNKNOWN_KEY


def test_forged_member_id_breaks_issuer_signature(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone, member_id="m-1"), store_id="s1", now=NOW)
    raw = bytearray(base64.urlsafe_b64decode(text[4:] + "=" * (-len(text[4:]) % 4)))
    idx = raw.find(b"m-1")
    raw[idx + 2] = ord("9")  # m-1 -> m-9
    forged = "SM1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert _reason(issuer, forged) is DenyReason.BAD_SIGNATURE


def test_pass_shown_by_another_phone_fails(issuer: IssuerKey, phone: PhoneKey) -> None:
    thief = PhoneKey.generate()
    text = thief.show_code(_signed(issuer, phone), store_id="s1", now=NOW)  # stolen pass, own key
    assert _reason(issuer, text) is DenyReason.BAD_SIGNATURE


SMALL_ORDER_KEY = b"\x01" + bytes(31)  # the identity point: [S]B = R + [k]A holds for R = identity, S = 0


def test_small_order_phone_key_cannot_be_issued_a_pass(issuer: IssuerKey) -> None:
    assert not is_usable_phone_key(SMALL_ORDER_KEY)
    assert is_usable_phone_key(PhoneKey.generate().public_raw)
    with pytest.raises(ContractError, match="prime order"):
        issuer.issue_pass(member_id="m-1", tier="gold", phone_key=SMALL_ORDER_KEY, now=NOW)


def test_code_forged_for_a_small_order_phone_key_is_refused(issuer: IssuerKey) -> None:
    # A pass bound to the identity point (as a buggy or malicious enrolment could have made):
    # the all-identity signature satisfies the verification equation for any message, and
    # OpenSSL accepts it. The store must not: it would turn a shared pass into fresh codes.
    body = MemberPass(issuer.kid, int(NOW) - 10, int(NOW) + 3600, "gold", "m-1", SMALL_ORDER_KEY).encode()
    issuer_sig = issuer._private.sign(_PASS_DOMAIN + body)
    forged_phone_sig = b"\x01" + bytes(31) + bytes(32)
    raw = body + issuer_sig + bytes([2]) + b"s1" + window_of(NOW).to_bytes(4, "big") + forged_phone_sig
    text = "SM1." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert _reason(issuer, text) is DenyReason.BAD_SIGNATURE


def test_pass_longer_than_a_day_cannot_be_issued(issuer: IssuerKey, phone: PhoneKey) -> None:
    with pytest.raises(ContractError):
        _signed(issuer, phone, valid_s=24 * 3600 + 1)


@pytest.mark.parametrize(
    "text",
    ["", "hello", "SM1.", "SM1.!!!!", "SM1.AAAA", "SM1." + "A" * 2000, "SM2.AAAA", "\x00\xff"],
)
def test_malformed_codes(issuer: IssuerKey, text: str) -> None:
    with pytest.raises(CodeRefused) as info:
        decode_code(text)
    assert info.value.reason is DenyReason.MALFORMED


def test_truncated_and_extended_codes_are_malformed(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone), store_id="s1", now=NOW)
    raw = base64.urlsafe_b64decode(text[4:] + "=" * (-len(text[4:]) % 4))
    for bad in (raw[:-1], raw + b"\x00"):
        with pytest.raises(CodeRefused) as info:
            decode_code("SM1." + base64.urlsafe_b64encode(bad).decode().rstrip("="))
        assert info.value.reason is DenyReason.MALFORMED


def test_only_the_canonical_text_of_a_code_decodes(issuer: IssuerKey, phone: PhoneKey) -> None:
    text = phone.show_code(_signed(issuer, phone), store_id="s1", now=NOW)
    assert _verify(issuer, text)  # the canonical text is accepted
    body = text[4:]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The last character of an unpadded body carries spare bits (zero when canonical): set one.
    spare = alphabet[alphabet.index(body[-1]) | 1] if len(body) % 4 in (2, 3) else None
    variants = [
        text + "=",  # padding
        text + "==",
        " " + text,  # whitespace around or inside
        text + "\n",
        text[:10] + " " + text[10:],
        text[:10] + "+" + text[10:],  # outside the base64url alphabet
        text[:10] + "." + text[10:],
    ]
    if spare is not None:
        variants.append(text[:-1] + spare)  # same bytes, other spare bits
    for variant in variants:
        with pytest.raises(CodeRefused) as info:
            decode_code(variant)
        assert info.value.reason is DenyReason.MALFORMED, variant


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    text = "SM1." + base64.urlsafe_b64encode(data).decode().rstrip("=")
    try:
        decode_code(text)
    except CodeRefused as refused:
        reason = refused.reason
    else:
        return  # a random body that parses is fine; it must just never crash
    assert reason is DenyReason.MALFORMED


def test_public_key_roundtrip_and_mismatch(issuer: IssuerKey) -> None:
    enc = encode_public_keys({issuer.kid: issuer.public_raw})
    assert decode_public_keys(enc) == {issuer.kid: issuer.public_raw}
    other = IssuerKey.generate()
    with pytest.raises(ContractError):
        decode_public_keys({issuer.kid.hex(): base64.b64encode(other.public_raw).decode()})


def test_issuer_key_pem_roundtrip(issuer: IssuerKey) -> None:
    again = IssuerKey.from_pem(issuer.to_pem())
    assert again.kid == issuer.kid


def test_issuer_key_pem_encrypted_with_a_passphrase(issuer: IssuerKey) -> None:
    pem = issuer.to_pem(b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert IssuerKey.from_pem(pem, b"s3cret").kid == issuer.kid
    with pytest.raises(ContractError, match="no passphrase"):
        IssuerKey.from_pem(pem)
    with pytest.raises(ContractError, match="cannot load"):
        IssuerKey.from_pem(pem, b"wrong")
    assert IssuerKey.from_pem(issuer.to_pem(), b"ignored for a clear key").kid == issuer.kid
