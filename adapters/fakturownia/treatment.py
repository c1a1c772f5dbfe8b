"""The VAT treatment on a Fakturownia document (issue 13): kinds, position `tax` codes, the
treatment flags, and reading them back (per-rate totals, NBP conversion).

Sources (fakturownia-api.md §2.2): kinds `wdt`, `export_products`, `vat_margin`; position `tax`
numbers, `zw`, `np`, `disabled` ("margin positions use disabled"); `reverse_charge`, `use_oss`,
`split_payment` ("1"), `exchange_currency`/`exchange_kind: nbp` and the answer's
`exchange_rate`, `exchange_rate_den`, `exchange_date`, `exchange_note`. UNCONFIRMED: a field
naming the margin procedure (used goods, art. 120 ust. 4) beyond the kind, where the NBP table
number appears (read from `exchange_note` when present) and a PLN VAT amount in the answer
(none is documented: the adapter converts `price_tax` at the returned rate, as art. 106e
ust. 11 states it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from domain.documents import DocumentRequest, TaxTreatment
from schemas.common import VatRate
from schemas.invoices import DocumentKind, Exchange, RateTotals

INVOICE_KINDS = {
    "intra_eu_supply": "wdt",
    "export": "export_products",
    "margin_used_goods": "vat_margin",
}
TREATMENT_OF_KIND = {kind: treatment for treatment, kind in INVOICE_KINDS.items()}
# every kind a sales invoice of ours may carry, for lookups by `oid`
SALES_INVOICE_KINDS = ("vat", *INVOICE_KINDS.values())
_POLISH = {r.value for r in VatRate}
_TABLE = re.compile(r"\b(\d{1,3}/A/NBP/\d{4})\b")
CENT = Decimal("0.01")


def invoice_kind(req: DocumentRequest) -> str | None:
    """The `kind` a sales invoice takes under its treatment; None: the plain mapping."""
    if req.kind is not DocumentKind.INVOICE:
        return None
    return INVOICE_KINDS.get(req.tax.treatment)


def tax_code(rate: str) -> str:
    """A provider-neutral rate code as Fakturownia's position `tax`."""
    if rate == "margin":
        return "disabled"
    return rate.removeprefix("oss:")


def rate_of(tax: Any) -> tuple[VatRate, str | None]:
    """A stored position `tax` as (the nearest Polish code, the exact code when not Polish)."""
    return _rate_of_text(str(tax if tax is not None else "23").strip().lower())


@lru_cache(maxsize=256)  # a handful of codes, read for every position of every answer
def _rate_of_text(text: str) -> tuple[VatRate, str | None]:
    if text in _POLISH:
        return VatRate(text), None
    if text == "disabled":
        return VatRate.R0, "margin"
    try:
        percent = Decimal(text).normalize()
    except ArithmeticError:
        return VatRate.R23, None
    code = format(percent, "f")
    return (VatRate(code), None) if code in _POLISH else (VatRate.R0, f"oss:{code}")


def treatment_fields(tax: TaxTreatment) -> dict[str, Any]:
    """Document flags of a treatment; the buyer's prefixed VAT id travels in `buyer_tax_no`."""
    out: dict[str, Any] = {}
    if tax.treatment == "reverse_charge_services":
        out["reverse_charge"] = True
    if tax.oss:
        out["use_oss"] = True  # decided here: no `identify_oss`, which could silently unmark it
    if tax.split_payment:
        out["split_payment"] = "1"
    if tax.annotation:
        out["description"] = tax.annotation
    return out


def treatment_of(invoice: dict[str, Any]) -> str | None:
    """The treatment a stored document shows (corrections keep their original's)."""
    kind = str(invoice.get("kind") or "")
    if kind in TREATMENT_OF_KIND:
        return TREATMENT_OF_KIND[kind]
    if kind == "correction":
        return None  # shown by its original's kind: the worker copies the original's
    if kind not in ("vat", "receipt"):
        return None
    if _truthy(invoice.get("use_oss")) or _truthy(invoice.get("use_moss")):
        return "eu_distance_sale"
    if _truthy(invoice.get("reverse_charge")):
        return "reverse_charge_services"
    return "domestic"


def rate_totals(
    positions: list[dict[str, Any]], invoice: dict[str, Any] | None = None
) -> list[RateTotals]:
    """Per-rate totals the way Fakturownia sums a document: the gross of each rate group, its
    net derived once from that sum (simulators/fakturownia/vat.py, "sum of gross"). A
    correction's are the difference of its before and after states' per-rate totals; an
    answer without those states (they come only with `correction_positions=full`) that moves
    one rate group takes the document's own `price_net` / `price_tax` / `price_gross` for it,
    as Fakturownia computed them (it documents no per-rate totals in answers)."""
    if positions and all(
        isinstance(p.get("correction_after_attributes"), dict)
        and isinstance(p.get("correction_before_attributes"), dict)
        for p in positions
    ):  # a sale's positions have neither: decided at the first one
        before = [p["correction_before_attributes"] for p in positions]
        after = [p["correction_after_attributes"] for p in positions]
        return _difference(_groups(before), _groups(after))
    groups = _groups(positions)
    if invoice is not None and invoice.get("kind") == "correction" and len(groups) == 1:
        [code] = groups
        return [
            RateTotals(
                rate=code,
                net=_dec(invoice.get("price_net")),
                vat=_dec(invoice.get("price_tax")),
                gross=_dec(invoice.get("price_gross")),
            )
        ]
    return [_totals(code, gross) for code, gross in groups.items()]


def _groups(positions: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    groups: dict[str, Decimal] = {}
    for position in positions:
        polish, exact = rate_of(position.get("tax"))
        code = exact or polish.value
        groups[code] = groups.get(code, Decimal(0)) + _dec(position.get("total_price_gross"))
    return groups


def _totals(code: str, gross: Decimal) -> RateTotals:
    net = (gross / _divisor(code)).quantize(CENT, rounding=ROUND_HALF_UP)
    return RateTotals(rate=code, net=net, vat=gross - net, gross=gross)


def _difference(before: dict[str, Decimal], after: dict[str, Decimal]) -> list[RateTotals]:
    out = []
    for code in dict.fromkeys([*before, *after]):
        old, new = (
            _totals(code, before.get(code, Decimal(0))),
            _totals(code, after.get(code, Decimal(0))),
        )
        out.append(
            RateTotals(
                rate=code, net=new.net - old.net, vat=new.vat - old.vat, gross=new.gross - old.gross
            )
        )
    return out


def exchange(invoice: dict[str, Any]) -> Exchange | None:
    """The NBP conversion of a non-PLN document, when Fakturownia returned a rate."""
    currency = invoice.get("currency") or "PLN"
    raw = invoice.get("exchange_rate")
    if currency == "PLN" or raw in (None, "", "0", "0.0"):
        return None
    den = _dec(invoice.get("exchange_rate_den") or "1") or Decimal(1)
    rate = _dec(raw) / den
    note = str(invoice.get("exchange_note") or "")
    found = _TABLE.search(note)
    day = invoice.get("exchange_date")
    vat_pln = (_dec(invoice.get("price_tax")) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return Exchange(
        currency=currency,
        rate=format(rate.normalize(), "f"),
        table=found.group(1) if found else None,
        date=dt.date.fromisoformat(str(day)[:10]) if day else None,
        vat_pln=vat_pln,
    )


@lru_cache(maxsize=256)
def _divisor(code: str) -> Decimal:
    """1 + the code's percentage / 100: what a group's gross is divided by for its net."""
    percent = Decimal(code.removeprefix("oss:")) if _numeric(code) else Decimal(0)
    return 1 + percent / 100


def _numeric(code: str) -> bool:
    try:
        Decimal(code.removeprefix("oss:"))
    except ArithmeticError:
        return False
    return True


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or "0").replace(",", "."))
