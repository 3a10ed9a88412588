"""The signed downlink envelope: what verifies, and why everything else is refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.signing import (
    DownlinkKeys,
    DownlinkRefused,
    DownlinkSigner,
    RefusalReason,
    b64url,
    open_envelope,
    parse_downlink_keys,
    unb64url,
)
from contracts.topics import Topics

CLOUD = DownlinkSigner(Ed25519PrivateKey.generate())
KEYS = {CLOUD.kid: CLOUD.public_key}
STRANGER = DownlinkSigner(Ed25519PrivateKey.generate())
T = Topics("store-1")


def _refused(data: bytes, topic: str = T.command("unlock"), store: str = "store-1", keys=KEYS) -> RefusalReason:  # type: ignore[no-untyped-def]
    with pytest.raises(DownlinkRefused) as err:
        open_envelope(data, topic=topic, store_id=store, keys=keys)
    return err.value.reason


def test_a_signed_message_opens_to_its_exact_bytes() -> None:
    payload = b'{"b": 1,  "a":"\xc3\xa9"}'  # odd spacing and unicode: the bytes, not a re-serialisation
    topic = T.command("unlock")
    assert open_envelope(CLOUD.sign(topic, payload), topic=topic, store_id="store-1", keys=KEYS) == payload


def test_a_fleet_message_is_valid_on_that_topic_of_every_store_only() -> None:
    data = CLOUD.sign(T.sync_snapshot("revocations"), b"{}", fleet=True)
    for store in ("store-1", "store-2"):
        topic = Topics(store).sync_snapshot("revocations")
        assert open_envelope(data, topic=topic, store_id=store, keys=KEYS) == b"{}"
    assert _refused(data, topic=T.sync_snapshot("keys")) is RefusalReason.WRONG_TOPIC


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b'{"name":"unlock","correlation_id":"x"}', RefusalReason.UNSIGNED),
        (lambda: b"not json", RefusalReason.MALFORMED),
        (
            lambda: DownlinkSigner(Ed25519PrivateKey.generate()).sign(T.command("unlock"), b"{}"),
            RefusalReason.UNKNOWN_KEY,
        ),
        (lambda: CLOUD.sign(Topics("store-2").command("unlock"), b"{}"), RefusalReason.WRONG_STORE),
        (lambda: CLOUD.sign(T.command("lockdown"), b"{}"), RefusalReason.WRONG_TOPIC),
    ],
)
def test_unsigned_foreign_and_misaddressed_messages_are_refused(make, reason: RefusalReason) -> None:  # type: ignore[no-untyped-def]
    assert _refused(make()) is reason


def test_any_change_to_the_payload_or_the_signed_fields_breaks_the_signature() -> None:
    topic = T.command("unlock")
    env = json.loads(CLOUD.sign(topic, b'{"duration_s":1}'))
    tampered = dict(env, payload=b64url(b'{"duration_s":60}'))
    assert _refused(json.dumps(tampered).encode()) is RefusalReason.BAD_SIGNATURE
    fleet = dict(env, scope="*", topic="smartstore/v1/+/cmd/unlock")  # a store message replayed fleet-wide
    assert _refused(json.dumps(fleet).encode()) is RefusalReason.BAD_SIGNATURE
    extra = dict(env, note="x")
    assert _refused(json.dumps(extra).encode()) is RefusalReason.MALFORMED
    padded = dict(env, payload=env["payload"] + "=")
    assert _refused(json.dumps(padded).encode()) is RefusalReason.MALFORMED


def test_no_pinned_key_refuses_everything() -> None:
    assert _refused(CLOUD.sign(T.command("unlock"), b"{}"), keys={}) is RefusalReason.NO_KEYS


def test_base64url_is_strict() -> None:
    assert unb64url(b64url(b"\x00\xff")) == b"\x00\xff"
    for bad in ("AP8=", "AP9", "AP 8", "AP+8"):
        with pytest.raises(ValueError, match="base64url"):
            unb64url(bad)


def test_downlink_keys_name_each_key_by_its_id() -> None:
    keys = DownlinkKeys.of(3, [CLOUD.public_key])
    assert parse_downlink_keys(keys.model_dump_json()) == keys
    assert parse_downlink_keys(json.dumps(keys.keys)).version == 1  # a bare {kid: key} file
    wrong = {"0" * 16: next(iter(keys.keys.values()))}
    with pytest.raises(ValueError, match="not the raw 32-byte key"):
        parse_downlink_keys(json.dumps({"version": 1, "keys": wrong}))
