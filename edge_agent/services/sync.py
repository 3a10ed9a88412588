"""The sync service: applies downlink snapshots and deltas (keys, revocations, catalog, coupons, staff).

It also raises the ``downlink_refused`` alarm: for messages the downlink handlers refused
(``DownlinkRefusal``, already rate-limited there) and for signed snapshots older than what the
store has (``RolledBack``), at most one a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contracts.messages import AlarmKind, AlarmRaised, SyncApplied
from contracts.signing import RefusalReason
from contracts.sync import Delta, Snapshot
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.ports import Clock, SystemClock
from edge_agent.domain.staff import StaffDirectory
from edge_agent.domain.synced import RolledBack, SyncedData
from edge_agent.domain.trust import RefusalLimiter
from edge_agent.services.events import EventEmitter
from edge_agent.services.stats import AgentStats


@dataclass(frozen=True)
class SyncReceived:
    """A downlink snapshot or delta arrived from the cloud."""

    message: Snapshot | Delta
    snapshot: bool


@dataclass(frozen=True)
class DownlinkRefusal:
    """A downlink message was refused (``suppressed``: refusals of that reason not alarmed before it)."""

    reason: RefusalReason
    topic: str
    detail: str = ""
    suppressed: int = 0


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
        clock: Clock | None = None,
        stats: AgentStats | None = None,
        staff: StaffDirectory | None = None,
    ) -> None:
        """Apply ``synced`` to ``verifiers`` and ``staff``; ``on_synced`` saves it, ``on_catalog`` feeds checkout."""
        self.synced = synced
        self.staff = staff
        self.emitter = emitter
        self.verifiers = list({id(v): v for v in verifiers}.values())  # the door's and the checkouts'
        self.on_synced = on_synced or (lambda data: None)
        self.on_catalog = on_catalog
        self.clock = clock or SystemClock()
        self.stats = stats or AgentStats()
        self.limiter = RefusalLimiter()
        self._apply_to_verifiers()

    def refused(self, item: DownlinkRefusal) -> None:
        """Raise ``downlink_refused`` saying why (decision thread)."""
        more = f" ({item.suppressed} more refused since the last alarm)" if item.suppressed else ""
        detail = f"{item.reason.value} on {item.topic}: {item.detail}{more}"[:1000]
        self.emitter.append(
            AlarmRaised(
                store_id=self.emitter.topics.store_id,
                alarm=AlarmKind.DOWNLINK_REFUSED,
                source="downlink",
                severity="critical",
                detail=detail,
            )
        )
        self.emitter.flush()

    def handle(self, item: SyncReceived | DownlinkRefusal) -> None:
        """Apply one downlink message in order, then report the version applied (decision thread)."""
        if isinstance(item, DownlinkRefusal):
            self.refused(item)
            return
        applied = self.synced.apply(item.message, snapshot=item.snapshot)
        if isinstance(applied, RolledBack):
            reason = RefusalReason.ROLLED_BACK
            self.stats.downlink_refused[reason.value] = self.stats.downlink_refused.get(reason.value, 0) + 1
            suppressed = self.limiter.allow(reason, self.clock.monotonic())
            if suppressed is not None:
                self.refused(
                    DownlinkRefusal(
                        reason, self.emitter.topics.sync_snapshot(applied.channel), applied.detail, suppressed
                    )
                )
            return
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
        if self.staff is not None:
            self.staff.replace(self.synced.staff.values(), versions.get("staff", 0))
