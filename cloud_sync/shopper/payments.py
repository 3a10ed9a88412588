"""Wallet top-ups through a payment provider: the port and the test provider (no card data here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from cloud_sync.config import CloudSettings

TEST_MAX_CENTS = 500_00
TEST_DECLINED_CENTS = 13_13


@dataclass(frozen=True)
class PaymentResult:
    """The provider's answer: approved or not, its reference, and a reason when declined."""

    approved: bool
    provider_ref: str | None
    detail: str = ""


class PaymentProvider(Protocol):
    """The port: take ``amount_cents`` from the shopper's payment method, once per ``idempotency_key``."""

    name: str

    def charge(self, *, member_id: str, amount_cents: int, idempotency_key: str) -> PaymentResult:
        """Ask the provider for the money."""


class TestPaymentProvider:
    """Development provider: approves amounts up to 500.00, declines 13.13 (to try the refusal)."""

    name = "test"

    def charge(self, *, member_id: str, amount_cents: int, idempotency_key: str) -> PaymentResult:
        """Approve or decline by amount alone."""
        if amount_cents == TEST_DECLINED_CENTS:
            return PaymentResult(False, None, "declined by the test provider (13.13 is always declined)")
        if not 0 < amount_cents <= TEST_MAX_CENTS:
            return PaymentResult(False, None, f"the test provider approves 0.01 to {TEST_MAX_CENTS / 100:.2f}")
        ref = f"test-{uuid.uuid5(uuid.NAMESPACE_URL, f'{member_id}/{idempotency_key}').hex[:16]}"
        return PaymentResult(True, ref)


def build_provider(settings: CloudSettings) -> PaymentProvider:
    """Return the provider the settings name (``CLOUD_SHOPPER_PAYMENT_PROVIDER``)."""
    providers: dict[str, type[TestPaymentProvider]] = {"test": TestPaymentProvider}
    return providers[settings.shopper_payment_provider]()
