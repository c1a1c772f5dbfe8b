"""Corrections (faktura korygująca, reference §3.14): which stored line each change addresses.

A wFirma correction line carries the line's state *after* the correction and names, in
`parent_id`, the line version it replaces: the original's line for a first correction, the
latest correction's line after that (pointing at an older version is refused). Lines not sent
stay as they are; a line is never removed, only corrected to zero. So the adapter reads the
original and its corrections, works out the current version of every line, and addresses those.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.wfirma.mapping import (
    VAT_CODE,
    WfirmaOptions,
    envelope,
    line_state,
    lines_of,
    numbered,
    priced,
    quantity,
    related_id,
    relation,
)
from domain.corrections import CorrectionLine
from domain.documents import DocumentRequest
from domain.ports import ProviderValidationError

Record = dict[str, Any]
State = tuple[Decimal, Decimal]  # (quantity, gross)


def line_versions(original: Record, corrections: list[Record]) -> list[Record]:
    """The current version of every line of `original`, in the original's line order.

    `corrections` are the documents correcting `original`; they apply in creation order (ids
    grow). A correction line without `parent_id` is a line the correction added.
    """
    order: list[str] = []
    current: dict[str, Record] = {}
    for line in lines_of(original):
        order.append(str(line["id"]))
        current[str(line["id"])] = line
    for correction in sorted(corrections, key=lambda c: int(c["id"])):
        for line in lines_of(correction):
            new_id, parent = str(line["id"]), related_id(line, "parent")
            if parent is not None and parent in current:
                order[order.index(parent)] = new_id
                del current[parent]
            else:
                order.append(new_id)
            current[new_id] = line
    return [current[i] for i in order]


def spread(states: list[State], after: State) -> list[State]:
    """Split the target state of one line key over the stored lines that share the key.

    Usually one line holds a key; an order with the same SKU twice (e.g. at two prices) has
    several. Reductions come off the last lines first, a line whose quantity reaches zero
    gives up its whole value (a zero-quantity line cannot keep a price), and what is left of
    the value change goes to lines that keep a quantity.
    """
    if len(states) == 1:
        return [after]
    result = list(states)
    take_q = sum((q for q, _ in states), Decimal(0)) - after[0]
    take_g = sum((g for _, g in states), Decimal(0)) - after[1]
    for i in reversed(range(len(result))):
        q, g = result[i]
        if take_q <= 0:
            break
        cut = min(q, take_q)
        value = g if cut == q else Decimal(0)
        result[i] = (q - cut, g - value)
        take_q, take_g = take_q - cut, take_g - value
    if take_q < 0:  # more items than before: they join the first line
        q, g = result[0]
        result[0] = (q - take_q, g)
    for i in reversed(range(len(result))):
        q, g = result[i]
        if take_g == 0:
            break
        if q == 0:
            continue
        cut = min(g, take_g) if take_g > 0 else take_g
        result[i] = (q, g - cut)
        take_g -= cut
    if take_g != 0:
        raise ProviderValidationError(
            f"the correction's value {after[1]} cannot be spread over the document's lines",
            fields={"invoicecontents": [f"value {after[1]} does not fit quantity {after[0]}"]},
        )
    return result


def _changes(
    line: CorrectionLine, stored: list[Record], restate: bool = False
) -> list[tuple[Record, State]]:
    """The stored lines `line` changes and their target states; with `restate`, every stored
    line of its key, changed or not (an unchanged line of a rate group the correction moves)."""
    matching = [r for r in stored if line_state(r).key == line.before.key]
    if not matching:
        raise ProviderValidationError(
            f"line {line.before.name!r} is no longer on the corrected document",
            fields={"invoicecontents": [f"no line {line.before.name!r} to correct"]},
        )
    states = [(line_state(r).quantity, line_state(r).gross) for r in matching]
    targets = spread(states, (line.after.quantity, line.after.gross))
    return [(r, t) for r, s, t in zip(matching, states, targets, strict=True) if restate or s != t]


def correction_content(position: int, stored: Record, after: State) -> Record:
    """A corrected line: the stored name and unit verbatim (wFirma freezes them), the after
    state, and the line's own VAT rate restated rather than left to a default."""
    count, gross = after
    return {
        "parent_id": int(stored["id"]),
        "name": str(stored.get("name") or ""),
        "unit": str(stored.get("unit") or ""),
        "count": quantity(count),
        "price": priced(position, count, gross),
        # the stored code itself (WDT, EXP, a foreign OSS id): a correction keeps its treatment
        **(
            {"vat_code": {"id": int(code_id) if str(code_id).isdigit() else code_id}}
            if (code_id := (stored.get("vat_code") or {}).get("id"))
            else {"vat": VAT_CODE[line_state(stored).vat_rate]}
        ),
    }


def correction_buyer(original: Record) -> Record | None:
    """The buyer block of a correction: the original's own contractor record, so both
    documents name one buyer. The documented example sends a `contractor` (doc.wfirma.pl,
    invoices_correction, invoices/add) and production clients send the original's contractor
    (katarzynaochnikdu/wfirma-api `app.py`); none omits it (docs/adr/0009). Only a document
    that never had a buyer (a receipt without one) has none to restate."""
    contractor_id = related_id(original, "contractor")
    return relation(contractor_id) if contractor_id is not None else None


def correction_record(
    req: DocumentRequest, options: WfirmaOptions, original: Record, stored: list[Record]
) -> Record:
    """The `invoice` record of a correction of `original`, whose current line versions are
    `stored`. Buyer and currency come from the original (currency is read-only here)."""
    spec = req.correction
    assert spec is not None
    if not [change for line in spec.lines for change in _changes(line, stored)]:
        raise ProviderValidationError(
            "the correction changes nothing on the document",
            fields={"invoicecontents": ["no line changes"]},
        )
    # every line of a rate group that changes is stated (unchanged ones as they are), so the
    # group's VAT before and after is the whole group's whichever lines wFirma sums (§3.5)
    changed = {line.before.key for line in spec.lines}
    changes = [
        change
        for line in spec.stated
        for change in _changes(line, stored, restate=line.before.key not in changed)
    ]
    record: Record = {
        "type": "correction",
        "parent_id": int(spec.original_id) if spec.original_id.isdigit() else spec.original_id,
        "date": req.issue_date.isoformat(),
        "price_type": "brutto",
        "id_external": req.idempotency_key,
        "description": spec.reason,
    }
    buyer = correction_buyer(original)
    if buyer is not None:
        record["contractor"] = buyer
    record["invoicecontents"] = numbered(
        "invoicecontent",
        [correction_content(i, r, after) for i, (r, after) in enumerate(changes)],
    )
    if options.correction_series:
        record["series"] = relation(options.correction_series)
    return record


def correction_envelope(
    req: DocumentRequest, options: WfirmaOptions, original: Record, stored: list[Record]
) -> Record:
    return envelope(correction_record(req, options, original, stored))
