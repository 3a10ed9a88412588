"""Signed downlink: the envelope every cloud-to-store message travels in (see docs/mqtt.md).

Everything the cloud sends a store (commands, sync snapshots, deltas and manifests, the
``downlink-keys`` announcement) is wrapped in one compact JSON envelope::

    {"v":1,"kid":"<16 hex>","scope":"<store id or *>","topic":"<topic>","payload":"<base64url>","sig":"<base64url>"}

``payload`` is the base64url text (no padding) of the inner message's exact bytes, so the
signature covers bytes, not a re-serialisation. The Ed25519 signature covers, in this order,
a domain separator, ``kid``, ``scope``, ``topic`` and the payload bytes::

    b"smartstore-downlink/1\\n" + kid + b"\\n" + scope + b"\\n" + topic + b"\\n" + payload

``scope`` is the store the message is for, and ``topic`` the exact topic it is published on.
A fleet-wide message (the same snapshot for every store) has scope ``*`` and its topic with
the store level written ``+``: it is valid on that topic of every store. The channel version
and epoch are fields of the payload, so the signature covers them too.

Everything here is pure (no I/O): ``DownlinkSigner`` signs, ``open_envelope`` verifies and
returns the inner bytes or raises ``DownlinkRefused`` with a ``RefusalReason``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.errors import ContractError
from contracts.member_code import key_id
from contracts.messages import describe_error, utcnow
from contracts.names import PREFIX, check_store_id

ENVELOPE_VERSION: Final = 1
FLEET_SCOPE: Final = "*"
MAX_ENVELOPE_BYTES: Final = 16 * 1024 * 1024
MAX_TOPIC_CHARS: Final = 256
MAX_PINNED_KEYS: Final = 8
_DOMAIN: Final = b"smartstore-downlink/1\n"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
Kid = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class RefusalReason(StrEnum):
    """Why an agent refused a downlink message (the ``detail`` of its ``downlink_refused`` alarm)."""

    NO_KEYS = "no_keys"  # the agent has no pinned downlink key: it refuses everything
    UNSIGNED = "unsigned"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_STORE = "wrong_store"
    WRONG_TOPIC = "wrong_topic"
    ROLLED_BACK = "rolled_back"  # an older version or epoch than the store already has


class DownlinkRefused(ContractError):
    """A downlink message failed verification; ``reason`` says why."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        """Keep the reason and a short human detail."""
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class Envelope(BaseModel):
    """The signed wrapper (strictly parsed: unknown fields, bad encodings and sizes are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    kid: Kid
    scope: Annotated[str, Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,63})$")]
    topic: Annotated[str, Field(min_length=1, max_length=MAX_TOPIC_CHARS)]
    payload: Annotated[str, Field(max_length=MAX_ENVELOPE_BYTES)]
    sig: Annotated[str, Field(min_length=86, max_length=86)]


def b64url(data: bytes) -> str:
    """Return ``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url strictly (only the canonical text of some bytes decodes).

    Raises:
        ValueError: not canonical base64url.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError("not base64url") from err
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def fleet_topic(topic: str) -> str:
    """Return ``topic`` with its store level written ``+`` (what a fleet-wide message signs)."""
    head = PREFIX + "/"
    if not topic.startswith(head):
        raise ContractError(f"topic {topic!r} is not under {PREFIX}/")
    _store, _, rest = topic[len(head) :].partition("/")
    return f"{head}+/{rest}"


def _store_of(topic: str) -> str:
    head = PREFIX + "/"
    if not topic.startswith(head):
        raise ContractError(f"topic {topic!r} is not under {PREFIX}/")
    return topic[len(head) :].split("/", 1)[0]


def signed_bytes(kid: str, scope: str, topic: str, payload: bytes) -> bytes:
    """Return the bytes the signature covers."""
    return _DOMAIN + f"{kid}\n{scope}\n{topic}\n".encode() + payload


def raw_public(key: Ed25519PublicKey) -> bytes:
    """Return the raw 32 bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid_of(key: Ed25519PublicKey) -> str:
    """Return the key id (16 hex characters) of a public key."""
    return key_id(raw_public(key)).hex()


class DownlinkSigner:
    """Signs downlink messages with the cloud's downlink key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        """Keep the private key and derive its key id."""
        self.key = key
        self.public_key = key.public_key()
        self.kid = kid_of(self.public_key)

    def sign(self, topic: str, payload: bytes, *, fleet: bool = False) -> bytes:
        """Wrap ``payload`` for ``topic``; ``fleet`` signs it for that topic of every store."""
        if fleet:
            scope, signed_topic = FLEET_SCOPE, fleet_topic(topic)
        else:
            scope, signed_topic = check_store_id(_store_of(topic)), topic
        sig = self.key.sign(signed_bytes(self.kid, scope, signed_topic, payload))
        body = {
            "v": ENVELOPE_VERSION,
            "kid": self.kid,
            "scope": scope,
            "topic": signed_topic,
            "payload": b64url(payload),
            "sig": b64url(sig),
        }
        return json.dumps(body, separators=(",", ":")).encode()


def parse_envelope(data: bytes) -> Envelope:
    """Parse an envelope strictly.

    Raises:
        DownlinkRefused: ``unsigned`` (a JSON object without the envelope's fields) or ``malformed``.
    """
    if len(data) > MAX_ENVELOPE_BYTES + 1024:
        raise DownlinkRefused(RefusalReason.MALFORMED, f"envelope of {len(data)} bytes is too large")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise DownlinkRefused(RefusalReason.MALFORMED, "not JSON") from err
    if isinstance(raw, dict) and not {"sig", "kid", "v"} & raw.keys():
        raise DownlinkRefused(RefusalReason.UNSIGNED, "no signature envelope")
    try:
        return Envelope.model_validate(raw)
    except ValidationError as err:
        raise DownlinkRefused(RefusalReason.MALFORMED, describe_error(err)) from err


def open_envelope(data: bytes, *, topic: str, store_id: str, keys: Mapping[str, Ed25519PublicKey]) -> bytes:
    """Verify a downlink message received on ``topic`` by store ``store_id``; return the inner bytes.

    Raises:
        DownlinkRefused: no keys, unsigned, malformed, unknown key, bad signature, wrong store or topic.
    """
    if not keys:
        raise DownlinkRefused(RefusalReason.NO_KEYS, "no downlink key is pinned")
    env = parse_envelope(data)
    if _store_of(topic) != store_id:
        raise DownlinkRefused(RefusalReason.WRONG_STORE, f"received on another store's topic {topic!r}")
    if env.scope == FLEET_SCOPE:
        expected = fleet_topic(topic)
    elif env.scope != store_id:
        raise DownlinkRefused(RefusalReason.WRONG_STORE, f"signed for store {env.scope!r}")
    else:
        expected = topic
    if env.topic != expected:
        raise DownlinkRefused(RefusalReason.WRONG_TOPIC, f"signed for {env.topic!r}")
    public = keys.get(env.kid)
    if public is None:
        raise DownlinkRefused(RefusalReason.UNKNOWN_KEY, f"key id {env.kid} is not pinned")
    try:
        payload = unb64url(env.payload)
        sig = unb64url(env.sig)
    except ValueError as err:
        raise DownlinkRefused(RefusalReason.MALFORMED, str(err)) from err
    try:
        public.verify(sig, signed_bytes(env.kid, env.scope, env.topic, payload))
    except InvalidSignature as err:
        raise DownlinkRefused(RefusalReason.BAD_SIGNATURE, f"signature does not verify with key {env.kid}") from err
    return payload


# ------------------------------------------------------------------------ key rotation


class DownlinkKeys(BaseModel):
    """Retained ``sync/downlink-keys``: the downlink keys a store pins from now on.

    Announced in an envelope signed by a key the store already pins (the outgoing one), so
    a rotation is only accepted from whoever held the old key. ``version`` only goes up: an
    announcement whose version is not above the pinned set's is ignored.
    ``keys`` maps key ids to raw Ed25519 public keys (unpadded base64url).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    version: Annotated[int, Field(ge=1, le=2**31)]
    keys: Annotated[dict[Kid, Annotated[str, Field(min_length=43, max_length=43)]], Field(min_length=1)]
    issued_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _check_keys(self) -> DownlinkKeys:
        if len(self.keys) > MAX_PINNED_KEYS:
            raise ValueError(f"at most {MAX_PINNED_KEYS} downlink keys")
        for kid, text in self.keys.items():
            try:
                raw = unb64url(text)
            except ValueError as err:
                raise ValueError(f"key {kid}: {err}") from err
            if len(raw) != 32 or key_id(raw).hex() != kid:
                raise ValueError(f"key {kid}: not the raw 32-byte key of that id")
        return self

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Return the keys as verification keys by key id."""
        return {kid: Ed25519PublicKey.from_public_bytes(unb64url(text)) for kid, text in self.keys.items()}

    @classmethod
    def of(cls, version: int, keys: list[Ed25519PublicKey]) -> DownlinkKeys:
        """Build an announcement of ``keys`` at ``version``."""
        return cls(version=version, keys={kid_of(k): b64url(raw_public(k)) for k in keys})


def parse_downlink_keys(payload: bytes | str) -> DownlinkKeys:
    """Parse a ``downlink-keys`` payload (or a pinned-keys file).

    Accepts the announcement itself or a bare ``{kid: key}`` object (version 0 is then not
    allowed, so a bare object is read as version 1).

    Raises:
        ContractError: invalid payload.
    """
    try:
        raw = json.loads(payload)
        if isinstance(raw, dict) and "keys" not in raw:
            raw = {"version": 1, "keys": raw}
        return DownlinkKeys.model_validate(raw)
    except ValidationError as err:
        raise ContractError(f"invalid downlink keys: {describe_error(err)}") from err
    except (ValueError, UnicodeDecodeError) as err:
        raise ContractError(f"invalid downlink keys: {err}") from err
