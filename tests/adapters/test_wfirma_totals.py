"""Totals to the grosz: random orders issued through the wFirma adapter against one simulator.

Each test serves a single simulator in a background thread and runs every hypothesis example
with ``asyncio.run`` against it, so examples share the server but never an event loop. The
simulator prices each line as ``count x price`` and computes VAT per rate group from the
group's gross sum (``price_type: brutto``), as wFirma does; the adapter's ``IssuedDocument``
(what ``invoice.issued`` carries) must agree with it, with the order and with the domain.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from adapters.wfirma import WfirmaProvider
from domain.documents import DocumentRequest
from domain.preflight import order_gross
from schemas.invoices import DocumentKind, IssuedDocument
from simulators.wfirma import WfirmaSimulator
from tests.adapters.conftest_wfirma import new_simulator
from tests.adapters.random_orders import (
    SETTINGS,
    assert_domain_totals,
    assert_no_vat,
    company_order,
    currencies,
    kinds,
    order_lines,
    shipping_charges,
)
from tests.adapters.support import dec, issue_and_close, parse_order
from tests.adapters.wfirma_support import COMPANY_ID, LOGIN, api_keys, lines_of, wsale

RATES = ["23", "8", "5", "0", "zw", "np", "oo"]
FRACTIONAL = ["0.5", "1.25", "0.75", "2.5", "0.333", "1.005", "0.0001", "12.3457"]

lines = order_lines(RATES, FRACTIONAL)
shipping = shipping_charges(RATES)


@pytest.fixture
def served() -> Iterator[tuple[WfirmaSimulator, str]]:
    sim = new_simulator()
    with sim.serve_in_thread() as base:
        yield sim, base


async def _issue(base: str, request: DocumentRequest) -> IssuedDocument:
    provider = WfirmaProvider(base_url=base, auth=api_keys(), company_id=COMPANY_ID, timeout=5.0)
    return await issue_and_close(provider, request)


def test_issued_totals_equal_the_order_to_the_grosz(
    served: tuple[WfirmaSimulator, str],
) -> None:
    sim, base = served
    ids = itertools.count(1)

    @SETTINGS
    @given(items=lines, ship=shipping, kind=kinds, currency=currencies)
    def check(items: list[tuple[str, str, str]], ship: Any, kind: DocumentKind, currency: str):
        body = company_order(f"P-{next(ids)}", items, ship, currency)
        request = wsale(body, kind)
        doc = asyncio.run(_issue(base, request))

        stored = next(d for d in sim.invoices(LOGIN) if d["id"] == doc.provider_document_id)
        gross = order_gross(parse_order(body))
        assert dec(stored["total"]) == gross == Decimal(body["total_gross"])
        stored_lines = lines_of(stored)
        # every line keeps its exact order total, whatever unit price carried it
        assert [dec(c["brutto"]) for c in stored_lines] == [x.total_gross for x in request.lines]
        assert [dec(c["count"]) for c in stored_lines] == [x.quantity for x in request.lines]
        # what invoice.issued carries is what the provider stored
        assert (doc.totals.net, doc.totals.vat, doc.totals.gross) == (
            dec(stored["netto"]),
            dec(stored["tax"]),
            dec(stored["total"]),
        )
        assert_domain_totals(doc, request)
        assert (doc.kind, doc.currency) == (kind, currency)

    check()
    assert len(sim.invoices(LOGIN)) >= 40


def test_zero_rate_codes_carry_no_vat(served: tuple[WfirmaSimulator, str]) -> None:
    """0 %, zw, np and reverse-charge lines keep their own groups, but none adds VAT."""
    _, base = served
    ids = itertools.count(1)
    zero_rated = order_lines(["0", "zw", "np", "oo"], FRACTIONAL)

    @SETTINGS
    @given(items=zero_rated)
    def check(items: list[tuple[str, str, str]]) -> None:
        body = company_order(f"Z-{next(ids)}", items, None, "PLN")
        doc = asyncio.run(_issue(base, wsale(body)))
        assert_no_vat(doc, body)

    check()
