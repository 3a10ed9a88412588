"""Exception base for the product-recognition package."""

from __future__ import annotations


class ModelError(Exception):
    """Raise for any product-recognition failure (bad input, missing model, bad gallery)."""
