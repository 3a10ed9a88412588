"""The sync service: applies downlink snapshots and deltas (keys, revocations, catalog, coupons)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contracts.messages import SyncApplied
from contracts.sync import Delta, Snapshot
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.synced import SyncedData
from edge_agent.services.events import EventEmitter


@dataclass(frozen=True)
class SyncReceived:
    """A downlink snapshot or delta arrived from the cloud."""

    message: Snapshot | Delta
    snapshot: bool


class SyncService:
    """Keep the synced downlink state and push it to the verifiers and the checkout."""

    def __init__(
        self,
        synced: SyncedData,
        emitter: EventEmitter,
        *,
        verifiers: Sequence[AccessVerifier] = (),
        on_synced: Callable[[SyncedData], None] | None = None,
        on_catalog: Callable[[SyncedData], None] | None = None,
    ) -> None:
        """Apply ``synced`` to ``verifiers`` now; ``on_synced`` saves it, ``on_catalog`` updates the checkout."""
        self.synced = synced
        self.emitter = emitter
        self.verifiers = list({id(v): v for v in verifiers}.values())  # the door's and the checkouts'
        self.on_synced = on_synced or (lambda data: None)
        self.on_catalog = on_catalog
        self._apply_to_verifiers()

    def handle(self, item: SyncReceived) -> None:
        """Apply one downlink message in order, then report the version applied (decision thread)."""
        applied = self.synced.apply(item.message, snapshot=item.snapshot)
        if applied is None:
            return
        self._apply_to_verifiers()
        if applied.channel in ("catalog", "coupons") and self.on_catalog is not None:
            self.on_catalog(self.synced)
        self.on_synced(self.synced)
        topics = self.emitter.topics
        self.emitter.append(SyncApplied(store_id=topics.store_id, channel=applied.channel, version=applied.version))
        self.emitter.flush()

    def _apply_to_verifiers(self) -> None:
        versions = self.synced.versions
        for verifier in self.verifiers:
            if versions.get("revocations", 0):
                verifier.revocations.replace(
                    self.synced.revoked_member_ids, self.synced.revoked_phone_keys, versions["revocations"]
                )
            if versions.get("keys", 0) and self.synced.issuer_keys:
                verifier.trusted_keys = dict(self.synced.issuer_keys)
