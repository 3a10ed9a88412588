"""Protocol-independent screen content: money, fitting two texts on a line, the basket lines."""

from __future__ import annotations

from decimal import Decimal

from devices.screen import BasketLine, BasketView, basket_lines, fit, format_money


def test_format_money_rounds_half_up() -> None:
    assert format_money("2.345") == "2.35"
    assert format_money(Decimal("10"), "EUR ") == "EUR 10.00"
    assert format_money(1.005) == "1.01"  # via str(): no binary-float surprise
    assert format_money(0) == "0.00"


def test_fit_keeps_the_right_text_and_truncates_the_left() -> None:
    assert fit("Milk", "1.25", 20) == "Milk            1.25"
    assert fit("A very long product name", "12.50", 20) == "A very long pr 12.50"
    assert fit("x", "y" * 25, 20) == "y" * 20
    assert len(fit("", "", 20)) == 20


def test_basket_lines() -> None:
    view = BasketView((BasketLine("Milk 1L", "1.25"), BasketLine("Chocolate", "2.50", 2)), "6.25")
    assert view.item_count == 3
    assert basket_lines(view) == ("2x Chocolate    2.50", "3 items   TOTAL 6.25")
    assert basket_lines(BasketView(total="0")) == ("Welcome".ljust(20), "0 items   TOTAL 0.00")
    assert basket_lines(BasketView((BasketLine("Tea", "3"),), "3"), width=16)[1] == "1 ite TOTAL 3.00"
