"""Decimal parsing and formatting the way Fakturownia does it on the wire.

Requests may carry numbers, strings or Polish comma decimals ("59,00"); responses carry Rails
BigDecimal strings ("100.0", "58.32"). Keeping both rules here stops float drift from leaking
into totals and keeps every formatted amount consistent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def parse_decimal(value: object) -> Decimal:
    """Coerce a request value to Decimal; raises ValueError for anything that is not a number."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
        if not result.is_finite():
            raise ValueError(f"not a number: {value!r}")
        return result
    raise ValueError(f"not a number: {value!r}")


def round_half_up(value: Decimal) -> Decimal:
    """Round to grosze with ROUND_HALF_UP (commercial rounding, as Polish VAT rules require)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_decimal(value: Decimal) -> str:
    """Render like Ruby's BigDecimal#to_s("F"): no trailing zeros but always one decimal."""
    if value == 0:
        return "0.0"
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def format_amount(value: Decimal) -> str:
    """Render a money amount: rounded to grosze first, then BigDecimal-style."""
    return format_decimal(round_half_up(value))
