"""Document numbering: a per-account, per-kind, per-month counter rendered as "N/MM/YYYY".

Real accounts configure patterns; the simulator uses the default monthly pattern with a kind
prefix (e.g. "PAR 1/03/2026" for receipts) so numbers of different kinds never collide.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date

from .state import AccountState

KIND_PREFIXES: dict[str, str] = {
    "vat": "",
    "receipt": "PAR ",
    "correction": "KOR ",
    "proforma": "PRO ",
    "bill": "RACH ",
    "advance": "ZAL ",
    "final": "FK ",
    "estimate": "ZAM ",
}


def kind_prefix(kind: str) -> str:
    return KIND_PREFIXES.get(kind, f"{kind.upper()} ")


def next_number(state: AccountState, kind: str, issue_date: date, taken: Container[str]) -> str:
    """Advance the kind's monthly counter, skipping numbers already used by explicit numbers."""
    key = (kind, issue_date.strftime("%Y-%m"))
    while True:
        state.counters[key] = state.counters.get(key, 0) + 1
        number = f"{kind_prefix(kind)}{state.counters[key]}/{issue_date:%m/%Y}"
        if number not in taken:
            return number
