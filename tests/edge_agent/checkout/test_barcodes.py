"""Barcodes: GTIN check digits, normalisation and the store's weight/price-embedded labels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.domain.barcodes import (
    BarcodeScheme,
    EmbeddedCode,
    EmbeddedLayout,
    ProductCode,
    gtin_check_digit,
    is_valid_ean8,
    is_valid_ean13,
    is_valid_upca,
    make_embedded,
    normalize_gtin,
    price_check_digit,
)
from tests.edge_agent.checkout.kit import SCHEME


def test_golden_check_digits() -> None:
    assert is_valid_ean13("4006381333931")
    assert not is_valid_ean13("4006381333932")
    assert gtin_check_digit("400638133393") == 1
    assert is_valid_upca("036000241457")  # the tissue box of the UPC literature
    assert not is_valid_upca("036000241458")
    assert is_valid_ean8("96385074")
    assert not is_valid_ean13("400638133393X")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("036000241457", "0036000241457"),  # UPC-A is EAN-13 with a leading 0
        (" 4006381333931 ", "4006381333931"),
        ("04006381333931", "4006381333931"),  # GTIN-14 with indicator 0
        ("96385074", "96385074"),
        ("4006381333932", None),  # wrong check digit
        ("12345", None),
        ("abcdefghijklm", None),
    ],
)
def test_normalize(raw: str, key: str | None) -> None:
    assert normalize_gtin(raw) == key


def test_price_check_digit_gs1_examples() -> None:
    assert price_check_digit("2875") == 9
    assert price_check_digit("14685") == 6
    assert price_check_digit("0599") == 1
    with pytest.raises(ValueError, match="4 or 5"):
        price_check_digit("123")


def test_weight_embedded_ean13_decodes_item_and_grams() -> None:
    code = "2112345012346"  # 21 | item 12345 | 01.234 kg | check 6 (computed by hand)
    assert is_valid_ean13(code)
    assert SCHEME.decode(code) == EmbeddedCode(code, "12345", weight_g=1234.0)


def test_price_embedded_ean13_decodes_cents() -> None:
    code = "2254321004508"  # 22 | item 54321 | 004.50 | check 8
    assert SCHEME.decode(code) == EmbeddedCode(code, "54321", price_cents=450)


def test_upca_price_with_price_check_digit() -> None:
    decoded = SCHEME.decode("201234105992")  # 2 | item 01234 | price check 1 | $5.99 | check 2
    assert decoded == EmbeddedCode("0201234105992", "01234", price_cents=599)
    # same code with a wrong price check digit (GTIN check digit fixed up so only the price check fails)
    body = "20123420599"
    bad = body + str(gtin_check_digit(body))
    assert is_valid_upca(bad)
    assert SCHEME.decode(bad) is None


def test_decimals_are_configurable() -> None:
    scheme = BarcodeScheme.from_patterns([("21PPPPPWWWWWC", 2), ("22PPPPP$$$$$C", 3)])
    assert scheme.decode("2112345012346") == EmbeddedCode("2112345012346", "12345", weight_g=12340.0)
    decoded = scheme.decode("2254321004508")  # 4.50 with three decimals is 0.450 → 45 cents
    assert isinstance(decoded, EmbeddedCode)
    assert decoded.price_cents == 45


def test_codes_outside_the_scheme_are_product_numbers() -> None:
    assert SCHEME.decode("4006381333931") == ProductCode("4006381333931")
    assert BarcodeScheme().decode("2112345012346") == ProductCode("2112345012346")
    assert SCHEME.decode("2112345012347") is None  # bad GTIN check digit


@pytest.mark.parametrize(
    "pattern",
    ["21PPPPPWWWWW", "21PPPPP$WWWWC", "21PPPPPVWWWC", "AAPPPPPWWWWWC", "21PPWPPWWWWWC", "PPPPPPWWWWWWC"],
)
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"pattern|V|contiguous"):
        EmbeddedLayout.parse(pattern)


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.sampled_from(["21PPPPPWWWWWC", "22PPPPP$$$$$C", "2PPPPPV$$$$C", "23PPPPV$$$$$C", "28PPPPWWWWWWC"]),
    data=st.data(),
)
def test_make_and_decode_round_trip(pattern: str, data: st.DataObject) -> None:
    layout = EmbeddedLayout.parse(pattern)
    item = data.draw(st.text("0123456789", min_size=layout.item_digits, max_size=layout.item_digits))
    value = data.draw(st.integers(0, 10**layout.value_digits - 1))
    code = make_embedded(layout, item, value)
    assert is_valid_ean13(code)
    decoded = BarcodeScheme((layout,)).decode(code)
    assert isinstance(decoded, EmbeddedCode)
    assert decoded.item_code == item
    if layout.kind == "weight":
        assert decoded.weight_g == pytest.approx(value * 1000 / 10**layout.decimals)
    else:
        assert decoded.price_cents == value
