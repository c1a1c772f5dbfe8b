"""The per-order shortcuts of issue 12 compute exactly what the plain code computed.

Each cheaper form (a hand-written UUIDv5, a printable-text shortcut, a line built once at its
decided rate, cached lookups) is checked against the reference it replaces.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import TypeAdapter, ValidationError

from domain.documents import DocumentRequest, TaxTreatment, sales_document
from domain.ksef import _drops, ksef_text
from domain.preflight import PreflightFailed, check_order
from domain.routing import ChannelRoute, DocumentPolicy, decide_sales_document
from domain.taxid import InvalidTaxId, buyer_tax_id, classify_tax_id, tax_id_countries
from domain.vat import TaxProfile, ViesResult, decide_treatment
from domain.vat_document import (
    Decided,
    decided_sales_document,
    split_payment_due,
    treatment_of,
)
from schemas.common import VatRate
from schemas.invoices import DocumentKind, Provider
from schemas.orders import Order
from tests import factories as f
from workers import metrics
from workers.records import RawRecord, Skipped

ORDER = TypeAdapter(Order)
NOW = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
EU_SELLER = TaxProfile(intra_eu_registered=True, oss_registered=True)
CHECKED = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def test_printable_text_holds_no_character_ksef_refuses() -> None:
    """`ksef_text` skips its pattern for printable text: no printable character is dropped."""
    printable_yet_dropped = [
        hex(c) for c in range(sys.maxunicode + 1) if chr(c).isprintable() and _drops(chr(c))
    ]
    assert printable_yet_dropped == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Klocki hamulcowe ", "Klocki hamulcowe"),
        ("Książka\u00a0serwisowa", "Książka\u00a0serwisowa"),  # not printable, nothing dropped
        ("Filtr\toleju\n", "Filtr oleju"),
        ("a\x00b\u0085c", "ab c"),
    ],
)
def test_ksef_text_with_and_without_the_shortcut(raw: str, clean: str) -> None:
    assert ksef_text(raw) == clean


def _line(i: int, rate: str, **extra: Any) -> dict[str, Any]:
    return {
        "line_id": f"L{i}",
        "name": f"Część {i}",
        "quantity": "2",
        "unit_price_gross": f"{i}0.99",
        "vat_rate": rate,
        **extra,
    }


def _orders() -> list[tuple[dict[str, Any], TaxProfile]]:
    de = {"street": "Hauptstraße 12", "postal_code": "10115", "city": "Berlin", "country": "DE"}
    wdt = f.order("O-3", company=True, tax_id="DE136695976")
    wdt["buyer"]["address"] = de
    oss = f.order("O-4")
    oss["buyer"]["address"], oss["ship_to_country"] = de, "DE"
    export = f.order("O-5")
    export["ship_to_country"] = "US"
    mixed = [
        _line(1, "23", sku="A-1", gtu="GTU_02"),
        _line(2, "8"),
        _line(3, "zw", kind="service"),
    ]
    return [
        (f.order("O-1"), TaxProfile()),
        (f.order("O-2", company=True, lines=mixed), TaxProfile()),
        (wdt, EU_SELLER),
        (oss, EU_SELLER),
        (export, EU_SELLER),
        (f.order("O-6", lines=[_line(1, "23", scheme="margin")]), TaxProfile()),
        (
            f.order("O-7", shipping={"name": "Dostawa", "price_gross": "0.00", "vat_rate": "23"}),
            TaxProfile(),
        ),
        (f.order("O-8", currency="EUR", company=True), TaxProfile()),
    ]


def _route(tax: TaxProfile) -> ChannelRoute:
    return ChannelRoute(
        seller_id="s1",
        channel="ovoko",
        connection_id=1,
        provider=Provider.FAKTUROWNIA,
        target="101",
        auto_generate=True,
        policy=DocumentPolicy.AUTO,
        send_by_email=True,
        receipts_enabled=True,
        tax=tax,
    )


def _reference(request: DocumentRequest, decided: Decided) -> DocumentRequest:
    """The decided document as it was built before: every line and the request replaced
    field by field over the plain sales document."""
    d = decided.decision
    lines = tuple(replace(x, rate=r.rate) for x, r in zip(request.lines, d.lines, strict=True))
    tax = TaxTreatment(
        treatment=d.treatment.value,
        buyer_vat_id=d.buyer_vat_id,
        annotation=d.annotation,
        legal_basis=d.legal_basis,
        split_payment=decided.split_payment,
        destination=d.destination,
        oss=any(line.rate.startswith("oss:") for line in d.lines),
    )
    return replace(request, lines=lines, tax=tax)


@pytest.mark.parametrize("case", range(len(_orders())))
def test_the_decided_document_is_built_once_as_it_was_built_twice(case: int) -> None:
    body, profile = _orders()[case]
    order = ORDER.validate_json(json.dumps(body))
    vies = ViesResult(vat_id="DE136695976", valid=True, checked_at=CHECKED)
    decided = Decided(decide_treatment(order, profile, vies), split_payment_due(order, profile))
    route = _route(profile)
    kind = decide_sales_document(order, route)
    plain = sales_document(order, "ovoko", kind, "101", True, NOW)

    built = decided_sales_document(order, "ovoko", kind, "101", True, NOW, decided)

    assert built == _reference(plain, decided)
    assert built.tax == treatment_of(decided)
    assert decided_sales_document(order, "ovoko", kind, "101", True, NOW, None) == plain


def test_a_decision_for_other_lines_is_refused_as_before() -> None:
    order = ORDER.validate_json(json.dumps(f.order("O-9")))
    decided = Decided(decide_treatment(order, TaxProfile(), None), False)
    short = replace(decided.decision, lines=decided.decision.lines[:1])
    with pytest.raises(ValueError, match="the decision covers 1 lines, the document has 3"):
        decided_sales_document(
            order, "ovoko", DocumentKind.INVOICE, None, False, NOW, Decided(short, False)
        )


def test_vat_rate_percent() -> None:
    expected = {"23": 23, "8": 8, "5": 5, "0": 0, "zw": 0, "np": 0, "oo": 0}
    assert {r.value: r.percent for r in VatRate} == {k: Decimal(v) for k, v in expected.items()}
    assert all(isinstance(r.percent, Decimal) for r in VatRate)


def test_a_cached_tax_id_reading_equals_a_fresh_one_and_a_refusal_is_raised_every_time() -> None:
    for tax_id in ("5252445767", "PL 525-244-57-67", "DE136695976", "NO123456789"):
        order = ORDER.validate_json(json.dumps(f.order("O-10", company=True, tax_id=tax_id)))
        assert buyer_tax_id(order) == classify_tax_id(tax_id, tax_id_countries(order))
        assert buyer_tax_id(order) is buyer_tax_id(order)
    bad = ORDER.validate_json(json.dumps(f.order("O-11", company=True, tax_id="5252445768")))
    for _ in range(2):
        with pytest.raises(InvalidTaxId):
            buyer_tax_id(bad)


def test_unknown_codes_are_still_refused_after_known_ones_are_cached() -> None:
    ORDER.validate_json(json.dumps(f.order("O-12", currency="EUR")))
    body = f.order("O-13", currency="XXY")
    with pytest.raises(ValidationError, match="not an ISO 4217 currency code"):
        ORDER.validate_json(json.dumps(body))
    body = f.order("O-14")
    body["ship_to_country"] = "QQ"
    with pytest.raises(ValidationError, match="not an ISO 3166-1 alpha-2 country code"):
        ORDER.validate_json(json.dumps(body))


def test_counts_reach_the_registered_counter_each_time() -> None:
    """Children are looked up once; every observation still counts in the registry."""
    topic = f"orders.hot-{uuid.uuid4().hex[:8]}"
    rec = RawRecord(topic, 0, 0, b"k", b"{}", [])
    for _ in range(3):
        metrics.observe(rec, Skipped("s1", "hot", "A", "auto_generate_off"))
    labels = {"topic": topic, "outcome": "skipped", "code": "auto_generate_off"}
    assert REGISTRY.get_sample_value("invoice_router_outcomes_total", labels) == 3
    consumed = REGISTRY.get_sample_value("invoice_router_events_consumed_total", {"topic": topic})
    assert consumed == 3


def test_each_repeated_line_id_is_named_once_in_order() -> None:
    ids = ["L2", "L1", "L2", "L3", "L1", "L2"]
    body = f.order("O-15", lines=[{**_line(i + 1, "23"), "line_id": x} for i, x in enumerate(ids)])
    with pytest.raises(PreflightFailed) as failed:
        check_order(ORDER.validate_json(json.dumps(body)))
    repeats = [v for v in failed.value.violations if v.code == "duplicate_line_id"]
    assert [v.message for v in repeats] == ["line id 'L1' repeats", "line id 'L2' repeats"]
    assert {v.field for v in repeats} == {"order.lines"}
    check_order(ORDER.validate_json(json.dumps(f.order("O-16"))))  # distinct ids: no violation
