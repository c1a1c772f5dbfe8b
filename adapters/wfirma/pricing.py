"""How a line's gross total becomes wFirma's `count` x `price` without losing a grosz.

wFirma has no line-total field: it prices a line as `count x price` (gross, with
`price_type: brutto`) rounded half-up to the grosz, then computes VAT per rate group from the
group's gross sum (reference §3.4, §3.5). So the adapter must send a unit price that gives the
exact line total back:

1. A unit price to the grosz whenever one exists. For every line built from an order it does:
   the order's own unit price is one (the order's line total is `round(quantity x price)`).
2. Otherwise (a correction's "after" state, e.g. 2 items left after refunding 0.01 less than
   a unit price) a price to 0.0001. That is the true unit price of what remains; printing more
   decimals is allowed on Polish invoices. UNCONFIRMED: that wFirma keeps four decimals of
   `price` (its examples only show two). The alternative, `count: 1` with the quantity in the
   name, is impossible on a corrected line, whose name wFirma freezes (§3.14).
3. None when even that cannot reach the total (very large quantities): the caller refuses.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from domain.money import GROSZ, to_grosz

STEPS = (GROSZ, Decimal("0.0001"))
_MAX_SPAN = 200  # candidates tried on each side of total / quantity


def unit_price(quantity: Decimal, total: Decimal) -> Decimal | None:
    """The gross unit price nearest `total / quantity` with `round(quantity x price) == total`."""
    if quantity == 0:
        return Decimal(0) if total == 0 else None
    if quantity < 0 or total < 0:
        return None
    exact = total / quantity
    for step in STEPS:
        centre = exact.quantize(step, rounding=ROUND_HALF_UP)
        # |quantity x price - total| <= 0.005 bounds how far a solution can be from `exact`
        span = min(_MAX_SPAN, int(GROSZ / 2 / quantity / step) + 1)
        for distance in range(span + 1):
            for price in _around(centre, step, distance):
                if price >= 0 and to_grosz(quantity * price) == total:
                    return price
    return None


def _around(centre: Decimal, step: Decimal, distance: int) -> tuple[Decimal, ...]:
    if distance == 0:
        return (centre,)
    return (centre - step * distance, centre + step * distance)
