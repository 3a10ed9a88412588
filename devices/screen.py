"""What customer-facing screens show, independent of the display protocol (pure, stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


def format_money(amount: Decimal | float | str, currency: str = "") -> str:
    """Return ``amount`` with two decimals and an optional currency prefix (``12.50``)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{currency}{value}"


@dataclass(frozen=True)
class BasketLine:
    """One basket entry: a product name, a quantity and a line price."""

    name: str
    price: Decimal | float | str
    quantity: int = 1


@dataclass(frozen=True)
class BasketView:
    """The basket as the shopper should see it."""

    lines: tuple[BasketLine, ...] = field(default_factory=tuple)
    total: Decimal | float | str = "0"
    currency: str = ""

    @property
    def item_count(self) -> int:
        """Return the number of items (sum of quantities)."""
        return sum(line.quantity for line in self.lines)


def fit(left: str, right: str, width: int) -> str:
    """Return ``left`` and ``right`` on one line of ``width`` columns, truncating ``left`` first."""
    right = right[:width]
    room = width - len(right)
    if room <= 0:
        return right
    if right:
        room -= 1  # keep one space between the two
        return f"{left[:room]:<{room}} {right}" if room > 0 else f"{'':<{width - len(right)}}{right}"
    return f"{left[:width]:<{width}}"


def basket_lines(view: BasketView, width: int = 20) -> tuple[str, str]:
    """Return the two lines of the basket screen: last item with its price, then count and total."""
    if view.lines:
        last = view.lines[-1]
        name = f"{last.quantity}x {last.name}" if last.quantity != 1 else last.name
        first = fit(name, format_money(last.price, view.currency), width)
    else:
        first = fit("Welcome", "", width)
    count = view.item_count
    second = fit(f"{count} item{'s' if count != 1 else ''}", f"TOTAL {format_money(view.total, view.currency)}", width)
    return first, second
