"""Errors raised when bytes on the wire do not match the contract."""


class ContractError(ValueError):
    """A payload, topic or member code does not match the contract."""
