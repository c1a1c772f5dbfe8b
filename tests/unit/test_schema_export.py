"""The committed JSON Schemas and AsyncAPI document are current and describe the real wire format.

Producers and consumers in other languages trust these files instead of our pydantic models, so
they are checked against events built by the same code that builds them in production.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import TypeAdapter, ValidationError

from schemas import export
from schemas.deadletter import DeadLetterReason, deadletter_headers
from schemas.envelope import dataschema_for
from schemas.invoices import (
    DocumentKind,
    Failure,
    FailureClass,
    FailureCode,
    IssuedDocument,
    Provider,
    Totals,
    Violation,
)
from schemas.orders import OrderEvent
from tests import factories as f
from workers.events import Fact, failed_event, issued_event

ROOT = export.PACKAGE_DIR
ORDER_EVENT: TypeAdapter[Any] = TypeAdapter(OrderEvent)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def _format_checker() -> FormatChecker:
    """jsonschema checks `date-time` only with an optional extra; fall back to RFC 3339 syntax."""
    checker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(
            lambda value: not isinstance(value, str) or bool(_RFC3339.match(value))
        )
    return checker


def validator(stem: str) -> Draft202012Validator:
    schema = json.loads((ROOT / export.JSON_DIR / f"{stem}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=_format_checker())


def errors(stem: str, document: object) -> list[str]:
    return [e.message for e in validator(stem).iter_errors(document)]


def wire(event: Any) -> dict[str, Any]:
    """Exactly what the publisher puts on the topic, parsed back."""
    return json.loads(event.model_dump_json(by_alias=True))


# (a) the committed files are what the models generate ---------------------------------------


def test_committed_contract_files_are_current() -> None:
    stale = export.stale_files()
    assert not stale, (
        f"stale contract files {stale}: run `python -m schemas.export` and commit the result"
    )


def test_check_lists_stale_files_and_export_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--check"], root=tmp_path) == 1
    assert "stale:" in capsys.readouterr().err
    assert export.main([], root=tmp_path) == 0
    assert export.main(["--check"], root=tmp_path) == 0

    (tmp_path / "json" / "invoice.failed.json").write_text("{}\n")
    (tmp_path / "json" / "order.cancelled.json").write_text("{}\n")  # no longer generated
    capsys.readouterr()
    assert export.main(["--check"], root=tmp_path) == 1
    err = capsys.readouterr().err
    assert "invoice.failed.json" in err and "order.cancelled.json" in err
    assert "order.completed.json" not in err

    export.main([], root=tmp_path)
    assert not (tmp_path / "json" / "order.cancelled.json").exists()
    assert export.stale_files(tmp_path) == []


@pytest.mark.parametrize("stem", sorted(export.json_schemas()))
def test_every_schema_is_draft_2020_12_with_its_dataschema_as_id(stem: str) -> None:
    schema = validator(stem).schema
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == dataschema_for(stem)
    assert schema["title"] == stem


def test_money_is_a_pattern_constrained_string_never_a_number() -> None:
    issued = validator("invoice.issued").schema
    assert issued["$defs"]["Totals"]["properties"]["net"] == {
        "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$",
        "title": "Net",
        "type": "string",
    }
    line = validator("order.completed").schema["$defs"]["OrderLine"]["properties"]
    assert line["unit_price_gross"]["type"] == "string"
    assert line["quantity"] == {
        "pattern": r"^-?[0-9]{1,9}(\.[0-9]{1,4})?$",
        "title": "Quantity",
        "type": "string",
    }
    for stem in export.json_schemas():
        assert "number" not in _types(validator(stem).schema), f"{stem} admits a JSON number"


def _types(node: object) -> set[str]:
    """Every `type` keyword value anywhere in a schema (property names are not types)."""
    if isinstance(node, list):
        return {t for v in node for t in _types(v)}
    if not isinstance(node, dict):
        return set()
    own = node.get("type")
    found = {own} if isinstance(own, str) else set(own) if isinstance(own, list) else set()
    children = node["properties"].values() if "properties" in node else []
    rest = [v for k, v in node.items() if k != "properties"]
    return found | {t for v in [*children, *rest] for t in _types(v)}


# (b) real events validate; invalid documents are rejected -----------------------------------


def _refund() -> dict[str, Any]:
    return f.refunded(
        "s1",
        "ovoko",
        f.order(),
        "R1",
        [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}],
        shipping_refunded="15.00",
    )


VALID_ORDERS = {
    "b2c": ("order.completed", lambda: f.completed("s1", "ovoko", f.order())),
    "b2b": ("order.completed", lambda: f.completed("s1", "ovoko", f.order(company=True))),
    "minimal": (
        "order.completed",
        lambda: f.completed("s1", "ovoko", f.order(shipping={}, total=None)),
    ),
    "refund": ("order.refunded", _refund),
}


@pytest.mark.parametrize("case", sorted(VALID_ORDERS))
def test_factory_order_events_validate(case: str) -> None:
    stem, build = VALID_ORDERS[case]
    body = build()
    ORDER_EVENT.validate_json(json.dumps(body))  # the worker accepts it too
    assert errors(stem, body) == []
    other = "order.refunded" if stem == "order.completed" else "order.completed"
    assert errors(other, body), "an event must not validate against the other type's schema"


def test_an_extension_attribute_is_allowed_on_the_envelope() -> None:
    body = f.completed("s1", "ovoko", f.order()) | {"traceparent": "00-abc-def-01"}
    assert errors("order.completed", body) == []


def _set(body: dict[str, Any], path: tuple[Any, ...], value: object) -> dict[str, Any]:
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()
LINE = ("data", "order", "lines", 0)

INVALID_ORDERS = {
    "float money": ((*LINE, "unit_price_gross"), 129.99),
    "three decimals": ((*LINE, "unit_price_gross"), "129.999"),
    "float quantity": ((*LINE, "quantity"), 2),
    "missing vat_rate": ((*LINE, "vat_rate"), _DELETE),
    "unknown vat_rate": ((*LINE, "vat_rate"), "22"),
    "misspelled field": ((*LINE, "vat_rte"), "23"),
    "lowercase currency": (("data", "order", "currency"), "pln"),
    "alpha-3 country": (("data", "order", "buyer", "address", "country"), "POL"),
    "naive time": (("data", "order", "placed_at"), "2026-11-20T10:30:00"),
    "no lines": (("data", "order", "lines"), []),
    "bad channel": (("data", "channel"), "Ovoko"),
    "spec version": (("specversion",), "0.3"),
    "dataschema": (("dataschema",), "https://example.test/order.json"),
    "missing id": (("id",), _DELETE),
}


@pytest.mark.parametrize("case", sorted(INVALID_ORDERS))
def test_invalid_order_documents_are_rejected(case: str) -> None:
    path, value = INVALID_ORDERS[case]
    body = _set(f.completed("s1", "ovoko", f.order()), path, value)
    assert errors("order.completed", body), f"{case} passed the JSON Schema"
    with pytest.raises(ValidationError):  # the schema is never stricter than the worker
        ORDER_EVENT.validate_json(json.dumps(body))


def test_refund_without_reason_is_rejected() -> None:
    body = _set(_refund(), ("data", "refund", "reason"), _DELETE)
    assert errors("order.refunded", body)


FACT = Fact("s1", "ovoko", "ORD-1", "8b0e7c0a-0000-4000-8000-000000000001", DocumentKind.INVOICE)


def _document(**changes: Any) -> IssuedDocument:
    fields: dict[str, Any] = {
        "kind": DocumentKind.INVOICE,
        "provider": Provider.FAKTUROWNIA,
        "provider_document_id": "100000001",
        "number": "FV 1/11/2026",
        "issue_date": dt.date(2026, 11, 20),
        "currency": "PLN",
        "totals": Totals(net=Decimal("252.42"), vat=Decimal("58.06"), gross=Decimal("310.48")),
        "view_url": "https://acme.fakturownia.pl/invoice/abc",
    }
    return IssuedDocument(**(fields | changes))


def test_issued_events_validate() -> None:
    sale = wire(issued_event(FACT, _document()))
    correction_fact = Fact("s1", "ovoko", "ORD-1", "src-2", DocumentKind.CORRECTION, refund_id="R1")
    correction = wire(
        issued_event(
            correction_fact,
            _document(
                kind=DocumentKind.CORRECTION,
                number="KOR 1/11/2026",
                totals=Totals(
                    net=Decimal("-105.68"), vat=Decimal("-24.31"), gross=Decimal("-129.99")
                ),
                corrected_document_id="100000001",
            ),
        )
    )
    assert sale["data"]["document"]["totals"]["gross"] == "310.48"
    assert errors("invoice.issued", sale) == []
    assert errors("invoice.issued", correction) == []
    assert errors("invoice.failed", sale)


def test_failed_events_validate() -> None:
    failure = Failure(
        code=FailureCode.INVALID_TAX_ID,
        failure_class=FailureClass.PERMANENT,
        message="fix the NIP and publish again",
        attempts=0,
        violations=[Violation(field="order.buyer.tax_id", code="tax_id_checksum", message="x")],
    )
    event = wire(failed_event(FACT, failure))
    assert event["data"]["failure"]["class"] == "permanent"
    assert errors("invoice.failed", event) == []
    unconfigured = Fact("s1", "ovoko", "ORD-1", "src-1")  # no document kind decided yet
    bare = Failure(
        code=FailureCode.CHANNEL_NOT_CONFIGURED,
        failure_class=FailureClass.PERMANENT,
        message="map the channel",
    )
    assert errors("invoice.failed", wire(failed_event(unconfigured, bare))) == []


INVALID_OUTPUTS = {
    "float money": ("invoice.issued", ("data", "document", "totals", "net"), 252.42),
    "unknown kind": ("invoice.issued", ("data", "document", "kind"), "proforma"),
    "date with time": ("invoice.issued", ("data", "document", "issue_date"), "2026-11-20T00:00Z"),
    "unknown class": ("invoice.failed", ("data", "failure", "class"), "fatal"),
    "missing code": ("invoice.failed", ("data", "failure", "code"), _DELETE),
}


@pytest.mark.parametrize("case", sorted(INVALID_OUTPUTS))
def test_invalid_output_documents_are_rejected(case: str) -> None:
    stem, path, value = INVALID_OUTPUTS[case]
    failure = Failure(
        code=FailureCode.PROVIDER_REJECTED, failure_class=FailureClass.PERMANENT, message="m"
    )
    event = (
        issued_event(FACT, _document()) if stem == "invoice.issued" else failed_event(FACT, failure)
    )
    assert errors(stem, _set(wire(event), path, value)), f"{case} passed the JSON Schema"


def _dlq_headers(**changes: str) -> dict[str, str]:
    headers = deadletter_headers(
        [("traceparent", b"00-abc-def-01"), ("dlq.reason", b"from an earlier failure")],
        DeadLetterReason("schema_invalid", "data.order.lines.0.vat_rate: Field required", "E"),
        topic="orders.ovoko",
        partition=3,
        offset=1207,
        group="invoice-router",
        attempts=1,
        failed_at=dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC),
    )
    return {k: v.decode() for k, v in headers} | changes


def test_deadletter_headers_validate() -> None:
    assert errors("deadletter.headers", _dlq_headers()) == []


@pytest.mark.parametrize(
    "changes",
    [{"dlq.source.offset": "-1"}, {"dlq.unknown": "x"}, {"dlq.failed.at": "yesterday"}],
)
def test_invalid_deadletter_headers_are_rejected(changes: dict[str, str]) -> None:
    assert errors("deadletter.headers", _dlq_headers(**changes))


def test_deadletter_headers_are_all_required() -> None:
    headers = _dlq_headers()
    del headers["dlq.error.code"]
    assert errors("deadletter.headers", headers)


# (c) the AsyncAPI document ------------------------------------------------------------------


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _pointer(document: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def test_asyncapi_document_parses_and_every_ref_resolves() -> None:
    path = ROOT / export.ASYNCAPI_FILE
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["asyncapi"] == "3.0.0"
    refs = _refs(doc)
    files = {r for r in refs if not r.startswith("#")}
    for ref in files:
        assert (path.parent / ref).is_file(), f"{ref} does not exist"
    for ref in refs:
        if ref.startswith("#"):
            _pointer(doc, ref[1:])  # raises KeyError when the target is missing
    generated = {f"./{name}" for name in export.render() if name.endswith(".json")}
    assert files == generated, "every JSON Schema is used by a message"


def test_asyncapi_operations_are_the_workers_view() -> None:
    doc = yaml.safe_load((ROOT / export.ASYNCAPI_FILE).read_text(encoding="utf-8"))
    actions = {
        doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]: op["action"]
        for op in doc["operations"].values()
    }
    assert actions == {
        "orders.{channel}": "receive",
        "invoices.issued": "send",
        "invoices.failed": "send",
        "invoices.clearance": "send",
        "orders.{channel}.dlq": "send",
    }


def test_output_schemas_accept_fields_added_later_in_the_same_version() -> None:
    """Additive changes keep v1, so a v1 consumer's validator must not reject a new field."""
    failure = Failure(
        code=FailureCode.PROVIDER_REJECTED, failure_class=FailureClass.PERMANENT, message="m"
    )
    event = wire(failed_event(FACT, failure))
    event["data"]["failure"]["hint_url"] = "https://example.test/help"
    assert errors("invoice.failed", event) == []
