"""Which downlink keys the store pins, and how often a refusal may raise an alarm (pure).

The pinned set comes from enrolment (``downlink_keys_file``) and moves on only through a
``sync/downlink-keys`` announcement signed by a key already pinned, with a higher version
(``contracts.signing.DownlinkKeys``). ``RefusalLimiter`` keeps a flood of forged messages
from filling the outbox with alarms: one alarm per reason per ``every_s``, the next one
saying how many were refused in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from contracts.signing import DownlinkKeys, DownlinkRefused, RefusalReason, open_envelope

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class PinnedKeys:
    """The downlink verification keys of one store (``None``: nothing pinned, refuse all)."""

    def __init__(self, store_id: str, pinned: DownlinkKeys | None) -> None:
        """Pin ``pinned`` for ``store_id``."""
        self.store_id = store_id
        self.pinned = pinned
        self._keys: Mapping[str, Ed25519PublicKey] = pinned.public_keys() if pinned else {}

    @property
    def version(self) -> int:
        """Return the pinned set's version (0 when nothing is pinned)."""
        return self.pinned.version if self.pinned else 0

    def open(self, topic: str, data: bytes) -> bytes:
        """Verify a message received on ``topic``; return its inner payload.

        Raises:
            DownlinkRefused: see ``contracts.signing.open_envelope``.
        """
        return open_envelope(data, topic=topic, store_id=self.store_id, keys=self._keys)

    def rotate(self, announced: DownlinkKeys) -> bool:
        """Pin ``announced`` (already verified with a pinned key); return False if it is not newer.

        Raises:
            DownlinkRefused: ``rolled_back``, an announcement older than the pinned set.
        """
        if announced.version < self.version:
            raise DownlinkRefused(
                RefusalReason.ROLLED_BACK, f"downlink keys version {announced.version} < pinned {self.version}"
            )
        if announced.version == self.version:
            return False
        self.pinned = announced
        self._keys = announced.public_keys()
        return True


class RefusalLimiter:
    """At most one alarm per reason every ``every_s`` seconds."""

    def __init__(self, every_s: float = 60.0) -> None:
        """Allow one alarm per reason per ``every_s``."""
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, reason: str, now: float) -> int | None:
        """Return how many refusals of ``reason`` were not alarmed since the last alarm, or None to stay quiet."""
        last = self._last.get(reason)
        if last is not None and now - last < self.every_s:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return None
        self._last[reason] = now
        return self._suppressed.pop(reason, 0)
