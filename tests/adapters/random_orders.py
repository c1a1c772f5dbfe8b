"""Random orders for both providers' totals tests: hypothesis strategies, the order body they
become, and the checks every issued document must pass whatever the provider.

Each provider's test picks its own VAT rate codes and fractional quantities; the shapes (up to
six lines, optional shipping, invoice or receipt, PLN or EUR) are the same for both.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from domain.documents import DocumentRequest
from domain.money import totals_by_rate_group
from domain.preflight import check_order, order_gross
from schemas.invoices import DocumentKind, IssuedDocument
from tests.adapters.support import order_body, parse_order

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
Item = tuple[str, str, str]  # quantity, unit gross price, VAT rate code

prices = st.integers(1, 999_999).map(lambda grosze: f"{grosze // 100}.{grosze % 100:02d}")
kinds = st.sampled_from([DocumentKind.INVOICE, DocumentKind.RECEIPT])
currencies = st.sampled_from(["PLN", "EUR"])


def quantities(fractional: list[str]) -> st.SearchStrategy[str]:
    """Whole quantities 1..20, or one of ``fractional``."""
    return st.one_of(st.integers(1, 20).map(str), st.sampled_from(fractional))


def order_lines(rates: list[str], fractional: list[str]) -> st.SearchStrategy[list[Item]]:
    """One to six order lines at ``rates``."""
    line = st.tuples(quantities(fractional), prices, st.sampled_from(rates))
    return st.lists(line, min_size=1, max_size=6)


def shipping_charges(rates: list[str]) -> st.SearchStrategy[dict[str, str] | None]:
    """No shipping, or a shipping charge at one of ``rates``."""
    return st.one_of(
        st.none(),
        st.tuples(st.integers(1, 99_999), st.sampled_from(rates)).map(
            lambda s: {
                "name": "Dostawa",
                "price_gross": f"{s[0] // 100}.{s[0] % 100:02d}",
                "vat_rate": s[1],
            }
        ),
    )


def company_order(order_id: str, lines: list[Item], ship: Any, currency: str) -> dict[str, Any]:
    """A B2B order with these lines; its stated ``total_gross`` passes the preflight check."""
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
            for i, (quantity, price, rate) in enumerate(lines, start=1)
        ],
        shipping=ship or {},
    )
    check_order(parse_order(body))  # total_gross stated by the factory matches lines + shipping
    return body


def assert_domain_totals(doc: IssuedDocument, request: DocumentRequest) -> None:
    """The issued totals are the domain's VAT per rate group of the request's lines."""
    expected = totals_by_rate_group((x.total_gross, x.vat_rate) for x in request.lines)
    assert (doc.totals.net, doc.totals.vat, doc.totals.gross) == (
        expected.net,
        expected.vat,
        expected.gross,
    )
    assert doc.totals.net + doc.totals.vat == doc.totals.gross


def assert_no_vat(doc: IssuedDocument, body: dict[str, Any]) -> None:
    """A document of zero-rated lines only: no VAT, net and gross are the order's gross."""
    assert doc.totals.vat == 0
    assert doc.totals.net == doc.totals.gross == order_gross(parse_order(body))
