"""``GET /invoices.json``: filters, period windows, ordering and page slicing (reference §6).

The list has no pagination envelope, so clients must page until a short page; ``per_page`` is
capped at 100 and the default period hides documents older than 12 months, as on the real API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .coerce import parse_int

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
DEFAULT_PERIOD = "last_12_months"
_DECIMAL_ORDER_KEYS = frozenset({"price_net", "price_gross", "price_tax"})
_DATE_TYPES = {
    "issue_date": "issue_date",
    "paid_date": "paid_date",
    "transaction_date": "sell_date",
}

Window = tuple[date | None, date | None]


@dataclass(frozen=True)
class ListQuery:
    """The list parameters after defaults and caps were applied."""

    filters: dict[str, str]
    gov_id: str | None
    income: bool
    kinds: tuple[str, ...]
    invoice_ids: tuple[int, ...]
    window: Window
    date_field: str
    order: str | None
    page: int
    per_page: int

    @classmethod
    def parse(
        cls, get: Callable[[str], str | None], getall: Callable[[str], list[str]], today: date
    ) -> ListQuery:
        filters = {
            key: value
            for key in ("oid", "number", "kind", "invoice_id", "from_invoice_id", "client_id")
            if (value := get(key)) not in (None, "")
        }
        ids = tuple(i for raw in (get("invoice_ids") or "").split(",") if (i := parse_int(raw)))
        per_page = parse_int(get("per_page")) or DEFAULT_PER_PAGE
        return cls(
            filters=filters,
            gov_id=get("gov_id") or None,
            income=get("income") != "no",
            kinds=tuple(getall("kinds[]") + getall("kinds")),
            invoice_ids=ids,
            window=period_window(get("period") or DEFAULT_PERIOD, today, get),
            date_field=_DATE_TYPES.get(get("search_date_type") or "", "issue_date"),
            order=get("order"),
            page=max(parse_int(get("page")) or 1, 1),
            per_page=min(max(per_page, 1), MAX_PER_PAGE),
        )


def period_window(period: str, today: date, get: Callable[[str], str | None]) -> Window:
    """Inclusive date bounds for a ``period``; unknown names fall back to the default period."""
    first_of_month = today.replace(day=1)
    if period == "all":
        return None, None
    if period == "more":
        return _optional_day(get("date_from")), _optional_day(get("date_to"))
    if period == "this_month":
        return first_of_month, None
    if period == "last_month":
        last_month_end = first_of_month - timedelta(days=1)
        return last_month_end.replace(day=1), last_month_end
    if period == "last_30_days":
        return today - timedelta(days=30), None
    if period == "this_year":
        return today.replace(month=1, day=1), None
    if period == "last_year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    return _one_year_before(today), None


def _one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


def _optional_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def select(
    docs: Iterable[dict[str, Any]], query: ListQuery, ksef_numbers: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Filter, order and slice; returns the stored dicts (render them before answering).

    ``gov_id`` searches by KSeF number (``ksef_numbers``: number → document); ``income=no``
    searches purchase invoices, which the simulator has none of (ksef-2026.md §1.9).
    """
    if not query.income:
        return []
    if query.gov_id is not None:
        owner = ksef_numbers.get(query.gov_id)
        docs = [d for d in docs if d["id"] == owner or d.get("gov_id") == query.gov_id]
    matching = [doc for doc in docs if _matches(doc, query)]
    matching.sort(key=lambda d: (d["issue_date"], d["id"]), reverse=True)
    if query.order:
        field, _, direction = query.order.partition(".")
        matching.sort(key=lambda d: _order_key(d, field), reverse=direction == "desc")
    start = (query.page - 1) * query.per_page
    return matching[start : start + query.per_page]


def _matches(doc: dict[str, Any], query: ListQuery) -> bool:
    if any(str(doc.get(key)) != value for key, value in query.filters.items()):
        return False
    if query.kinds and doc["kind"] not in query.kinds:
        return False
    if query.invoice_ids and doc["id"] not in query.invoice_ids:
        return False
    low, high = query.window
    if low is None and high is None:
        return True
    raw = doc.get(query.date_field)
    if not raw:
        return False
    day = date.fromisoformat(raw[:10] if len(raw) >= 10 else f"{raw}-01")
    return (low is None or day >= low) and (high is None or day <= high)


def _order_key(doc: dict[str, Any], field: str) -> tuple[int, Any]:
    """Nulls sort first; money sorts numerically, everything else as text."""
    value = doc.get(field)
    if value is None:
        return (0, "")
    if field in _DECIMAL_ORDER_KEYS:
        return (1, Decimal(value))
    return (1, value if isinstance(value, int) else str(value))
