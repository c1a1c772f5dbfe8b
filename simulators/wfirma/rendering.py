"""Shaping stored invoices into API records (reference §3.8 response).

Stored documents keep internal bookkeeping under ``_``-prefixed keys (line amounts, KSeF plan
time, the parent link); rendering drops them, numbers the plural relations, and applies the
observed quirk that ``contractor.id`` is a number in ``invoices/add`` answers only (§2.8).
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import ksef
from .contractors import SNAPSHOT_FIELDS
from .corrections import corrections_of
from .envelope import numbered
from .lines import money
from .state import CompanyState


def refresh(company: CompanyState, now: datetime) -> None:
    """Lazily complete KSeF processing that is due, before anyone reads the company."""
    for doc in company.invoices.values():
        ksef.refresh(company.config, doc, now)


def render_invoice(
    company: CompanyState, doc: dict[str, Any], *, for_add: bool = False
) -> dict[str, Any]:
    """A deep copy safe to hand out or serialise outside the lock."""
    record = {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}
    record["invoicecontents"] = numbered(
        "invoicecontent",
        (
            {k: copy.deepcopy(v) for k, v in line.items() if not k.startswith("_")}
            for line in doc["_lines"]
        ),
    )
    record["vat_contents"] = numbered("vat_content", copy.deepcopy(doc["_groups"]))
    composed = Decimal(doc["total"]) + sum(
        (Decimal(c["total"]) for c in corrections_of(company, int(doc["id"]))), Decimal(0)
    )
    record["total_composed"] = money(composed)
    if for_add and record["contractor"]["id"].isdigit():
        record["contractor"]["id"] = int(record["contractor"]["id"])
    return record


def blank_invoice() -> dict[str, Any]:
    """A record of the full shape, so ``find`` can reject unknown condition fields."""
    record: dict[str, Any] = dict.fromkeys(
        (
            *("id", "type", "fullnumber", "number", "day", "month", "year", "date"),
            *("disposaldate", "disposaldate_format", "paymentmethod", "paymentdate"),
            *("paymentstate", "alreadypaid_initial", "alreadypaid", "remaining", "total"),
            *("total_composed", "netto", "tax", "currency", "price_type", "description"),
            *("id_external", "schema", "tags", "type_of_sale", "auto_send", "hash"),
            *("corrections", "receipt_fiscal_printed", "created", "modified"),
            *ksef.FIELDS,
        ),
        "",
    )
    for relation in ("contractor", "series", "parent", "order", "company_account"):
        record[relation] = {"id": ""}
    record["contractor_detail"] = dict.fromkeys(("id", *SNAPSHOT_FIELDS), "")
    record["company_detail"] = dict.fromkeys(("id", "name", "nip"), "")
    return record
