"""``{module}/find``: conditions, ordering and paging over rendered records (reference §2.7).

Conditions arrive as a single ``condition``, a list, or ``and``/``or``/``not`` groups, in any of
the lenient envelope shapes; top-level conditions are AND-ed. Fields are record keys
(``id_external``), a relation's flat id column (``parent_id``), ``Model.field`` of the module's
own model (``Invoice.id``), or a 1-1 relation (``ContractorDetail.nip``). Matching is literal,
as integrators measured for NIPs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from simulators.fakturownia.coerce import parse_int

from .envelope import items
from .errors import ERROR, ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
OPERATORS = frozenset(
    {
        "eq",
        "ne",
        "gt",
        "lt",
        "ge",
        "le",
        "like",
        "not like",
        "is null",
        "is not null",
        "in",
        "not in",
    }
)

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


@dataclass(frozen=True)
class Page:
    rows: list[Record]
    info: dict[str, str]


def find(records: list[Record], params: dict[str, Any], model: str, sample: Record) -> Page:
    """Filter, order and slice ``records``.

    ``model`` is the singular module name (``invoice``); ``sample`` is a record of the full shape,
    used to reject unknown condition fields even when there is nothing to match.
    """
    predicate = _all(_children(params.get("conditions"), model, sample))
    matching = [r for r in records if predicate(r)]
    for field, descending in reversed(_order(params.get("order"))):
        matching.sort(key=_sorter(field, model), reverse=descending)
    limit = min(max(parse_int(params.get("limit")) or DEFAULT_LIMIT, 1), MAX_LIMIT)
    page = max(parse_int(params.get("page")) or 1, 1)
    start = (page - 1) * limit
    info = {"limit": str(limit), "page": str(page), "total": str(len(matching))}
    return Page(matching[start : start + limit], info)


def _children(node: Any, model: str, sample: Record) -> list[Predicate]:
    """The predicates at one level of a condition tree (their combination is the caller's)."""
    if node is None or node == "":
        return []
    if isinstance(node, list):
        return [p for element in node for p in _children(element, model, sample)]
    if not isinstance(node, dict):
        raise ApiError(ERROR, "Niepoprawna struktura warunków wyszukiwania.")
    if "field" in node:
        return [_leaf(node, model, sample)]
    predicates: list[Predicate] = []
    for key, value in node.items():
        if key == "condition" or key.isdigit():
            predicates.extend(_children(value, model, sample))
        elif key == "and":
            predicates.append(_all(_children(value, model, sample)))
        elif key == "or":
            predicates.append(_any(_children(value, model, sample)))
        elif key == "not":
            predicates.append(_none(_children(value, model, sample)))
    return predicates


def _all(predicates: list[Predicate]) -> Predicate:
    return lambda record: all(p(record) for p in predicates)


def _any(predicates: list[Predicate]) -> Predicate:
    return lambda record: any(p(record) for p in predicates)


def _none(predicates: list[Predicate]) -> Predicate:
    """``not`` group: true when the AND of its members is false."""
    return lambda record: not all(p(record) for p in predicates)


def _sorter(field: str, model: str) -> Callable[[Record], tuple[int, Decimal | str]]:
    return lambda record: _sort_key(_value(record, field, model))


def _leaf(condition: dict[str, Any], model: str, sample: Record) -> Predicate:
    field = str(condition.get("field", ""))
    _value(sample, field, model, strict=True)
    operator = str(condition.get("operator", "eq")).strip().lower()
    if operator not in OPERATORS:
        raise ApiError(ERROR, f"Nieznany operator warunku: {operator}")
    expected = condition.get("value")
    test = _operator(operator, expected)

    def predicate(record: Record) -> bool:
        return test(_value(record, field, model))

    return predicate


def _operator(operator: str, expected: Any) -> Callable[[str | None], bool]:
    if operator == "is null":
        return lambda actual: actual in (None, "")
    if operator == "is not null":
        return lambda actual: actual not in (None, "")
    if operator in ("in", "not in"):
        raw = (
            items(expected, "value")
            if isinstance(expected, list | dict)
            else str(expected).split(",")
        )
        options = {str(o).strip() for o in raw}
        wanted = operator == "in"
        return lambda actual: (actual is not None and actual in options) == wanted
    if operator in ("like", "not like"):
        pattern = _like(str(expected or ""))
        wanted = operator == "like"
        return lambda actual: (actual is not None and bool(pattern.fullmatch(actual))) == wanted
    text = "" if expected is None else str(expected)
    compare = {
        "eq": lambda c: c == 0,
        "ne": lambda c: c != 0,
        "gt": lambda c: c > 0,
        "lt": lambda c: c < 0,
        "ge": lambda c: c >= 0,
        "le": lambda c: c <= 0,
    }[operator]
    return lambda actual: actual is not None and compare(_cmp(actual, text))


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%``, ``_``), case-insensitive like MySQL's default collation."""
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _cmp(actual: str, expected: str) -> int:
    """Numbers compare as numbers, everything else (dates included) as text."""
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return (actual > expected) - (actual < expected)
    return (left > right) - (left < right)


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _value(record: Record, field: str, model: str, strict: bool = False) -> str | None:
    """A field's text. Condition fields are the module's columns: a relation's id is its flat
    ``X_id`` column (``parent_id``, doc.wfirma.pl invoices_correction "Pola"), while the branch
    ``X`` itself exists only in answers and is no field. ``strict`` (checking against the
    sample) rejects unknown fields, so a typo or a branch name does not look like "no match"
    (simulator choice, UNCONFIRMED: docs/adr/0009)."""
    owner, _, name = field.rpartition(".")
    node: Any = record
    if owner and _snake(owner) != model:
        node = record.get(_snake(owner))
    value = _column(node, name) if isinstance(node, dict) else _UNKNOWN
    if value is _UNKNOWN:
        if strict:
            raise ApiError(ERROR, f"Nieznane pole warunku: {field}")
        return None
    return None if value is None else str(value)


_UNKNOWN = object()


def _column(node: Record, name: str) -> Any:
    """``name``'s value in ``node``: a plain field, or ``X_id`` read from the branch ``X``."""
    if name in node:
        return _UNKNOWN if isinstance(node[name], dict) else node[name]
    branch = node.get(name.removesuffix("_id")) if name.endswith("_id") else None
    return branch.get("id") if isinstance(branch, dict) else _UNKNOWN


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _order(node: Any) -> list[tuple[str, bool]]:
    """``{"asc": "date"}``, ``{"desc": ["id"]}`` or a list of such: ``[(field, descending)]``."""
    result: list[tuple[str, bool]] = []
    entries = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            if key in ("asc", "desc"):
                names = value if isinstance(value, list) else [value]
                result.extend((str(n), key == "desc") for n in names if n)
    return result


def _sort_key(value: str | None) -> tuple[int, Decimal | str]:
    if value is None:
        return (0, "")
    number = _number(value)
    return (2, value) if number is None else (1, number)
