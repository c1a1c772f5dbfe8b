"""The buyer of a new document (reference §3.3): by reference, inline, or none.

Invoices carry an immutable ``contractor_detail`` snapshot, so later contractor edits never
change issued documents. Receipts and other-income documents may have no buyer at all. A
correction of a document with a buyer must name one, as the documented example does
(doc.wfirma.pl invoices_correction, invoices/add): the simulator takes that strict reading
instead of inheriting the buyer (UNCONFIRMED either way: docs/adr/0009).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.fakturownia.coerce import parse_int

from . import contractors
from .envelope import relation_id
from .errors import EMPTY, NO_SUCH_OBJECT, FieldErrors
from .state import CompanyState, SimStore

# Documents that may go without a buyer.
BUYERLESS_TYPES = frozenset(
    {"receipt_normal", "receipt_fiscal_normal", "receipt_bill", "receipt_fiscal_bill"}
    | {"income_normal", "income_bill"}
)
EMPTY_RELATION = {"id": "0"}


@dataclass
class Buyer:
    """The resolved buyer: an existing contractor, a new inline one, or none."""

    errors: FieldErrors
    existing: dict[str, Any] | None = None
    inline: dict[str, str] | None = None

    def relations(self, store: SimStore, company: CompanyState, now: datetime) -> dict[str, Any]:
        record = self.existing
        if self.inline is not None:
            # UNCONFIRMED (§3.3): an inline buyer creates a new contractor record each time.
            record = contractors.create(store, company, self.inline, now)
        if record is None:
            blank = {"id": "0", **dict.fromkeys(contractors.SNAPSHOT_FIELDS, "")}
            return {"contractor": dict(EMPTY_RELATION), "contractor_detail": blank}
        return {
            "contractor": {"id": record["id"]},
            "contractor_detail": contractors.snapshot(store, record),
        }


def resolve_buyer(
    store: SimStore,
    company: CompanyState,
    raw: dict[str, Any],
    doc_type: str,
    parent: dict[str, Any] | None,
    errors: FieldErrors,
) -> Buyer:
    buyer = Buyer(FieldErrors())
    contractor_id = relation_id(raw, "contractor")
    nested = raw.get("contractor")
    if contractor_id is not None:
        buyer.existing = company.contractors.get(parse_int(contractor_id) or 0)
        if buyer.existing is None:
            errors.add("contractor", NO_SUCH_OBJECT, "contractor")
    elif isinstance(nested, dict) and nested:
        data = contractors.normalized(nested)
        buyer.errors = contractors.validate(data, require_street=True)
        buyer.inline = data
    elif parent is not None:
        if has_buyer(parent):
            errors.add("contractor", EMPTY, "notEmpty")
    elif doc_type not in BUYERLESS_TYPES and doc_type != "correction":
        errors.add("contractor", EMPTY, "notEmpty")
    return buyer


def has_buyer(doc: dict[str, Any]) -> bool:
    return str(doc.get("contractor", {}).get("id", "0")) not in ("", "0")
