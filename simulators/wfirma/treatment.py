"""What wFirma does with a document's VAT treatment (issue 13): margin invoices, OSS lines and
foreign currencies (wfirma-api.md §3.1-§3.4).

- ``type: margin`` (Faktura VAT marża): the invoice shows no VAT (art. 106e ust. 3), so each
  group's tax is 0 and its net equals its gross. How wFirma prints margin lines is UNCONFIRMED.
- OSS: a foreign ``vat_code`` needs a singular ``vat_moss_details.vat_moss_detail`` in the same
  ``invoices/add`` (an array is ignored, §3.4). wFirma's answer without one is UNCONFIRMED:
  the simulator stores the document without it. The ``type`` and ``evidence*_type`` letters
  are checked against the documented lists.
- Currency: the NBP table A rate of the last business day before the sale date, as wFirma
  applies it automatically; ``currency_exchange`` / ``currency_label`` (table number) /
  ``currency_date`` are documented read-only fields, their exact formats UNCONFIRMED. A day
  outside the simulator's fixture gets no conversion (rate 1, no date), never an invented rate.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from simulators.common.nbp import rate_for

from .errors import BAD_VALUE, FieldErrors
from .lines import Line
from .vat import POLAND, GroupTotal

MOSS_TYPES = frozenset(
    {"WO", "BA", "BB", *(f"S{c}" for c in "ABCDE"), *(f"T{c}" for c in "ABCDEFGHIJK")}
)
EVIDENCE_TYPES = frozenset("ABCDEF")


def margin_groups(groups: list[GroupTotal]) -> list[GroupTotal]:
    return [GroupTotal(g.vat, g.gross, Decimal(0), g.gross) for g in groups]


def check_oss(raw: dict[str, Any], lines: list[Line], errors: FieldErrors) -> None:
    if not any(line.vat.declaration_country_id != POLAND for line in lines):
        return
    details = raw.get("vat_moss_details")
    detail = details.get("vat_moss_detail") if isinstance(details, dict) else None
    if not isinstance(detail, dict):
        return  # what wFirma does then is UNCONFIRMED: the document is stored without it
    if str(detail.get("type") or "") not in MOSS_TYPES:
        errors.add("vat_moss_details", BAD_VALUE, "inList")
    for key in ("evidence1_type", "evidence2_type"):
        if str(detail.get(key) or "") not in EVIDENCE_TYPES:
            errors.add("vat_moss_details", BAD_VALUE, "inList")


def currency_fields(currency: str, sale_date: str) -> dict[str, Any]:
    none = {"currency_exchange": "1.0000", "currency_label": "", "currency_date": "0000-00-00"}
    if currency == "PLN":
        return none | {"price_currency_exchange": "1.0000"}
    found = rate_for(currency, dt.date.fromisoformat(sale_date))
    if found is None:
        return none | {"price_currency_exchange": "1.0000"}
    return {
        "currency_exchange": f"{found.rate:.4f}",
        "price_currency_exchange": f"{found.rate:.4f}",
        "currency_label": found.table,
        "currency_date": found.date.isoformat(),
    }
