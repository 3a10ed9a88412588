"""Totals, coupons and the offline payment rule of the self-checkout (pure; the clock comes in).

One :class:`PaymentLedger` is shared by every checkout station of a store. It holds what must be
consistent across stations: the synced coupon list, the coupons redeemed (or reserved by a sale
that is being paid) in this store, and each member's offline spend in the current night.

It keeps no file of its own: the sales journal (an adapter) keeps a :class:`SaleRecord` of each
sale, only what this ledger needs, and rebuilds the ledger at start-up by passing them to
:meth:`record_sale` (idempotent by ``sale_id``). :meth:`still_needs` says when a record may go.

Rules (see docs/checkout.md):

- Promotions (synced with the catalog) come first: each line gets its best promotion in force.
- Coupons then apply automatically to what is left: valid now, bound to the member, subtotal at least
  ``min_total_cents``, not redeemed in this store and not reserved by another station's sale.
  At most ``max_coupons_per_sale`` are used, largest discount first; a percent coupon takes
  ``floor(subtotal * percent / 100)``; the discount never exceeds the subtotal. A coupon used
  here is refused afterwards; double use across stores is the cloud's to detect.
- Offline sales are allowed while the member's offline spend in the current night, this sale
  included, stays within ``floor_limit_cents``. A night runs from ``night_reset_hour`` local time
  to the same hour the next day.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.messages import SaleCompleted
from edge_agent.domain.catalog import Coupon, index_coupons


@dataclass(frozen=True)
class PaymentConfig:
    """Store-wide payment rules.

    Attributes:
        floor_limit_cents: most a member may spend offline per night (0 disables offline sales).
        night_reset_hour: local hour at which a new night starts for the offline limit.
        timezone: the store's IANA time zone.
        max_coupons_per_sale: how many coupons one sale may use.
    """

    floor_limit_cents: int = 3000
    night_reset_hour: int = 12
    timezone: str = "UTC"
    max_coupons_per_sale: int = 1


@dataclass(frozen=True)
class Totals:
    """What a basket costs after promotions and coupons (``discount_cents`` counts both)."""

    subtotal_cents: int
    discount_cents: int
    total_cents: int
    coupon_ids: tuple[str, ...] = ()
    promotion_cents: int = 0
    promotion_ids: tuple[str, ...] = ()


def compute_totals(
    subtotal_cents: int,
    coupons: Sequence[Coupon],
    max_coupons: int,
    promotion_cents: int = 0,
    promotion_ids: tuple[str, ...] = (),
) -> Totals:
    """Take ``promotion_cents`` off, then the best ``max_coupons`` of ``coupons`` (already eligible)."""
    promotion_cents = min(max(promotion_cents, 0), subtotal_cents)
    base = subtotal_cents - promotion_cents
    ranked = sorted(coupons, key=lambda c: (-c.discount_on(base), c.id))
    used: list[str] = []
    discount = 0
    for coupon in ranked[: max(max_coupons, 0)]:
        off = min(coupon.discount_on(base), base - discount)
        if off <= 0:
            continue
        discount += off
        used.append(coupon.id)
    return Totals(
        subtotal_cents,
        promotion_cents + discount,
        base - discount,
        tuple(used),
        promotion_cents,
        promotion_ids if promotion_cents else (),
    )


@dataclass(frozen=True)
class SaleRecord:
    """What the ledger needs of a sale after a restart: no items, no station, no authorisation."""

    sale_id: uuid.UUID
    event_id: uuid.UUID  # its ``sale_completed`` event, to know when the cloud acknowledged it
    member_id: str
    total_cents: int
    payment_mode: str
    at: float  # unix seconds
    coupon_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, sale: SaleCompleted) -> SaleRecord:
        """Keep what the ledger needs of ``sale``."""
        return cls(
            sale.sale_id,
            sale.event_id,
            sale.member_id,
            sale.total_cents,
            sale.payment_mode,
            sale.ts.timestamp(),
            tuple(sale.coupon_ids),
        )


class PaymentLedger:
    """Coupons and offline spend shared by a store's checkout stations."""

    def __init__(self, config: PaymentConfig | None = None, coupons: Iterable[Coupon] = ()) -> None:
        """Start with the synced ``coupons`` and nothing redeemed or spent."""
        self.config = config or PaymentConfig()
        self._zone = ZoneInfo(self.config.timezone)
        self._coupons = index_coupons(coupons)
        self._redeemed: set[str] = set()
        self._reserved: dict[str, uuid.UUID] = {}
        self._offline: dict[tuple[str, str], int] = {}
        self._sales: OrderedDict[uuid.UUID, None] = OrderedDict()

    # ------------------------------------------------------------------ coupons
    def replace_coupons(self, coupons: Iterable[Coupon]) -> None:
        """Install a newer synced coupon list (redemptions seen here are kept)."""
        self._coupons = index_coupons(coupons)

    def redeemed(self, coupon_id: str) -> bool:
        """Return whether the coupon was used in this store."""
        return coupon_id in self._redeemed

    def mark_redeemed(self, coupon_ids: Iterable[str]) -> None:
        """Refuse these coupons from now on (used here, or the cloud said they are used elsewhere)."""
        for cid in coupon_ids:
            self._redeemed.add(cid)
            self._reserved.pop(cid, None)

    def eligible(self, member_id: str, subtotal_cents: int, now: float, sale_id: uuid.UUID) -> list[Coupon]:
        """Return the member's coupons ``sale_id`` may use now."""
        out = []
        for c in self._coupons.get(member_id, ()):
            holder = self._reserved.get(c.id)
            if c.id in self._redeemed or (holder is not None and holder != sale_id):
                continue
            if c.valid_at(now) and subtotal_cents >= c.min_total_cents and c.value > 0:
                out.append(c)
        return out

    def totals(
        self,
        member_id: str,
        subtotal_cents: int,
        now: float,
        sale_id: uuid.UUID,
        promotion_cents: int = 0,
        promotion_ids: tuple[str, ...] = (),
    ) -> Totals:
        """Return the totals of a basket: promotions, then the member's best coupons on the rest."""
        coupons = self.eligible(member_id, subtotal_cents - promotion_cents, now, sale_id)
        return compute_totals(subtotal_cents, coupons, self.config.max_coupons_per_sale, promotion_cents, promotion_ids)

    def reserve(self, coupon_ids: Iterable[str], sale_id: uuid.UUID) -> None:
        """Hold coupons for a sale being paid so no other station uses them meanwhile."""
        for cid in coupon_ids:
            self._reserved[cid] = sale_id

    def release(self, sale_id: uuid.UUID) -> None:
        """Free the coupons a sale held (abandoned, declined, basket changed)."""
        for cid in [k for k, v in self._reserved.items() if v == sale_id]:
            del self._reserved[cid]

    # ------------------------------------------------------------------ offline
    def night_of(self, unix_s: float) -> str:
        """Return the night ``unix_s`` belongs to (the local date on which it started)."""
        local = datetime.fromtimestamp(unix_s, self._zone) - timedelta(hours=self.config.night_reset_hour)
        return local.date().isoformat()

    def offline_spent(self, member_id: str, now: float) -> int:
        """Return the member's offline spend in the current night."""
        return self._offline.get((self.night_of(now), member_id), 0)

    def offline_remaining(self, member_id: str, now: float) -> int:
        """Return how much more the member may spend offline tonight."""
        return max(self.config.floor_limit_cents - self.offline_spent(member_id, now), 0)

    def offline_allows(self, member_id: str, amount_cents: int, now: float) -> bool:
        """Return whether an offline sale of ``amount_cents`` stays within the member's floor limit."""
        return amount_cents <= self.offline_remaining(member_id, now)

    # ------------------------------------------------------------------ sales
    def record_sale(self, sale: SaleCompleted | SaleRecord) -> bool:
        """Account for a completed sale (live or replayed from the journal); return False if already seen."""
        if isinstance(sale, SaleCompleted):
            sale = SaleRecord.of(sale)
        if sale.sale_id in self._sales:
            return False
        self._sales[sale.sale_id] = None
        while len(self._sales) > 100_000:
            self._sales.popitem(last=False)
        self.release(sale.sale_id)
        self.mark_redeemed(sale.coupon_ids)
        if sale.payment_mode == "offline":
            key = (self.night_of(sale.at), sale.member_id)
            self._offline[key] = self._offline.get(key, 0) + sale.total_cents
            current = self.night_of(sale.at)
            for old in [k for k in self._offline if k[0] < current and k != key]:
                del self._offline[old]
        return True

    def still_needs(self, record: SaleRecord, *, acknowledged: bool, now: float) -> bool:
        """Return whether a restarted ledger would still need ``record``.

        Until the cloud acknowledges the sale, always. After that, an offline sale only while its
        night lasts (it counts against the member's floor limit) and a sale with coupons only
        while the synced list still offers one of them (the cloud removes a redeemed coupon, and
        until that reaches the store only this record refuses it a second time).
        """
        if not acknowledged:
            return True
        if record.payment_mode == "offline" and self.night_of(record.at) == self.night_of(now):
            return True
        offered = {c.id for coupons in self._coupons.values() for c in coupons}
        return any(cid in offered for cid in record.coupon_ids)
