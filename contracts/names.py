"""Topic prefix and store ids: the names every other contract module builds on."""

from __future__ import annotations

import re

from contracts.errors import ContractError

PREFIX = "smartstore/v1"
STORE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_store_id(store_id: str) -> str:
    """Return ``store_id`` if it is a valid single topic level, else raise ContractError."""
    if not STORE_ID_RE.fullmatch(store_id):
        raise ContractError(f"invalid store id {store_id!r}: use 1-64 of [A-Za-z0-9_-]")
    return store_id
