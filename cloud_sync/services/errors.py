"""Errors raised by services and mapped to HTTP answers by the API."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out; ``status`` is the HTTP code to answer."""

    status = 400

    def __init__(self, detail: str) -> None:
        """Keep the human-readable detail."""
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    """The resource does not exist."""

    status = 404


class Conflict(ServiceError):
    """The resource exists already or is in the wrong state."""

    status = 409


class PaymentRequired(ServiceError):
    """The wallet balance does not cover the amount."""

    status = 402


class Invalid(ServiceError):
    """The request is well-formed but not acceptable."""

    status = 422


class Unavailable(ServiceError):
    """The service cannot do this now (e.g. a key it needs is locked); retrying later may work."""

    status = 503
