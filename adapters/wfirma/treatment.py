"""The VAT treatment on a wFirma document (issue 13): line `vat` codes, the OSS `vat_code`,
the margin type, split payment, and reading them back (per-rate totals, NBP conversion).

Sources (wfirma-api.md §3.1-§3.4): `type: margin` (Faktura VAT marża); Polish line codes
`WDT`, `EXP`, `NP`, `NPUE`, `ZW`, `VAT_BUYER`; foreign (OSS) rates only as `vat_code {id}`
from `vat_codes/find` plus a singular `vat_moss_details`; `schema: split_payment`; the answer's
`currency_exchange`, `currency_label` (table), `currency_date` and `vat_contents`.
UNCONFIRMED: the line `vat` a margin document expects (the standard rate is sent: the margin is
taxed at it and wFirma prints no VAT on a margin invoice), the meaning of the
`vat_moss_detail` type and evidence letters (sent as the one observed accepted combination),
and a PLN VAT amount in the answer (none is documented: the adapter converts `tax` at the
returned rate, as art. 106e ust. 11 states it).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.documents import TaxTreatment
from schemas.common import VatRate
from schemas.invoices import Exchange, RateTotals

CENT = Decimal("0.01")
_PLAIN = {
    "23": "23",
    "8": "8",
    "5": "5",
    "0": "0",
    "zw": "ZW",
    "np": "NP",
    "oo": "VAT_BUYER",
    "margin": "23",  # UNCONFIRMED (module docstring)
}
_ZERO_OF = {"intra_eu_supply": "WDT", "export": "EXP"}
_BACK = {
    "23": "23",
    "8": "8",
    "5": "5",
    "0": "0",
    "WDT": "0",
    "EXP": "0",
    "ZW": "zw",
    "NP": "np",
    "NPUE": "np",
    "VAT_BUYER": "oo",
}
# the one combination an integrator saw accepted (wfirma-api.md §3.4, [W-6]); UNCONFIRMED
MOSS_DETAIL = {
    "type": "BA",
    "evidence1_type": "A",
    "evidence1_description": "Adres dostawy nabywcy",
    "evidence2_type": "F",
    "evidence2_description": "Adres rozliczeniowy nabywcy",
}


def vat_field(rate: str, tax: TaxTreatment) -> str:
    """The plain `vat` code of a Polish rate under the document's treatment."""
    if rate == "0" and tax.treatment in _ZERO_OF:
        return _ZERO_OF[tax.treatment]
    if rate == "np" and tax.treatment == "reverse_charge_services":
        return "NPUE"
    return _PLAIN[rate]


def oss_percent(rate: str) -> Decimal | None:
    return Decimal(rate.removeprefix("oss:")) if rate.startswith("oss:") else None


def header_fields(tax: TaxTreatment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tax.split_payment:
        out["schema"] = "split_payment"
    if tax.oss:
        out["vat_moss_details"] = {"vat_moss_detail": dict(MOSS_DETAIL)}
    return out


def rate_code(line: dict[str, Any]) -> str:
    """A stored line's provider-neutral rate: a foreign rate reads as `oss:<percent>`."""
    code = str(line.get("vat") or "").strip().upper()
    if code in _BACK:
        return _BACK[code]
    try:
        percent = Decimal(code).normalize()
    except ArithmeticError:
        return "23"
    text = format(percent, "f")
    return text if text in ("23", "8", "5", "0") else f"oss:{text}"


def polish_rate(code: str) -> VatRate:
    return VatRate(code) if code in {r.value for r in VatRate} else VatRate.R0


def treatment_of(record: dict[str, Any], lines: list[dict[str, Any]]) -> str | None:
    if record.get("type") == "margin":
        return "margin_used_goods"
    if record.get("type") != "normal":
        return None  # a correction shows its original's (the worker copies it), receipts none
    codes = {str(line.get("vat") or "").upper() for line in lines}
    if "WDT" in codes:
        return "intra_eu_supply"
    if "EXP" in codes:
        return "export"
    if "NPUE" in codes:
        return "reverse_charge_services"
    if any(rate_code(line).startswith("oss:") for line in lines):
        return "eu_distance_sale"
    return "domestic"


def rate_totals(
    record: dict[str, Any], groups: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> list[RateTotals]:
    """`vat_contents` as returned, each group named by its lines' code (matched by id)."""
    margin = record.get("type") == "margin"
    code_of = {_code_id(line): rate_code(line) for line in lines}
    out = []
    for group in groups:
        code = "margin" if margin else code_of.get(_code_id(group), "23")
        out.append(
            RateTotals(
                rate=code,
                net=_dec(group.get("netto")),
                vat=_dec(group.get("tax")),
                gross=_dec(group.get("brutto")),
            )
        )
    return out


def exchange(record: dict[str, Any]) -> Exchange | None:
    currency = str(record.get("currency") or "PLN")
    if currency == "PLN" or str(record.get("currency_date") or "0000")[:4] == "0000":
        return None  # no conversion was made (a day the NBP tables do not cover)
    rate = _dec(record.get("currency_exchange"))
    day = str(record.get("currency_date") or "")[:10]
    return Exchange(
        currency=currency,
        rate=format(rate.normalize(), "f"),
        table=str(record.get("currency_label") or "") or None,
        date=dt.date.fromisoformat(day) if day and day != "0000-00-00" else None,
        vat_pln=(_dec(record.get("tax")) * rate).quantize(CENT, rounding=ROUND_HALF_UP),
    )


def _code_id(item: dict[str, Any]) -> str:
    nested = item.get("vat_code")
    return str(nested.get("id")) if isinstance(nested, dict) else ""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or "0").replace(",", "."))
