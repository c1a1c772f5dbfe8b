"""Invoice lines (``invoicecontents``, reference §3.4): parsing, VAT resolution and pricing.

``price`` is net or gross depending on the document's ``price_type``; the line value is
count * price (less ``discount_percent`` when ``discount`` is on). ``vat_code {id}`` wins over
``vat``; neither means 23% (the likely account default, UNCONFIRMED). Correction lines name the
line they correct in ``parent_id`` and inherit what they do not send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulators.fakturownia.coerce import is_truthy, parse_int
from simulators.fakturownia.money import parse_decimal, round_half_up

from . import vat as vat_codes
from .contractors import text
from .envelope import relation_id
from .errors import BAD_VALUE, EMPTY_LINE_NAME, NOT_A_NUMBER, UNCHANGEABLE, FieldErrors
from .vat import VatCode, line_amounts

# Fields a correction may not change on a linked line (reference §3.14).
FROZEN_ON_CORRECTION = ("name", "unit", "gtu")
PASSTHROUGH = ("classification", "gtu", "lumpcode")


@dataclass
class Line:
    """A parsed request line: the response-shaped ``record`` (no id yet) and its pricing."""

    raw: dict[str, Any]
    record: dict[str, Any]
    vat: VatCode
    amount: Decimal
    parent_line_id: int | None = None
    errors: FieldErrors = field(default_factory=FieldErrors)


def money(value: Decimal) -> str:
    return f"{round_half_up(value):.2f}"


def quantity(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):.4f}"


def parse_line(raw: dict[str, Any], gross_prices: bool, before: dict[str, Any] | None) -> Line:
    """Price one line; ``before`` is the current state of the line a correction line corrects."""
    errors = FieldErrors()
    base = before or {}
    name = text(raw.get("name")) or base.get("name", "")
    if not name:
        errors.add("name", EMPTY_LINE_NAME, "notEmpty")
    if before is not None:
        for key in FROZEN_ON_CORRECTION:
            if key in raw and text(raw[key]) != before.get(key, ""):
                errors.add(key, UNCHANGEABLE, "unchangeable")
    count = _decimal(raw, "count", base.get("count", "1"), errors)
    price = _decimal(raw, "price", base.get("price", "0"), errors)
    percent = _decimal(raw, "discount_percent", base.get("discount_percent", "0"), errors)
    discount = is_truthy(raw["discount"]) if "discount" in raw else base.get("discount") == "1"
    vat = _vat(raw, base, errors)
    value = count * price
    if discount:
        value = value * (100 - percent) / 100
    netto, brutto = line_amounts(value, vat, gross_prices)
    record: dict[str, Any] = {
        "name": name,
        "unit": text(raw.get("unit")) or base.get("unit", "szt."),
        "count": quantity(count),
        "price": money(price),
        "price_modified": "0",
        "discount": "1" if discount else "0",
        "discount_percent": money(percent),
        "netto": money(netto),
        "brutto": money(brutto),
        "vat": vat.code or money(vat.rate),
        "vat_code": {"id": str(vat.id)},
        "good": {"id": text(relation_id(raw, "good")) or base.get("good", {}).get("id", "0")},
    }
    record.update({key: text(raw[key]) if key in raw else base.get(key, "") for key in PASSTHROUGH})
    parent_id = parse_int(raw.get("parent_id")) if before is not None else None
    return Line(raw, record, vat, round_half_up(value), parent_id, errors)


def _decimal(raw: dict[str, Any], key: str, default: str, errors: FieldErrors) -> Decimal:
    value = raw.get(key)
    if value is None or value == "":
        return Decimal(default)
    try:
        return parse_decimal(value)
    except ValueError:
        errors.add(key, NOT_A_NUMBER, "numeric")
        return Decimal(0)


def _vat(raw: dict[str, Any], base: dict[str, Any], errors: FieldErrors) -> VatCode:
    code_id = relation_id(raw, "vat_code")
    if code_id is not None:
        found = vat_codes.BY_ID.get(parse_int(code_id) or 0)
        if found is None:
            errors.add("vat_code", BAD_VALUE, "inList")
            return vat_codes.DEFAULT
        return found
    if raw.get("vat") not in (None, ""):
        resolved = vat_codes.from_vat_field(raw["vat"])
        if resolved is None:
            errors.add("vat", BAD_VALUE, "inList")
            return vat_codes.DEFAULT
        return resolved
    previous = base.get("vat_code", {}).get("id")
    return vat_codes.BY_ID.get(int(previous), vat_codes.DEFAULT) if previous else vat_codes.DEFAULT
