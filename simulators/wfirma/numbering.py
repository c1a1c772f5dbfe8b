"""Numbering series (reference §3.6): choosing a document's series and rendering its number.

A series id that is missing, unknown or another company's silently falls back to the default
series for the document type (the §8.5 pitfall). Without any configured series for a type the
simulator numbers with a built-in template and reports ``series: {"id": "0"}`` (its choice).
"""

from __future__ import annotations

from datetime import date

from .models import SimSeries
from .state import CompanyState

BUILTIN_TEMPLATES: dict[str, str] = {
    "normal": "FV [numer]/[rok]",
    "margin": "FVM [numer]/[rok]",
    "proforma": "PROF [numer]/[rok]",
    "offer": "OF [numer]/[rok]",
    "receipt_normal": "DS [numer]/[rok]",
    "receipt_fiscal_normal": "PAR [numer]/[rok]",
    "income_normal": "PI [numer]/[rok]",
    "correction": "FK [numer]/[rok]",
    "bill": "R [numer]/[rok]",
}
UNNUMBERED_TYPES: frozenset[str] = frozenset({"normal_draft"})


def choose_series(company: CompanyState, doc_type: str, requested: object) -> SimSeries | None:
    """The requested series when it is this company's, else the type's default (or ``None``)."""
    series = company.config.series
    if requested not in (None, ""):
        match = next((s for s in series if str(s.id) == str(requested).strip()), None)
        if match is not None:
            return match
    return next((s for s in series if s.type == doc_type), None)


def next_number(
    company: CompanyState, series: SimSeries | None, doc_type: str, issued: date
) -> tuple[int, str]:
    """Advance the series counter for the period its ``reset`` defines; ``(number, fullnumber)``."""
    template = series.template if series else BUILTIN_TEMPLATES.get(doc_type, "DOK [numer]/[rok]")
    reset = series.reset if series else "yearly"
    first = series.initnumber if series else 1
    key = (series.id if series else f"builtin:{doc_type}", *_period(reset, issued))
    number = company.counters.get(key, first - 1) + 1
    company.counters[key] = number
    return number, render(template, number, issued)


def _period(reset: str, issued: date) -> tuple[int, ...]:
    if reset == "daily":
        return (issued.year, issued.month, issued.day)
    if reset in ("monthy", "monthly"):
        return (issued.year, issued.month)
    if reset == "yearly":
        return (issued.year,)
    return ()


def render(template: str, number: int, issued: date) -> str:
    """Replace the tokens; month and day are not zero-padded ("FV 12/3/2026", reference §3.6)."""
    return (
        template.replace("[numer]", str(number))
        .replace("[rok]", str(issued.year))
        .replace("[miesiąc]", str(issued.month))
        .replace("[dzień]", str(issued.day))
    )
