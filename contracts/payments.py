"""Online wallet payments for the self-checkout: request and reply over MQTT.

The checkout publishes a :class:`PaymentRequest` on ``smartstore/v1/{store}/pay/request``
(QoS 1, never retained); the cloud authorises it against the member's wallet and answers with a
:class:`PaymentReply` on ``smartstore/v1/{store}/pay/reply`` (QoS 1) echoing ``request_id``.

The cloud is idempotent on ``request_id``: re-sending the same request (a retry after a lost
reply) returns the same reply and never charges twice. A request whose ``expires_at`` has passed
when the cloud sees it is answered ``declined`` with reason ``expired`` and nothing is charged,
so the checkout may fall back to an offline sale after its timeout without risking a double
charge. The later ``sale_completed`` event carries ``payment_mode="online"`` and the
``authorization_id``; the cloud checks it against the authorisation when reconciling.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.errors import ContractError
from contracts.messages import JsonInteger, StrictTimestamp, describe_error, utcnow

PAYMENT_SCHEMA_VERSION: Final = 1
Cents = Annotated[int, Field(ge=0, le=100_000_000), JsonInteger]


def pay_request_topic(store_id: str) -> str:
    """Return ``smartstore/v1/{store}/pay/request`` (``Topics(store_id).pay_request``)."""
    from contracts.topics import Topics  # the topic map imports this module's models

    return Topics(store_id).pay_request


def pay_reply_topic(store_id: str) -> str:
    """Return ``smartstore/v1/{store}/pay/reply`` (``Topics(store_id).pay_reply``)."""
    from contracts.topics import Topics  # the topic map imports this module's models

    return Topics(store_id).pay_reply


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaymentRequest(_Model):
    """Ask the cloud to charge ``amount_cents`` (after coupons) to the member's wallet.

    Attributes:
        request_id: idempotency key chosen by the checkout (reuse it on retry).
        sale_id: the checkout session; the later ``sale_completed`` carries the same id.
        coupon_ids: coupons applied to reach ``amount_cents``; the cloud redeems them with
            the charge and declines (``coupon_unavailable``) if one is already used.
        expires_at: the checkout stops waiting then; a later request is declined ``expired``.
    """

    schema_version: Literal[1] = PAYMENT_SCHEMA_VERSION
    request_id: uuid.UUID
    store_id: Annotated[str, Field(min_length=1, max_length=64)]
    member_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount_cents: Cents
    coupon_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=1000)
    sale_id: uuid.UUID
    expires_at: StrictTimestamp
    ts: StrictTimestamp = Field(default_factory=utcnow)


class PaymentReply(_Model):
    """The cloud's answer to a :class:`PaymentRequest`.

    Attributes:
        status: ``approved`` (charged), ``declined`` (see ``reason``: ``insufficient_funds``,
            ``unknown_member``, ``member_revoked``, ``coupon_unavailable``, ``expired``,
            ``store_mismatch``) or ``error`` (retry later or sell offline).
        authorization_id: set when approved; quote it in ``sale_completed``.
        balance_cents: wallet balance after this request (``None`` if the member is unknown).
    """

    schema_version: Literal[1] = PAYMENT_SCHEMA_VERSION
    request_id: uuid.UUID
    status: Literal["approved", "declined", "error"]
    authorization_id: str | None = None
    balance_cents: int | None = None
    reason: str = ""
    ts: datetime = Field(default_factory=utcnow)


def parse_payment_request(payload: bytes | str) -> PaymentRequest:
    """Parse and validate a payment request.

    Raises:
        ContractError: the payload is not a valid request of schema version 1.
    """
    try:
        return PaymentRequest.model_validate_json(payload)
    except ValidationError as err:
        raise ContractError(f"invalid payment request: {describe_error(err)}") from err


def parse_payment_reply(payload: bytes | str) -> PaymentReply:
    """Parse and validate a payment reply.

    Raises:
        ContractError: the payload is not a valid reply of schema version 1.
    """
    try:
        return PaymentReply.model_validate_json(payload)
    except ValidationError as err:
        raise ContractError(f"invalid payment reply: {describe_error(err)}") from err
