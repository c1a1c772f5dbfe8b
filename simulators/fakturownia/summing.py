"""How a document's totals are summed from its positions: `calculating_strategy.sum`.

README "Pola faktury" documents `"calculating_strategy": {"position": "default" | "keep_gross",
"sum": "sum" | "keep_gross" | "keep_net", "invoice_form_price_kind": "net" | "gross"}`, `sum`
being "metoda sumowania kwot z pozycji" (how the positions' amounts are summed). The README says
no more; the simulator reads the names: `sum` adds the positions' own nets, `keep_gross` keeps
each rate group's summed gross and derives its net once (also what an account does without the
field, as the simulator has always summed), `keep_net` keeps each group's summed net and derives
its VAT once. A correction's positions carry full before/after states ("Dodanie nowej faktury
korygującej": `correction_before_attributes` / `correction_after_attributes`); its totals are
the after states' totals minus the before states'. That last rule is UNCONFIRMED: the README
shows the states, not the arithmetic (docs/vat-providers.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .errors import NOT_IN_LIST, ErrorMap
from .errors import add_error as err
from .money import parse_decimal, round_half_up
from .positions import Line
from .vat import Totals, document_totals, net_from_gross, rate_fraction

STRATEGY_VALUES: dict[str, frozenset[str]] = {
    "position": frozenset({"default", "keep_gross"}),
    "sum": frozenset({"sum", "keep_gross", "keep_net"}),
    "invoice_form_price_kind": frozenset({"net", "gross"}),
}
DEFAULT_SUM = "keep_gross"


def sum_method(raw: object, errors: ErrorMap) -> str:
    """`calculating_strategy.sum`, validated against the documented values."""
    if raw in (None, ""):
        return DEFAULT_SUM
    if not isinstance(raw, dict):
        err(errors, "calculating_strategy", NOT_IN_LIST)
        return DEFAULT_SUM
    for key, allowed in STRATEGY_VALUES.items():
        if key in raw and str(raw[key]) not in allowed:
            err(errors, f"calculating_strategy.{key}", NOT_IN_LIST)
    value = str(raw.get("sum") or DEFAULT_SUM)
    return value if value in STRATEGY_VALUES["sum"] else DEFAULT_SUM


def summed(pairs: Iterable[tuple[str, Decimal]], method: str) -> Totals:
    """Totals of `(tax code, line gross)` pairs by one of the documented summing methods."""
    pairs = list(pairs)
    if method == "sum":
        net = sum((net_from_gross(gross, code) for code, gross in pairs), Decimal(0))
        gross = sum((gross for _, gross in pairs), Decimal(0))
        return Totals(net=net, tax=gross - net, gross=gross)
    if method == "keep_net":
        nets: dict[str, Decimal] = {}
        for code, gross in pairs:
            nets[code] = nets.get(code, Decimal(0)) + net_from_gross(gross, code)
        net = sum(nets.values(), Decimal(0))
        tax = sum((round_half_up(n * rate_fraction(c)) for c, n in nets.items()), Decimal(0))
        return Totals(net=net, tax=tax, gross=net + tax)
    return document_totals(pairs)


def line_totals(lines: list[Line], method: str) -> Totals:
    """A document's totals; a correction whose every position carries both states is the
    difference of the after and before states' totals, else the positions' own amounts."""
    before = [_state(line, "correction_before_attributes") for line in lines]
    after = [_state(line, "correction_after_attributes") for line in lines]
    if lines and all(before) and all(after):
        old = summed((s for s in before if s), method)
        new = summed((s for s in after if s), method)
        return Totals(net=new.net - old.net, tax=new.tax - old.tax, gross=new.gross - old.gross)
    return summed(((line.tax_code, line.gross) for line in lines), method)


def _state(line: Line, key: str) -> tuple[str, Decimal] | None:
    data: Any = line.data.get(key)
    if not isinstance(data, dict):
        return None
    return str(data["tax"]), parse_decimal(data["total_price_gross"])
