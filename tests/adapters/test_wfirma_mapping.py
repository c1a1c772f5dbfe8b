"""Pure pieces of the wFirma mapping: unit prices, SKU-carrying names, postcodes, options,
line versions of corrected documents and how a key's change spreads over its lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from adapters.wfirma import WfirmaOptions
from adapters.wfirma.corrections import line_versions, spread
from adapters.wfirma.ksef import ksef_state, needs_ksef_authorization, registration_date
from adapters.wfirma.mapping import clearance, line_name, postal_code, split_name, vat_rate
from adapters.wfirma.pricing import unit_price
from domain.money import to_grosz
from domain.ports import ProviderValidationError
from schemas.common import VatRate
from schemas.invoices import Clearance

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "total", "price"),
    [
        ("2", "259.98", "129.99"),
        ("1", "15.00", "15.00"),
        ("0.333", "3.33", "10.00"),
        ("1.005", "0.01", "0.01"),
        ("0.0001", "0.00", "0.00"),
        ("3", "0.00", "0.00"),
        ("2", "20.01", "10.005"),  # no price to the grosz: four decimals
        ("3", "10.00", "3.3333"),
        ("0", "0.00", "0"),
    ],
)
def test_unit_price_gives_the_exact_line_total(quantity: str, total: str, price: str) -> None:
    found = unit_price(D(quantity), D(total))
    assert found == D(price)
    assert to_grosz(D(quantity) * found) == D(total)


@pytest.mark.parametrize(
    ("quantity", "total"), [("0", "1.00"), ("123456.7891", "1.01"), ("-1", "5.00")]
)
def test_unreachable_totals_have_no_unit_price(quantity: str, total: str) -> None:
    assert unit_price(D(quantity), D(total)) is None


@pytest.mark.parametrize(
    ("name", "sku", "stored"),
    [
        ("Klocki hamulcowe", "BRK-001", "Klocki hamulcowe (SKU: BRK-001)"),
        ("Koszulka (XL)", None, "Koszulka (XL)"),
        ("Zestaw", "A(1)", "Zestaw (SKU: A(1))"),
    ],
)
def test_the_sku_rides_in_the_line_name_and_comes_back(
    name: str, sku: str | None, stored: str
) -> None:
    assert line_name(name, sku) == stored
    assert split_name(stored) == (name, sku)


@pytest.mark.parametrize(
    ("code", "country", "expected"),
    [
        ("00001", "PL", "00-001"),
        ("00-001", "PL", "00-001"),
        (" 31 147 ", None, "31-147"),
        ("1234", "PL", "1234"),  # left for wFirma to refuse by name
        ("10115", "DE", "10115"),
        ("SW1A 1AA", "GB", "SW1A 1AA"),
    ],
)
def test_postal_codes(code: str, country: str | None, expected: str) -> None:
    assert postal_code(code, country) == expected


@pytest.mark.parametrize(
    ("stored", "rate"),
    [
        ({"vat": "23"}, VatRate.R23),
        ({"vat": "zw"}, VatRate.ZW),
        ({"vat": "NP"}, VatRate.NP),
        ({"vat": "NPUE"}, VatRate.NP),
        ({"vat": "WDT"}, VatRate.R0),
        ({"vat": "VAT_BUYER"}, VatRate.OO),
        ({"vat": "8.00"}, VatRate.R8),
    ],
)
def test_stored_vat_codes_read_back_as_rates(stored: dict[str, str], rate: VatRate) -> None:
    assert vat_rate(stored) is rate


def test_options_default_and_parse() -> None:
    assert WfirmaOptions.parse(None) == WfirmaOptions(
        receipt_type="receipt_normal",
        contractor="inline",
        receipt_series=None,
        correction_series=None,
        payment_days=7,
    )
    parsed = WfirmaOptions.parse(
        {"receipt_type": "receipt_fiscal_normal", "correction_series": 7302, "other": "x"}
    )
    assert (parsed.receipt_type, parsed.correction_series) == ("receipt_fiscal_normal", "7302")
    with pytest.raises(ValueError, match="payment_days"):
        WfirmaOptions.parse({"payment_days": -1})


def test_clearance_is_read_from_the_ksef_fields() -> None:
    assert clearance({"ksef_status": "", "ksef_reference_number": ""}) is None
    assert clearance({"type": "normal", "ksef_status": "", "ksef_reference_number": ""}) is None
    assert clearance({"ksef_status": "ok", "ksef_reference_number": "N-1"}) == Clearance(
        status="ok", number="N-1"
    )
    rejected = {"ksef_status": "error", "ksef_errors": {"0": {"error": {"message": "Zły NIP"}}}}
    assert clearance(rejected) == Clearance(status="send_error", errors=["Zły NIP"])
    assert clearance({"ksef_status": "error", "ksef_error": "Odrzucona"}).errors == ["Odrzucona"]


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ({"type": "normal", "ksef_status": "ok", "ksef_reference_number": "N"}, "ok"),
        ({"type": "normal", "ksef_status": "ACCEPTED", "ksef_reference_number": "N"}, "ok"),
        ({"type": "correction", "ksef_status": "rejected"}, "send_error"),
        ({"type": "normal", "ksef_status": "server_error"}, "processing"),  # wFirma re-sends
        ({"type": "normal", "ksef_status": "something new"}, "processing"),
        ({"type": "normal", "ksef_status": "", "ksef_reference_number": "N"}, "ok"),
        ({"type": "normal", "ksef_status": "weird", "ksef_reference_number": "N"}, "ok"),
        ({"type": "receipt_normal", "ksef_status": ""}, "not_applicable"),
        ({"type": "receipt_fiscal_normal"}, "not_applicable"),
        ({"type": "proforma", "ksef_status": ""}, "not_applicable"),
    ],
)
def test_ksef_status_speaks_the_project_vocabulary(record: dict, status: str) -> None:
    found = clearance(record)
    assert found is not None and found.status == status


def test_ksef_state_reads_the_registration_date_as_polish_time() -> None:
    state = ksef_state(
        {
            "type": "normal",
            "ksef_status": "ok",
            "ksef_reference_number": "5252445767-20260827-0EA9F5400001-AF",
            "ksef_registration_date": "2026-08-27 10:15:02.123",
        }
    )
    assert state is not None and state.number == "5252445767-20260827-0EA9F5400001-AF"
    assert state.registered_at == dt.datetime(
        2026, 8, 27, 10, 15, 2, 123000, tzinfo=ZoneInfo("Europe/Warsaw")
    )
    assert registration_date("") is None and registration_date("garbage") is None


def test_missing_ksef_authorisation_is_recognised_by_its_documented_message() -> None:
    assert needs_ksef_authorization(
        "Brak autoryzacji w KSeF 2.0. Zautoryzuj się w zakładce PRZYCHODY » KSEF I INTEGRACJE"
    )
    assert not needs_ksef_authorization("Pole nie może być puste")
    assert not needs_ksef_authorization(None)


def _line(line_id: str, parent: str | None = None) -> dict:
    out = {"id": line_id, "name": f"line {line_id}"}
    return out | ({"parent_id": parent} if parent else {})


def _doc(doc_id: str, *lines: dict) -> dict:
    contents = {str(i): {"invoicecontent": line} for i, line in enumerate(lines)}
    return {"id": doc_id, "invoicecontents": contents}


def test_line_versions_follow_each_line_through_its_corrections() -> None:
    original = _doc("1", _line("10"), _line("11"), _line("12"))
    later = _doc("3", _line("31", parent="21"), _line("32"))  # 32: a line the correction added
    earlier = _doc("2", _line("21", parent="10"), _line("22", parent="12"))
    versions = line_versions(original, [later, earlier])  # applied in creation (id) order
    assert [v["id"] for v in versions] == ["31", "11", "22", "32"]


def test_spread_takes_whole_lines_from_the_end_then_moves_value() -> None:
    assert spread([(D(2), D("20"))], (D(1), D("10"))) == [(D(1), D("10"))]
    lines = [(D(2), D("20.00")), (D(1), D("25.00"))]
    assert spread(lines, (D(2), D("20.00"))) == [(D(2), D("20.00")), (D(0), D(0))]
    assert spread(lines, (D(3), D("40.00"))) == [(D(2), D("20.00")), (D(1), D("20.00"))]
    assert spread(lines, (D(1), D("5.00"))) == [(D(1), D("5.00")), (D(0), D(0))]
    assert spread(lines, (D(4), D("50.00"))) == [(D(3), D("20.00")), (D(1), D("30.00"))]
    assert spread(lines, (D(0), D(0))) == [(D(0), D(0)), (D(0), D(0))]
    with pytest.raises(ProviderValidationError):
        spread(lines, (D(0), D("5.00")))  # value left over with no item to carry it
