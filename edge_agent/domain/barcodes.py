"""Retail barcodes: GTIN check digits and the store's weight/price-embedded label schemes.

Every code is normalised to a GTIN-13 string before it is looked up: a UPC-A (12 digits) is the
EAN-13 with a leading ``0``, a GTIN-14 whose indicator digit is ``0`` drops it, and an EAN-8 stays
an 8-digit key (it has no 13-digit form). A code whose check digit is wrong is refused.

Variable-measure labels (GS1 restricted circulation numbers, EAN-13 prefixes 20-29, UPC-A number
system 2) carry an item code and a weight or a price instead of a fixed product number. Their
layout is a per-store choice, so it is configured as patterns, one per prefix::

    21PPPPPWWWWWC   EAN-13, prefix 21, item code 5 digits, weight 5 digits (kg, 3 decimals)
    22PPPPP$$$$$C   EAN-13, prefix 22, item code 5 digits, price 5 digits (2 decimals)
    2PPPPPV$$$$C    UPC-A (becomes 02PPPPPV$$$$C), item 5 digits, price check digit, price 4 digits

Pattern letters: leading digits are the literal prefix; ``P`` item code; ``W`` weight; ``$``
price; ``V`` the GS1 price/weight check digit over the value field (4 or 5 digits); ``C`` the
GTIN check digit (last). ``decimals`` says where the decimal point sits in the value field: a
weight is in kilograms (``decimals=3`` → grams), a price in currency units (``decimals=2`` →
cents).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# GS1 price check digit weighting tables (GS1 General Specifications 7.9.2-7.9.4).
_W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)  # "2-": 2*d, units digit minus tens digit
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)  # "3": 3*d, units digit
_W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)  # "5+": 5*d, units digit plus tens digit
_W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)  # "5-": 5*d, units digit minus tens digit


def gtin_check_digit(body: str) -> int:
    """Return the GS1 modulo-10 check digit of ``body`` (weights 3,1,3,... from the right)."""
    if not body.isdigit() or not body.isascii():
        raise ValueError(f"GTIN body must be digits, got {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _valid(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit() and gtin_check_digit(code[:-1]) == int(code[-1])


def is_valid_ean13(code: str) -> bool:
    """Return whether ``code`` is 13 digits with a correct check digit."""
    return _valid(code, 13)


def is_valid_upca(code: str) -> bool:
    """Return whether ``code`` is 12 digits with a correct check digit."""
    return _valid(code, 12)


def is_valid_ean8(code: str) -> bool:
    """Return whether ``code`` is 8 digits with a correct check digit."""
    return _valid(code, 8)


def normalize_gtin(code: str) -> str | None:
    """Return the lookup key of a scanned code (GTIN-13, or 8 digits for EAN-8), or ``None`` if invalid."""
    text = code.strip()
    if len(text) == 12:
        text = "0" + text  # UPC-A is EAN-13 with a leading 0
    elif len(text) == 14 and text.startswith("0"):
        text = text[1:]  # GTIN-14 with indicator 0 is the GTIN-13
    if len(text) == 13:
        return text if is_valid_ean13(text) else None
    if len(text) == 8:
        return text if is_valid_ean8(text) else None
    return None


def price_check_digit(value: str) -> int:
    """Return the GS1 check digit of a 4- or 5-digit price/weight field (e.g. ``2875`` → 9, ``14685`` → 6)."""
    if not value.isascii() or not value.isdigit() or len(value) not in (4, 5):
        raise ValueError(f"price check digit needs 4 or 5 digits, got {value!r}")
    d = [int(c) for c in value]
    if len(d) == 4:
        return (3 * (_W2_MINUS[d[0]] + _W2_MINUS[d[1]] + _W3[d[2]] + _W5_MINUS[d[3]])) % 10
    total = _W5_PLUS[d[0]] + _W2_MINUS[d[1]] + _W5_MINUS[d[2]] + _W5_PLUS[d[3]] + _W2_MINUS[d[4]]
    target = (10 - total % 10) % 10
    return _W5_MINUS.index(target)


@dataclass(frozen=True)
class EmbeddedLayout:
    """Where a variable-measure label keeps its item code and value (see the module docstring).

    Attributes:
        prefix: literal leading digits of the GTIN-13 form (``"21"``; ``"02"`` for a UPC-A ``2...``).
        kind: ``weight`` (kilograms) or ``price`` (currency units).
        item_start / item_digits: position and length of the item code.
        value_start / value_digits: position and length of the value field.
        check_at: position of the price/weight check digit, or ``None`` if the layout has none.
        decimals: decimal places of the value field.
    """

    prefix: str
    kind: Literal["weight", "price"]
    item_start: int
    item_digits: int
    value_start: int
    value_digits: int
    check_at: int | None
    decimals: int

    @classmethod
    def parse(cls, pattern: str, *, decimals: int | None = None) -> EmbeddedLayout:
        """Build a layout from a pattern such as ``21PPPPPWWWWWC`` (12-character patterns are UPC-A)."""
        text = pattern.strip().upper()
        if len(text) == 12:
            text = "0" + text
        if len(text) != 13 or not text.endswith("C"):
            raise ValueError(f"pattern must have 12 or 13 characters and end with C: {pattern!r}")
        prefix = ""
        for ch in text:
            if not ch.isdigit():
                break
            prefix += ch
        body = text[len(prefix) : -1]
        if not prefix or set(body) - set("PW$V"):
            raise ValueError(f"pattern needs a digit prefix then only P, W, $ and V: {pattern!r}")
        kinds = set(body) & {"W", "$"}
        if len(kinds) != 1:
            raise ValueError(f"pattern needs exactly one of W (weight) or $ (price): {pattern!r}")
        value_char = kinds.pop()
        kind: Literal["weight", "price"] = "weight" if value_char == "W" else "price"
        item = _run(text, "P", pattern)
        value = _run(text, value_char, pattern)
        check = [i for i, ch in enumerate(text) if ch == "V"]
        if len(check) > 1:
            raise ValueError(f"at most one V in {pattern!r}")
        if check and value[1] not in (4, 5):
            raise ValueError(f"a V check digit needs a 4- or 5-digit value field: {pattern!r}")
        places = decimals if decimals is not None else (3 if kind == "weight" else 2)
        if not 0 <= places <= value[1]:
            raise ValueError(f"decimals must be between 0 and {value[1]}")
        return cls(prefix, kind, item[0], item[1], value[0], value[1], check[0] if check else None, places)

    def matches(self, gtin13: str) -> bool:
        """Return whether a (valid) GTIN-13 uses this layout."""
        return len(gtin13) == 13 and gtin13.startswith(self.prefix)


def _run(text: str, ch: str, pattern: str) -> tuple[int, int]:
    positions = [i for i, c in enumerate(text) if c == ch]
    if not positions:
        raise ValueError(f"pattern has no {ch}: {pattern!r}")
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise ValueError(f"the {ch} digits must be contiguous: {pattern!r}")
    return positions[0], len(positions)


@dataclass(frozen=True)
class ProductCode:
    """An ordinary product number (look it up in the catalog's barcodes)."""

    gtin: str


@dataclass(frozen=True)
class EmbeddedCode:
    """A variable-measure label: an item code plus its weight or its price."""

    gtin: str
    item_code: str
    weight_g: float | None = None
    price_cents: int | None = None


Decoded = ProductCode | EmbeddedCode


@dataclass(frozen=True)
class BarcodeScheme:
    """The store's variable-measure layouts; codes with other prefixes are plain product numbers."""

    layouts: tuple[EmbeddedLayout, ...] = ()

    @classmethod
    def from_patterns(cls, patterns: Iterable[str | tuple[str, int]]) -> BarcodeScheme:
        """Build a scheme from patterns, each optionally paired with its decimals."""
        layouts = []
        for p in patterns:
            pattern, decimals = p if isinstance(p, tuple) else (p, None)
            layouts.append(EmbeddedLayout.parse(pattern, decimals=decimals))
        return cls(tuple(layouts))

    def decode(self, code: str) -> Decoded | None:
        """Decode a scanned code; return ``None`` when it is not a valid GTIN or its value check fails."""
        gtin = normalize_gtin(code)
        if gtin is None:
            return None
        layout = next((lay for lay in self.layouts if lay.matches(gtin)), None)
        if layout is None:
            return ProductCode(gtin)
        item = gtin[layout.item_start : layout.item_start + layout.item_digits]
        digits = gtin[layout.value_start : layout.value_start + layout.value_digits]
        if layout.check_at is not None and price_check_digit(digits) != int(gtin[layout.check_at]):
            return None
        raw = int(digits)
        if layout.kind == "weight":
            return EmbeddedCode(gtin, item, weight_g=raw * 1000 / 10**layout.decimals)
        if layout.decimals <= 2:
            cents = raw * 10 ** (2 - layout.decimals)
        else:
            cents = (raw + 10 ** (layout.decimals - 2) // 2) // 10 ** (layout.decimals - 2)
        return EmbeddedCode(gtin, item, price_cents=cents)


def make_embedded(layout: EmbeddedLayout, item_code: str, value: int) -> str:
    """Return the GTIN-13 of a label with ``item_code`` and the raw integer ``value`` (for tests and tools)."""
    if len(item_code) != layout.item_digits or not item_code.isdigit():
        raise ValueError(f"item code must be {layout.item_digits} digits")
    digits = str(value).zfill(layout.value_digits)
    if len(digits) != layout.value_digits or value < 0:
        raise ValueError(f"value does not fit {layout.value_digits} digits")
    chars = list(layout.prefix.ljust(12, "0"))
    chars[layout.item_start : layout.item_start + layout.item_digits] = item_code
    chars[layout.value_start : layout.value_start + layout.value_digits] = digits
    if layout.check_at is not None:
        chars[layout.check_at] = str(price_check_digit(digits))
    body = "".join(chars)
    return body + str(gtin_check_digit(body))
