"""What the cloud pushes to a store (catalog, revocations, coupons, issuer keys, staff), kept in step.

Pure bookkeeping of the downlink described in ``contracts/sync.py``: a snapshot newer than what
the store has replaces it, an older one is refused (``RolledBack``) unless it opens a higher
epoch; a delta applies only if its ``from_version`` is the store's version
(otherwise the store marks the channel stale and waits for the retained snapshot). The result
says what to acknowledge with a ``sync_applied`` event.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from contracts.member_code import decode_public_keys
from contracts.staff import StaffEntry
from contracts.sync import (
    CHANNELS,
    CatalogDelta,
    CatalogProduct,
    CatalogSnapshot,
    Coupon,
    CouponDelta,
    CouponList,
    Delta,
    IssuerKeys,
    Promotion,
    RevocationDelta,
    RevocationList,
    Snapshot,
    StaffDelta,
    StaffList,
)

_DELTAS = (CatalogDelta, RevocationDelta, CouponDelta, StaffDelta)  # the keys channel sends whole sets


@dataclass(frozen=True)
class Applied:
    """A downlink message was applied: acknowledge ``channel`` at ``version``."""

    channel: str
    version: int


@dataclass(frozen=True)
class RolledBack:
    """A message older than what the store has (version or epoch): refused, raise ``downlink_refused``."""

    channel: str
    detail: str


@dataclass
class SyncedData:
    """The store's copy of every downlink channel, with its version and epoch."""

    versions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    epochs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    stale: set[str] = field(default_factory=set)
    products: dict[str, CatalogProduct] = field(default_factory=dict)
    promotions: dict[str, Promotion] = field(default_factory=dict)
    coupons: dict[str, Coupon] = field(default_factory=dict)
    revoked_member_ids: set[str] = field(default_factory=set)
    revoked_phone_keys: set[bytes] = field(default_factory=set)
    issuer_keys: dict[bytes, bytes] = field(default_factory=dict)
    staff: dict[str, StaffEntry] = field(default_factory=dict)

    def apply(self, message: Snapshot | Delta, *, snapshot: bool) -> Applied | RolledBack | None:
        """Apply a snapshot or delta; return what to acknowledge, a refusal, or None if there is nothing to do.

        A version never goes backwards within an epoch; a snapshot of a higher epoch is the one
        legitimate reset (it replaces the state whatever its version).
        """
        channel, version, epoch = message.channel, message.version, message.epoch
        current, current_epoch = self.versions.get(channel, 0), self.epochs.get(channel, 0)
        whole = snapshot or not isinstance(message, _DELTAS)
        if epoch < current_epoch:
            return RolledBack(channel, f"{channel} epoch {epoch} is older than the store's epoch {current_epoch}")
        if epoch > current_epoch and not whole:
            self.stale.add(channel)  # a delta of a new epoch: wait for that epoch's snapshot
            return None
        if epoch > current_epoch:
            self._replace(message)
        elif whole:
            if version < current:
                return RolledBack(channel, f"{channel} version {version} is older than the store's {current}")
            if version == current and channel not in self.stale:
                return None
            self._replace(message)
        else:
            assert isinstance(message, _DELTAS)
            if version <= current:
                return None  # already have it (QoS 1 redelivery)
            if message.from_version != current:
                self.stale.add(channel)  # a gap: wait for the retained snapshot
                return None
            self._patch(message)
        self.versions[channel] = version
        self.epochs[channel] = epoch
        self.stale.discard(channel)
        return Applied(channel, version)

    def _replace(self, m: Snapshot | Delta) -> None:
        if isinstance(m, CatalogSnapshot):
            self.products = {p.id: p for p in m.products}
            self.promotions = {p.id: p for p in m.promotions}
        elif isinstance(m, RevocationList):
            self.revoked_member_ids = set(m.revoked_member_ids)
            self.revoked_phone_keys = {bytes.fromhex(k) for k in m.revoked_phone_keys}
        elif isinstance(m, CouponList):
            self.coupons = {c.id: c for c in m.coupons}
        elif isinstance(m, IssuerKeys):
            self.issuer_keys = decode_public_keys(m.keys)
        elif isinstance(m, StaffList):
            self.staff = {e.id: e for e in m.staff}

    def _patch(self, m: Delta) -> None:
        if isinstance(m, CatalogDelta):
            for pid in m.remove_product_ids:
                self.products.pop(pid, None)
            self.products.update({p.id: p for p in m.upsert_products})
            for pid in m.remove_promotion_ids:
                self.promotions.pop(pid, None)
            self.promotions.update({p.id: p for p in m.upsert_promotions})
        elif isinstance(m, RevocationDelta):
            self.revoked_member_ids |= set(m.add_member_ids)
            self.revoked_member_ids -= set(m.remove_member_ids)
            self.revoked_phone_keys |= {bytes.fromhex(k) for k in m.add_phone_keys}
            self.revoked_phone_keys -= {bytes.fromhex(k) for k in m.remove_phone_keys}
        elif isinstance(m, CouponDelta):
            for cid in m.remove_ids:
                self.coupons.pop(cid, None)
            self.coupons.update({c.id: c for c in m.upsert})
        elif isinstance(m, StaffDelta):
            for sid in m.remove_ids:
                self.staff.pop(sid, None)
            self.staff.update({e.id: e for e in m.upsert})

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """Return a JSON-friendly copy (the agent saves it so a restart while offline keeps it)."""
        return {
            "versions": self.versions,
            "epochs": self.epochs,
            "products": [p.model_dump(mode="json") for p in self.products.values()],
            "promotions": [p.model_dump(mode="json") for p in self.promotions.values()],
            "coupons": [c.model_dump(mode="json") for c in self.coupons.values()],
            "revoked_member_ids": sorted(self.revoked_member_ids),
            "revoked_phone_keys": sorted(k.hex() for k in self.revoked_phone_keys),
            "issuer_keys": {k.hex(): base64.b64encode(v).decode() for k, v in self.issuer_keys.items()},
            "staff": [e.model_dump(mode="json") for e in self.staff.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncedData:
        """Rebuild from ``to_json`` output."""
        out = cls()
        out.versions.update({str(k): int(v) for k, v in data.get("versions", {}).items()})
        out.epochs.update({str(k): int(v) for k, v in data.get("epochs", {}).items()})
        out.products = {p["id"]: CatalogProduct.model_validate(p) for p in data.get("products", [])}
        out.promotions = {p["id"]: Promotion.model_validate(p) for p in data.get("promotions", [])}
        out.coupons = {c["id"]: Coupon.model_validate(c) for c in data.get("coupons", [])}
        out.revoked_member_ids = set(data.get("revoked_member_ids", []))
        out.revoked_phone_keys = {bytes.fromhex(k) for k in data.get("revoked_phone_keys", [])}
        out.issuer_keys = decode_public_keys(data.get("issuer_keys", {}))
        out.staff = {e["id"]: StaffEntry.model_validate(e) for e in data.get("staff", [])}
        return out
