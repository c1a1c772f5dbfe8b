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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.wfirma import WfirmaProvider
from domain.documents import DocumentRequest
from domain.money import totals_by_rate_group
from domain.preflight import check_order, order_gross
from schemas.invoices import DocumentKind, IssuedDocument
from simulators.wfirma import WfirmaSimulator
from tests.adapters.conftest_wfirma import new_simulator
from tests.adapters.support import dec, order_body, parse_order
from tests.adapters.wfirma_support import COMPANY_ID, LOGIN, api_keys, lines_of, wsale

RATES = ["23", "8", "5", "0", "zw", "np", "oo"]
FRACTIONAL = ["0.5", "1.25", "0.75", "2.5", "0.333", "1.005", "0.0001", "12.3457"]
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

quantities = st.one_of(st.integers(1, 20).map(str), st.sampled_from(FRACTIONAL))
prices = st.integers(1, 999_999).map(lambda grosze: f"{grosze // 100}.{grosze % 100:02d}")
lines = st.lists(st.tuples(quantities, prices, st.sampled_from(RATES)), min_size=1, max_size=6)
shipping = st.one_of(
    st.none(),
    st.tuples(st.integers(1, 99_999), st.sampled_from(RATES)).map(
        lambda s: {
            "name": "Dostawa",
            "price_gross": f"{s[0] // 100}.{s[0] % 100:02d}",
            "vat_rate": s[1],
        }
    ),
)
kinds = st.sampled_from([DocumentKind.INVOICE, DocumentKind.RECEIPT])
currencies = st.sampled_from(["PLN", "EUR"])


@pytest.fixture
def served() -> Iterator[tuple[WfirmaSimulator, str]]:
    sim = new_simulator()
    with sim.serve_in_thread() as base:
        yield sim, base


def _order(order_id: str, items: list[tuple[str, str, str]], ship: Any, currency: str) -> dict:
    body = order_body(
        order_id,
        company=True,
        currency=currency,
        lines=[
            {
                "line_id": f"L{i}",
                "sku": f"SKU-{i}",
                "name": f"Produkt {i}",
                "quantity": quantity,
                "unit_price_gross": price,
                "vat_rate": rate,
            }
            for i, (quantity, price, rate) in enumerate(items, start=1)
        ],
        shipping=ship or {},
    )
    check_order(parse_order(body))  # total_gross stated by the factory matches lines + shipping
    return body


async def _issue(base: str, request: DocumentRequest) -> IssuedDocument:
    provider = WfirmaProvider(base_url=base, auth=api_keys(), company_id=COMPANY_ID, timeout=5.0)
    try:
        return await provider.issue(request)
    finally:
        await provider.aclose()


def test_issued_totals_equal_the_order_to_the_grosz(
    served: tuple[WfirmaSimulator, str],
) -> None:
    sim, base = served
    ids = itertools.count(1)

    @SETTINGS
    @given(items=lines, ship=shipping, kind=kinds, currency=currencies)
    def check(items: list[tuple[str, str, str]], ship: Any, kind: DocumentKind, currency: str):
        body = _order(f"P-{next(ids)}", items, ship, currency)
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
        expected = totals_by_rate_group((x.total_gross, x.vat_rate) for x in request.lines)
        assert (doc.totals.net, doc.totals.vat, doc.totals.gross) == (
            expected.net,
            expected.vat,
            expected.gross,
        )
        assert doc.totals.net + doc.totals.vat == doc.totals.gross
        assert (doc.kind, doc.currency) == (kind, currency)

    check()
    assert len(sim.invoices(LOGIN)) >= 40


def test_zero_rate_codes_carry_no_vat(served: tuple[WfirmaSimulator, str]) -> None:
    """0 %, zw, np and reverse-charge lines keep their own groups, but none adds VAT."""
    _, base = served
    ids = itertools.count(1)
    zero_rated = st.lists(
        st.tuples(quantities, prices, st.sampled_from(["0", "zw", "np", "oo"])),
        min_size=1,
        max_size=6,
    )

    @SETTINGS
    @given(items=zero_rated)
    def check(items: list[tuple[str, str, str]]) -> None:
        body = _order(f"Z-{next(ids)}", items, None, "PLN")
        doc = asyncio.run(_issue(base, wsale(body)))
        assert doc.totals.vat == 0
        assert doc.totals.net == doc.totals.gross == order_gross(parse_order(body))

    check()
