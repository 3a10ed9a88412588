"""A downlink key for tests and the demo: sign commands and sync messages like the cloud does.

``TEST_CLOUD`` is one fixed, well-known key (never use it for a real store): test fixtures pin
it on their agents with ``pin(path)``, and anything publishing to an agent wraps its payload
with ``signed(topic, payload)``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.messages import dump
from contracts.signing import DownlinkKeys, DownlinkSigner


def signer_from_seed(seed: str) -> DownlinkSigner:
    """Return a deterministic signer (tests only)."""
    return DownlinkSigner(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest()))


TEST_CLOUD = signer_from_seed("smartstore test downlink key: not for production")


def pinned(*signers: DownlinkSigner, version: int = 1) -> DownlinkKeys:
    """Return the key set that pins ``signers`` (default ``TEST_CLOUD``)."""
    return DownlinkKeys.of(version, [s.public_key for s in signers or (TEST_CLOUD,)])


def pin(path: Path, *signers: DownlinkSigner, version: int = 1) -> Path:
    """Write a ``downlink_keys_file`` pinning ``signers`` (default ``TEST_CLOUD``) and return its path."""
    path.write_bytes(dump(pinned(*signers, version=version)))
    return path


def signed(topic: str, payload: bytes, *, signer: DownlinkSigner | None = None, fleet: bool = False) -> bytes:
    """Wrap ``payload`` for ``topic`` as the cloud would (``TEST_CLOUD`` unless told)."""
    return (signer or TEST_CLOUD).sign(topic, payload, fleet=fleet)


def write_cloud_key(path: Path) -> Path:
    """Write a cloud key file (``CLOUD_DOWNLINK_KEY_FILE``) whose active key is ``TEST_CLOUD``."""
    from cloud_sync.downlink_key import DownlinkKeyFile, save

    save(path, DownlinkKeyFile(1, TEST_CLOUD))
    return path


def unwrap(topic: str, payload: bytes) -> bytes:
    """Return the inner payload of a message the cloud signed with ``TEST_CLOUD`` for ``topic``.

    Raises:
        DownlinkRefused: it is not signed so (what a store would refuse).
    """
    from contracts.names import PREFIX
    from contracts.signing import open_envelope

    store = topic.removeprefix(PREFIX + "/").split("/", 1)[0]
    return open_envelope(payload, topic=topic, store_id=store, keys=pinned().public_keys())
