"""Totals to the grosz: random orders issued through the adapter against one simulator.

Each test serves a single simulator in a background thread and runs every hypothesis example
with ``asyncio.run`` against it, so examples share the server but never an event loop. The
simulator computes VAT per rate group from gross prices, as Fakturownia does; the adapter's
``IssuedDocument`` (what ``invoice.issued`` carries) must agree with it and with the domain.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from adapters.fakturownia import FakturowniaProvider
from domain.documents import DocumentRequest
from domain.preflight import order_gross
from schemas.invoices import DocumentKind, IssuedDocument
from simulators.fakturownia import FakturowniaSimulator
from tests.adapters.conftest import PREFIX, TOKEN, new_simulator
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
from tests.adapters.support import dec, issue_and_close, parse_order, sale

RATES = ["23", "8", "5", "0", "zw", "np"]
FRACTIONAL = ["0.5", "1.25", "0.75", "2.5", "0.333", "1.005"]

lines = order_lines(RATES, FRACTIONAL)
shipping = shipping_charges(RATES)


@pytest.fixture
def served() -> Iterator[tuple[FakturowniaSimulator, str]]:
    sim = new_simulator()
    with sim.serve_in_thread() as base:
        yield sim, f"{base}/{PREFIX}"


async def _issue(url: str, request: DocumentRequest) -> IssuedDocument:
    provider = FakturowniaProvider(base_url=url, api_token=TOKEN, timeout=5.0)
    return await issue_and_close(provider, request)


def test_issued_totals_equal_the_order_to_the_grosz(served: tuple[FakturowniaSimulator, str]):
    sim, url = served
    ids = itertools.count(1)

    @SETTINGS
    @given(items=lines, ship=shipping, kind=kinds, currency=currencies)
    def check(items: list[tuple[str, str, str]], ship: Any, kind: DocumentKind, currency: str):
        body = company_order(f"P-{next(ids)}", items, ship, currency)  # fresh oid per example
        request = sale(body, kind)
        doc = asyncio.run(_issue(url, request))

        stored = next(d for d in sim.invoices(PREFIX) if str(d["id"]) == doc.provider_document_id)
        gross = order_gross(parse_order(body))
        assert dec(stored["price_gross"]) == gross
        assert dec(stored["price_gross"]) == Decimal(body["total_gross"])
        assert sum(dec(p["total_price_gross"]) for p in stored["positions"]) == gross
        # what invoice.issued carries is what the provider stored
        assert (doc.totals.net, doc.totals.vat, doc.totals.gross) == (
            dec(stored["price_net"]),
            dec(stored["price_tax"]),
            dec(stored["price_gross"]),
        )
        assert_domain_totals(doc, request)
        assert doc.totals.vat >= 0 and doc.totals.net <= doc.totals.gross
        assert doc.currency == currency

    check()
    assert len(sim.invoices(PREFIX)) >= 40


def test_zero_rate_codes_carry_no_vat(served: tuple[FakturowniaSimulator, str]) -> None:
    """0 %, zw and np lines keep their own groups, but none of them adds VAT."""
    _, url = served
    ids = itertools.count(1)
    zero_rated = order_lines(["0", "zw", "np"], FRACTIONAL)

    @SETTINGS
    @given(items=zero_rated)
    def check(items: list[tuple[str, str, str]]) -> None:
        body = company_order(f"Z-{next(ids)}", items, None, "PLN")
        doc = asyncio.run(_issue(url, sale(body)))
        assert_no_vat(doc, body)

    check()
