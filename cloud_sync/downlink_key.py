"""The cloud's downlink signing key, in a file (0600) named by ``CLOUD_DOWNLINK_KEY_FILE``.

The file is JSON::

    {"version": 2, "active": "<raw private key, base64url>", "previous": "<raw private key>" | null}

``active`` signs everything the cloud sends stores (``contracts.signing``). ``rotate`` makes a
new active key and keeps the old one as ``previous``: the publisher then announces the key set
``{active, previous}`` (version ``version``) on every store's retained ``sync/downlink-keys``,
signed with ``previous``, so a store that pins only the old key accepts the new one. The next
rotation drops the oldest. ``smartstore cloud downlink-key create|rotate|show``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.signing import DownlinkKeys, DownlinkSigner, b64url, unb64url

log = logging.getLogger(__name__)


class DownlinkKeyError(ValueError):
    """The key file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class DownlinkKeyFile:
    """The active signing key, the previous one (during a rotation) and the key set's version."""

    version: int
    active: DownlinkSigner
    previous: DownlinkSigner | None = None

    def announcement(self) -> DownlinkKeys:
        """Return the key set stores should pin (active first, then previous)."""
        keys = [self.active.public_key] + ([self.previous.public_key] if self.previous else [])
        return DownlinkKeys.of(self.version, keys)

    @property
    def announcer(self) -> DownlinkSigner:
        """Return the key that signs the announcement (the one stores already pin)."""
        return self.previous or self.active

    def to_json(self) -> dict[str, object]:
        """Return the file's content."""
        return {"version": self.version, "active": _raw(self.active), "previous": _raw(self.previous)}


def _raw(signer: DownlinkSigner | None) -> str | None:
    if signer is None:
        return None
    return b64url(
        signer.key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    )


def _signer(text: object) -> DownlinkSigner:
    if not isinstance(text, str):
        raise DownlinkKeyError("a key must be base64url text")
    try:
        return DownlinkSigner(Ed25519PrivateKey.from_private_bytes(unb64url(text)))
    except ValueError as err:
        raise DownlinkKeyError(f"not a raw Ed25519 private key: {err}") from err


def load(path: Path) -> DownlinkKeyFile:
    """Read the key file.

    Raises:
        DownlinkKeyError: missing or malformed.
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise DownlinkKeyError(f"{path} does not exist: create it with `smartstore cloud downlink-key create`") from err
    except (OSError, ValueError) as err:
        raise DownlinkKeyError(f"{path}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("version"), int) or data["version"] < 1:
        raise DownlinkKeyError(f"{path}: expected {{version, active, previous}}")
    previous = data.get("previous")
    return DownlinkKeyFile(
        data["version"], _signer(data.get("active")), None if previous is None else _signer(previous)
    )


def save(path: Path, keys: DownlinkKeyFile) -> None:
    """Write the key file atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys.to_json(), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def create(path: Path) -> DownlinkKeyFile:
    """Create a new key file (version 1).

    Raises:
        DownlinkKeyError: the file exists already.
    """
    if path.exists():
        raise DownlinkKeyError(f"{path} exists already; use `downlink-key rotate` to replace the key")
    keys = DownlinkKeyFile(1, DownlinkSigner(Ed25519PrivateKey.generate()))
    save(path, keys)
    return keys


def rotate(path: Path) -> DownlinkKeyFile:
    """Make a new active key; the current one becomes ``previous`` (the oldest is dropped)."""
    old = load(path)
    keys = DownlinkKeyFile(old.version + 1, DownlinkSigner(Ed25519PrivateKey.generate()), old.active)
    save(path, keys)
    return keys


def load_or_create(path: Path | None) -> DownlinkKeyFile:
    """Load the key file, creating it if missing; without a path, an ephemeral key nobody pins."""
    if path is None:
        log.error(
            "CLOUD_DOWNLINK_KEY_FILE is not set: downlink messages are signed with a throw-away key that no "
            "store pins, so stores refuse them (create one with `smartstore cloud downlink-key create`)"
        )
        return DownlinkKeyFile(1, DownlinkSigner(Ed25519PrivateKey.generate()))
    if not path.exists():
        keys = create(path)
        log.warning("created downlink signing key %s (kid %s): pin it on stores", path, keys.active.kid)
        return keys
    return load(path)


class ActiveSigner:
    """The key file's active signer, reloaded when the file changes (a rotation by another process).

    Ingest workers sign delivery acknowledgements and payment replies with it; ``cloud serve``
    rotates the file, and each worker picks the new key up at its next message.
    """

    def __init__(self, path: Path | None) -> None:
        """Load (or create) the key file at ``path``; without one, a throw-away key (stores refuse it)."""
        self.path = path
        self._mtime = self._stat()
        self.signer = load_or_create(path).active

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path is not None else None
        except OSError:
            return None

    def sign(self, topic: str, payload: bytes) -> bytes:
        """Sign ``payload`` for ``topic`` with the current active key."""
        mtime = self._stat()
        if mtime != self._mtime and self.path is not None:
            try:
                self.signer = load(self.path).active
                self._mtime = mtime
            except DownlinkKeyError as err:  # keep signing with the key we have; say so
                log.error("cannot reload %s: %s", self.path, err)
        return self.signer.sign(topic, payload)
