"""Member codes: an offline-verifiable, rotating QR credential (see docs/member-code.md).

The cloud signs a *member pass* with its Ed25519 issuer key. The pass binds the member id, tier,
validity (at most 24 h) and the public key of the member's phone. Every 15 s the phone signs
(pass, store id, time window) with its own key; the QR carries pass, issuer signature, store id,
window and phone signature. A store verifies both signatures offline, so a screenshot is only good
for the current window (±1 step), and the store's replay cache lets each code in once.

Wire format (all integers big-endian), text form ``SM1.`` + base64url without padding::

    pass   = 0x01 | kid[8] | not_before u32 | expires u32 | len u8 | tier | len u8 | member_id
             | phone_public_key[32]
    code   = pass | issuer_sig[64] | len u8 | store_id | window u32 | phone_sig[64]
    issuer_sig signs  b"smartstore/pass/v1" + pass
    phone_sig  signs  b"smartstore/code/v1" + pass + issuer_sig + len|store_id + window
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import CryptoError

from contracts.errors import ContractError
from contracts.messages import DenyReason

CODE_PREFIX = "SM1."
PASS_VERSION = 1
WINDOW_S = 15
MAX_PASS_VALIDITY_S = 24 * 3600
MAX_CODE_CHARS = 1024
_PASS_DOMAIN = b"smartstore/pass/v1"
_CODE_DOMAIN = b"smartstore/code/v1"
_SIG = 64
_PK = 32


class CodeRefused(ContractError):
    """A member code was refused; ``reason`` is the code shown on the reader and reported."""

    def __init__(
        self, reason: DenyReason, detail: str = "", member_id: str | None = None, window_offset: int | None = None
    ) -> None:
        """Record the reason, a human detail, the member id if it could be read, and for a code
        refused only for its time window (both signatures good), how many windows it was off."""
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.member_id = member_id
        self.window_offset = window_offset


def key_id(public_raw: bytes) -> bytes:
    """Return the 8-byte key id of an Ed25519 public key (first bytes of its SHA-256)."""
    return hashlib.sha256(public_raw).digest()[:8]


def window_of(unix_s: float, window_s: int = WINDOW_S) -> int:
    """Return the time-window counter that ``unix_s`` falls in."""
    return int(unix_s // window_s)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _short_str(value: str, what: str) -> bytes:
    data = value.encode()
    if not 1 <= len(data) <= 64:
        raise ContractError(f"{what} must be 1-64 UTF-8 bytes")
    return bytes([len(data)]) + data


@dataclass(frozen=True)
class MemberPass:
    """The cloud-signed part of a member code."""

    kid: bytes
    not_before: int
    expires: int
    tier: str
    member_id: str
    phone_key: bytes

    def encode(self) -> bytes:
        """Return the pass bytes that the issuer signs."""
        return (
            struct.pack(">B8sII", PASS_VERSION, self.kid, self.not_before, self.expires)
            + _short_str(self.tier, "tier")
            + _short_str(self.member_id, "member id")
            + self.phone_key
        )


@dataclass(frozen=True)
class MemberCode:
    """A decoded (not yet verified) member code."""

    member_pass: MemberPass
    pass_bytes: bytes
    issuer_sig: bytes
    store_id: str
    window: int
    phone_sig: bytes

    @property
    def fingerprint(self) -> bytes:
        """Return a digest identifying this exact code, for the replay cache."""
        return hashlib.sha256(self.pass_bytes + self.issuer_sig + self.phone_sig).digest()[:16]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CodeRefused(DenyReason.MALFORMED, "code is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def text(self, what: str) -> str:
        n = self.take(1)[0]
        if n == 0:
            raise CodeRefused(DenyReason.MALFORMED, f"empty {what}")
        try:
            return self.take(n).decode()
        except UnicodeDecodeError as err:
            raise CodeRefused(DenyReason.MALFORMED, f"{what} is not UTF-8") from err


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _strict_b64url(body: str) -> bytes:
    """Decode unpadded base64url that is canonical: one text per code, anything else ``malformed``.

    Padding, whitespace, characters outside the alphabet and non-zero spare bits are refused
    (a lenient decoder drops them, so many texts would decode to the same code).
    """
    if not _B64URL.fullmatch(body) or len(body) % 4 == 1:
        raise CodeRefused(DenyReason.MALFORMED, "code is not canonical base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as err:  # pragma: no cover - the pattern admits only valid text
        raise CodeRefused(DenyReason.MALFORMED, "code is not base64url") from err
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != body:
        raise CodeRefused(DenyReason.MALFORMED, "code is not canonical base64url")
    return raw


def decode_code(text: str | bytes) -> MemberCode:
    """Parse the text of a scanned member code without verifying it.

    Raises:
        CodeRefused: with reason ``malformed`` for anything that is not a well-formed code.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as err:
            raise CodeRefused(DenyReason.MALFORMED, "code is not ASCII") from err
    if len(text) > MAX_CODE_CHARS:
        raise CodeRefused(DenyReason.MALFORMED, "code is too long")
    if not text.startswith(CODE_PREFIX):
        raise CodeRefused(DenyReason.MALFORMED, "not a smartstore member code")
    raw = _strict_b64url(text[len(CODE_PREFIX) :])
    r = _Reader(raw)
    version, kid, nbf, exp = struct.unpack(">B8sII", r.take(17))
    if version != PASS_VERSION:
        raise CodeRefused(DenyReason.MALFORMED, f"unsupported pass version {version}")
    tier = r.text("tier")
    member_id = r.text("member id")
    phone_key = r.take(_PK)
    pass_bytes = raw[: r.pos]
    issuer_sig = r.take(_SIG)
    store_id = r.text("store id")
    (window,) = struct.unpack(">I", r.take(4))
    phone_sig = r.take(_SIG)
    if r.pos != len(raw):
        raise CodeRefused(DenyReason.MALFORMED, "trailing bytes after code")
    member_pass = MemberPass(kid, nbf, exp, tier, member_id, phone_key)
    return MemberCode(member_pass, pass_bytes, issuer_sig, store_id, window, phone_sig)


def verify_code(
    code: MemberCode,
    *,
    trusted_keys: Mapping[bytes, bytes],
    store_id: str,
    now: float,
    window_s: int = WINDOW_S,
    skew_steps: int = 1,
) -> MemberPass:
    """Check a decoded code's signatures, store and time; return its pass if all hold.

    Args:
        code: the decoded code.
        trusted_keys: issuer public keys (raw 32 bytes) by 8-byte key id.
        store_id: this store; a code made for another store is refused.
        now: the store's clock, unix seconds.
        window_s: the phone's rotation period.
        skew_steps: windows of clock skew accepted either side.

    Raises:
        CodeRefused: with the reason (unknown_key, bad_signature, wrong_store, expired).
    """
    p = code.member_pass
    mid = p.member_id
    issuer = trusted_keys.get(p.kid)
    if issuer is None:
        raise CodeRefused(DenyReason.UNKNOWN_KEY, f"issuer key {p.kid.hex()} is not trusted", mid)
    if not _verifies(issuer, code.issuer_sig, _PASS_DOMAIN + code.pass_bytes):
        raise CodeRefused(DenyReason.BAD_SIGNATURE, "pass signature does not verify", mid)
    phone_message = _code_message(code.pass_bytes, code.issuer_sig, code.store_id, code.window)
    if not _verifies(p.phone_key, code.phone_sig, phone_message):
        raise CodeRefused(DenyReason.BAD_SIGNATURE, "phone signature does not verify", mid)
    if code.store_id != store_id:
        raise CodeRefused(DenyReason.WRONG_STORE, f"code is for store {code.store_id!r}", mid)
    if p.expires - p.not_before > MAX_PASS_VALIDITY_S:
        raise CodeRefused(DenyReason.MALFORMED, "pass validity exceeds 24 h", mid)
    # The window first: when the store's clock is wrong, the phone's window says by how much
    # (the door turns agreeing offsets into a clock_skew alarm), while the pass's dates would
    # only say "not valid yet" or "expired".
    current = window_of(now, window_s)
    if abs(code.window - current) > skew_steps:
        offset = code.window - current
        raise CodeRefused(DenyReason.EXPIRED, f"code window is {offset:+d} steps off", mid, window_offset=offset)
    if now < p.not_before:
        raise CodeRefused(DenyReason.EXPIRED, "pass is not valid yet", mid)
    if now >= p.expires:
        raise CodeRefused(DenyReason.EXPIRED, "pass has expired", mid)
    return p


def is_usable_phone_key(public_raw: bytes) -> bool:
    """Return whether ``public_raw`` is a canonical Ed25519 point of prime order.

    A small-order key (the identity point, say) "verifies" forged signatures under OpenSSL: a pass
    bound to one could be shared and turned into fresh codes without any phone secret.
    """
    return len(public_raw) == _PK and bool(crypto_core_ed25519_is_valid_point(public_raw))


def _verifies(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Return whether ``signature`` is the Ed25519 signature of ``message`` by ``public_raw``.

    libsodium verifies in half the time OpenSSL takes on x86-64 (53 vs 110 µs here), and a code
    needs two verifications on the door's critical path. It also refuses small-order public keys,
    which OpenSSL accepts, so a phone key crafted to make any signature pass is refused.
    """
    try:
        crypto_sign_open(signature + message, public_raw)
    except (CryptoError, ValueError):
        return False
    return True


def _code_message(pass_bytes: bytes, issuer_sig: bytes, store_id: str, window: int) -> bytes:
    return _CODE_DOMAIN + pass_bytes + issuer_sig + _short_str(store_id, "store id") + struct.pack(">I", window)


def pem_is_encrypted(pem: bytes) -> bool:
    """Return whether a PKCS#8 PEM private key is encrypted with a passphrase."""
    return b"ENCRYPTED PRIVATE KEY" in pem


class IssuerKey:
    """The cloud's pass-signing key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        """Wrap an Ed25519 private key."""
        self._private = private
        self.public_raw = _raw_public(private.public_key())
        self.kid = key_id(self.public_raw)

    @classmethod
    def generate(cls) -> IssuerKey:
        """Create a new random issuer key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None = None) -> IssuerKey:
        """Load a key from PKCS#8 PEM, encrypted (with ``passphrase``) or not.

        Raises:
            ContractError: The PEM is encrypted and no (or the wrong) passphrase was given.
        """
        encrypted = pem_is_encrypted(pem)
        if encrypted and not passphrase:
            raise ContractError("the issuer key is encrypted and no passphrase was given")
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase if encrypted else None)
        except ValueError as err:
            raise ContractError(f"cannot load the issuer key: {err}") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise ContractError("issuer key must be Ed25519")
        return cls(key)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """Return the key as PKCS#8 PEM, encrypted with ``passphrase`` when one is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        return self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def issue_pass(
        self, *, member_id: str, tier: str, phone_key: bytes, now: float, valid_s: int = MAX_PASS_VALIDITY_S
    ) -> bytes:
        """Sign a pass for a member's phone key; return pass bytes followed by the signature."""
        if not 0 < valid_s <= MAX_PASS_VALIDITY_S:
            raise ContractError("pass validity must be between 1 s and 24 h")
        if not is_usable_phone_key(phone_key):
            raise ContractError("phone key must be a raw 32-byte Ed25519 public key of prime order")
        start = int(now)
        body = MemberPass(self.kid, start, start + valid_s, tier, member_id, phone_key).encode()
        return body + self._private.sign(_PASS_DOMAIN + body)


class PhoneKey:
    """The member phone's own key; it turns a signed pass into a rotating code."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        """Wrap an Ed25519 private key."""
        self._private = private
        self.public_raw = _raw_public(private.public_key())

    @classmethod
    def generate(cls) -> PhoneKey:
        """Create a new random phone key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> PhoneKey:
        """Load a phone key from its 32 raw private bytes."""
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def private_raw(self) -> bytes:
        """Return the 32 raw private bytes."""
        return self._private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def show_code(self, signed_pass: bytes, *, store_id: str, now: float, window_s: int = WINDOW_S) -> str:
        """Return the QR text for ``store_id`` in the window of ``now``."""
        pass_bytes, issuer_sig = signed_pass[:-_SIG], signed_pass[-_SIG:]
        window = window_of(now, window_s)
        sig = self._private.sign(_code_message(pass_bytes, issuer_sig, store_id, window))
        raw = pass_bytes + issuer_sig + _short_str(store_id, "store id") + struct.pack(">I", window) + sig
        return CODE_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode_public_keys(keys: Mapping[bytes, bytes]) -> dict[str, str]:
    """Return issuer public keys as a JSON-friendly ``{kid hex: base64 raw key}`` mapping."""
    return {kid.hex(): base64.b64encode(raw).decode() for kid, raw in keys.items()}


def decode_public_keys(data: Mapping[str, object]) -> dict[bytes, bytes]:
    """Parse ``{kid hex: base64 raw key}``, checking each key id matches its key.

    Also takes the API's and the downlink's envelope (``GET /api/v1/issuer-keys/public``, the
    ``keys`` snapshot): an object whose ``keys`` member is that mapping.

    Raises:
        ContractError: not such a mapping, a key that is not 32 bytes of base64, or an id that does not match.
    """
    if not isinstance(data, Mapping):
        raise ContractError("issuer keys must be a JSON object of key id -> base64 public key")
    inner = data.get("keys")
    if isinstance(inner, Mapping):
        data = inner
    out: dict[bytes, bytes] = {}
    for kid_hex, b64 in data.items():
        try:
            raw = base64.b64decode(b64, validate=True) if isinstance(b64, str) else b""
        except binascii.Error:
            raw = b""
        if len(raw) != _PK or key_id(raw).hex() != kid_hex:
            raise ContractError(f"issuer key {str(kid_hex)[:40]!r} is not a key id with its base64 public key")
        out[bytes.fromhex(kid_hex)] = raw
    return out
