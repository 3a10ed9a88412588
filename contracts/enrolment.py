"""The enrolment handshake between a new store agent and the cloud (HTTP, see docs/security.md).

1. The operator creates a store and gets a one-time enrolment token (``est_...``).
2. The agent makes its own Ed25519 key pair and sends ``EnrolRequest`` (token, public key,
   hardware description) to ``POST /api/v1/enrol``; the answer is ``EnrolClaimed``.
3. Both sides derive the same six-digit **pairing code** from the token, the agent's public key
   and the enrolment id (``pairing_code``). The agent shows it on its customer screen and in its
   log; the operator types what the screen shows into the dashboard or
   ``smartstore cloud store confirm``. A stolen token alone enrols nothing: the thief's code
   appears on the thief's screen, not in the store.
4. The agent collects ``EnrolBundle`` from ``POST /api/v1/enrol/{id}/collect`` with a
   ``CollectRequest`` signed by its key (proof that it is the device that claimed the token).
   The bundle is handed out once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Annotated, Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, ConfigDict, Field

from contracts.member_code import is_usable_phone_key
from contracts.messages import JsonInteger

ENROL_TOKEN_PREFIX = "est_"  # noqa: S105 - a prefix, not a secret
PAIRING_DIGITS = 6
COLLECT_SKEW_S = 300
_DOMAIN = b"smartstore-enrol-v1"
_HEX64 = r"^[0-9a-f]{64}$"
HexKey = Annotated[str, Field(pattern=_HEX64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrolRequest(_Model):
    """What a new agent sends with its token."""

    token: Annotated[str, Field(min_length=10, max_length=200)]
    device_key: HexKey  # the agent's Ed25519 public key (raw, hex)
    hardware: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=32)


class EnrolClaimed(_Model):
    """The cloud accepted the token: the operator now confirms the pairing code."""

    enrolment_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    store_id: str
    expires_at: str


class CollectRequest(_Model):
    """Proof of possession: the agent's signature over the enrolment id and the time."""

    ts: Annotated[int, Field(ge=0, le=2**40), JsonInteger]
    signature: Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")]


class BrokerLogin(_Model):
    """How the store reaches the broker as itself."""

    host: str
    port: int = Field(ge=1, le=65535)
    username: str | None = None  # None: a development broker without logins
    password: str | None = None
    ca_pem: str | None = None  # the fleet CA, when the broker listens with TLS


class EnrolBundle(_Model):
    """Everything a confirmed agent needs to run (handed out once)."""

    store_id: str
    broker: BrokerLogin
    issuer_keys: dict[str, Any]  # the member-pass public keys (``GET /api/v1/issuer-keys/public``)
    downlink_keys: dict[str, Any] = Field(default_factory=dict)  # the cloud's downlink verification keys
    api_token: str  # a device token bound to this store
    cloud_url: str = ""


def check_device_key(hex_key: str) -> bytes:
    """Return the raw key if it is a usable Ed25519 public key (prime order), else raise ValueError."""
    if not re.fullmatch(_HEX64, hex_key):
        raise ValueError("device key must be 64 lowercase hex digits")
    raw = bytes.fromhex(hex_key)
    if not is_usable_phone_key(raw):
        raise ValueError("device key is not a usable Ed25519 public key")
    return raw


def pairing_code(token: str, device_key: str, enrolment_id: str) -> str:
    """Return the six-digit code both sides derive (HMAC-SHA256 keyed by the token)."""
    mac = hmac.new(token.encode(), _DOMAIN + bytes.fromhex(device_key) + enrolment_id.encode(), hashlib.sha256)
    return f"{int.from_bytes(mac.digest()[:8], 'big') % 10**PAIRING_DIGITS:0{PAIRING_DIGITS}d}"


def _collect_message(enrolment_id: str, ts: int) -> bytes:
    return _DOMAIN + b":collect:" + enrolment_id.encode() + b":" + str(ts).encode()


def sign_collect(key: SigningKey, enrolment_id: str, ts: int | None = None) -> CollectRequest:
    """Return the agent's signed collect request."""
    ts = int(time.time()) if ts is None else ts
    return CollectRequest(ts=ts, signature=key.sign(_collect_message(enrolment_id, ts)).signature.hex())


def verify_collect(device_key: str, enrolment_id: str, request: CollectRequest, now: float) -> str | None:
    """Return why a collect request is refused, or None when it is the claiming device's, fresh."""
    if abs(now - request.ts) > COLLECT_SKEW_S:
        return f"collect request time is {request.ts - now:+.0f} s off"
    try:
        VerifyKey(bytes.fromhex(device_key)).verify(
            _collect_message(enrolment_id, request.ts), bytes.fromhex(request.signature)
        )
    except (BadSignatureError, ValueError):
        return "collect request not signed by the device that claimed the token"
    return None
