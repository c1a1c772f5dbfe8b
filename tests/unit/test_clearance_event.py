"""The `invoice.clearance_changed` contract (ADR 0004, decision 2): one id per (document, status),
its own topic, and a wire format the exported JSON Schema and docs/events.md agree with."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config.secrets import SecretBox
from config.settings import Settings
from schemas.export import PACKAGE_DIR
from schemas.invoices import (
    Clearance,
    ClearanceStatus,
    DocumentKind,
    Failure,
    FailureClass,
    FailureCode,
    InvoiceClearanceChanged,
    Provider,
)
from schemas.topics import INVOICES_CLEARANCE
from tests.unit.test_schema_export import _document, errors, wire
from workers.events import Fact, clearance_changed_event, failed_event, issued_event
from workers.publisher import Topics, event_record, stored_event_record

S = ClearanceStatus
FACT = Fact(
    "seller-42",
    "ovoko",
    "OVK-1001",
    "ovoko-evt-7f3a9c",
    DocumentKind.INVOICE,
    provider=Provider.FAKTUROWNIA,
)
KSEF_NUMBER = "5252445767-20261121-4F1C9A07B2E3"
DOCS = PACKAGE_DIR.parent / "docs" / "events.md"
FAILURE = Failure(code=FailureCode.KSEF_REJECTED, failure_class=FailureClass.PERMANENT, message="m")


def _event(
    status: ClearanceStatus = S.CLEARED, fact: Fact = FACT, **changes: Any
) -> InvoiceClearanceChanged:
    fields: dict[str, Any] = {
        "previous": S.PENDING,
        "status": status,
        "provider_status": "ok",
        "ksef_number": KSEF_NUMBER,
        "assigned_at": dt.datetime(2026, 11, 21, 6, 17, 3, tzinfo=dt.UTC),
        "verification_link": f"https://ksef.mf.gov.pl/web/verify/{KSEF_NUMBER}/abc",
        "offline_deadline": None,
        "errors": [],
        "failure_code": None,
        "provider_document_id": "100000001",
        "number": "1/11/2026",
    }
    return clearance_changed_event(fact, **(fields | changes))


# ids ----------------------------------------------------------------------------------------


def test_the_id_is_the_adr_formula_and_stable_across_rebuilds() -> None:
    """A crashed tracker that announces the same status again produces the same id."""
    first = _event()
    again = _event(provider_status="ok", errors=["retried"], previous=None)
    expected = uuid.uuid5(
        uuid.UUID("6f1c7c1e-3b5e-5d2a-9a57-0c1a5e1d7a10"),
        "invoice.clearance_changed|seller-42|ovoko|OVK-1001|invoice|-|cleared",
    )
    assert first.id == again.id == str(expected)


def test_every_status_has_its_own_id_distinct_from_the_other_events() -> None:
    ids = {_event(status).id for status in ClearanceStatus}
    assert len(ids) == len(ClearanceStatus)
    assert issued_event(FACT, _document()).id not in ids
    assert failed_event(FACT, FAILURE).id not in ids


def test_each_document_of_an_order_has_its_own_ids() -> None:
    correction = Fact(
        "seller-42", "ovoko", "OVK-1001", "src-2", DocumentKind.CORRECTION, "RET-1", Provider.WFIRMA
    )
    assert _event(fact=correction).id != _event().id


def test_a_fact_without_provider_or_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="provider and kind"):
        _event(fact=Fact("s1", "ovoko", "ORD-1", "src-1", DocumentKind.INVOICE))
    with pytest.raises(ValueError, match="provider and kind"):
        _event(fact=Fact("s1", "ovoko", "ORD-1", "src-1", provider=Provider.WFIRMA))


# the wire format against the exported JSON Schema --------------------------------------------


def test_a_cleared_event_validates_against_the_exported_schema() -> None:
    body = wire(_event())
    assert body["type"] == "invoice.clearance_changed"
    assert body["dataschema"] == "urn:invoice-router:schema:invoice.clearance_changed:v1"
    assert body["data"]["assigned_at"] == "2026-11-21T06:17:03Z"
    assert errors("invoice.clearance_changed", body) == []
    assert errors("invoice.issued", body), "must not pass as another event type"


@pytest.mark.parametrize("status", list(ClearanceStatus))
def test_every_status_validates(status: ClearanceStatus) -> None:
    assert errors("invoice.clearance_changed", wire(_event(status))) == []


def test_a_rejection_carries_messages_and_its_failure_code() -> None:
    body = wire(
        _event(
            S.REJECTED,
            provider_status="send_error",
            ksef_number=None,
            assigned_at=None,
            verification_link=None,
            errors=["Nieprawidłowy NIP nabywcy"],
            failure_code=FailureCode.KSEF_REJECTED,
        )
    )
    assert body["data"]["failure_code"] == "ksef_rejected"
    assert body["data"]["errors"] == ["Nieprawidłowy NIP nabywcy"]
    assert errors("invoice.clearance_changed", body) == []


def test_an_offline_deadline_is_an_aware_timestamp() -> None:
    deadline = dt.datetime(2026, 11, 23, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    body = wire(_event(S.OFFLINE_DEADLINE_NEAR, previous=S.OFFLINE, offline_deadline=deadline))
    assert body["data"]["offline_deadline"] == "2026-11-23T23:59:59+01:00"
    assert errors("invoice.clearance_changed", body) == []
    with pytest.raises(ValidationError):
        _event(S.OFFLINE, offline_deadline=dt.datetime(2026, 11, 23, 23, 59))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "status"), "accepted"),
        (("data", "previous_status"), "ok"),
        (("data", "provider"), "ksef"),
        (("data", "assigned_at"), "2026-11-21T06:17:03"),
        (("data", "errors"), "one message"),
        (("dataschema",), "urn:invoice-router:schema:invoice.clearance-changed:v1"),
    ],
)
def test_invalid_clearance_documents_are_rejected(path: tuple[str, ...], value: object) -> None:
    body = wire(_event())
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors("invoice.clearance_changed", body), f"{path}={value!r} passed the JSON Schema"


def test_the_issued_events_clearance_carries_assignment_and_link() -> None:
    clearance = Clearance(
        status="ok",
        number=KSEF_NUMBER,
        assigned_at=dt.datetime(2026, 11, 21, 6, 17, 3, tzinfo=dt.UTC),
        verification_link="https://ksef.mf.gov.pl/web/verify/x/y",
    )
    body = wire(issued_event(FACT, _document(clearance=clearance)))
    assert body["data"]["document"]["clearance"]["assigned_at"] == "2026-11-21T06:17:03Z"
    assert errors("invoice.issued", body) == []


def test_the_domain_keeps_exporting_the_contracts_status() -> None:
    from domain.ksef import ClearanceStatus as DomainStatus
    from domain.ksef import fakturownia_rule

    assert DomainStatus is ClearanceStatus
    assert fakturownia_rule("ok").status is ClearanceStatus.CLEARED


# topics ---------------------------------------------------------------------------------------


def test_event_record_routes_each_event_type_to_its_topic() -> None:
    topics = Topics("out.issued", "out.failed", "group", 1_048_576, "out.clearance")
    event = _event()
    record = event_record(topics, event)
    assert record.topic == "out.clearance"
    assert record.key == b"OVK-1001"
    assert dict(record.headers)["ce_type"] == b"invoice.clearance_changed"
    assert dict(record.headers)["ce_id"] == event.id.encode()
    assert event_record(topics, issued_event(FACT, _document())).topic == "out.issued"
    assert event_record(topics, failed_event(FACT, FAILURE)).topic == "out.failed"


def test_topics_built_positionally_default_the_clearance_topic() -> None:
    assert Topics("i", "f", "g").clearance == INVOICES_CLEARANCE == "invoices.clearance"
    assert Settings(_env_file=None).topic_invoices_clearance == INVOICES_CLEARANCE


def test_a_stored_clearance_event_is_re_emitted_unchanged_to_its_topic() -> None:
    topics = Topics("out.issued", "out.failed", "group", 1_048_576, "out.clearance")
    first = event_record(topics, _event())
    again = stored_event_record(topics, first.value.decode())
    assert (again.topic, again.key, again.value, again.headers) == (
        first.topic,
        first.key,
        first.value,
        first.headers,
    )


def test_the_runtime_passes_the_clearance_topic_setting() -> None:
    import asyncio

    from workers.runtime import Runtime

    async def send(*_: object) -> None:  # never called: nothing is published here
        raise AssertionError

    settings = Settings(
        _env_file=None,
        database_url="sqlite:///:memory:",
        secret_keys=(SecretBox.new_key(),),
        topic_invoices_clearance="x.clearance",
    )
    runtime = Runtime.build(settings, send)  # type: ignore[arg-type]
    try:
        assert runtime.router._topics.clearance == "x.clearance"
    finally:
        asyncio.run(runtime.aclose())


# docs/events.md -------------------------------------------------------------------------------


def _doc_examples(path: Path = DOCS) -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", path.read_text(encoding="utf-8"), re.DOTALL)
    parsed = [json.loads(block) for block in blocks]
    return [body for body in parsed if isinstance(body, dict) and "specversion" in body]


def test_every_event_example_in_the_docs_validates_against_its_schema() -> None:
    examples = _doc_examples()
    assert {e["type"] for e in examples} >= {
        "order.completed",
        "order.refunded",
        "invoice.issued",
        "invoice.failed",
        "invoice.clearance_changed",
    }
    for body in examples:
        assert errors(body["type"], body) == [], body["type"]


def test_the_docs_clearance_example_is_what_the_builder_produces() -> None:
    (example,) = [e for e in _doc_examples() if e["type"] == "invoice.clearance_changed"]
    data = example["data"]
    fact = Fact(
        data["seller_id"],
        data["channel"],
        data["order_id"],
        data["source_event_id"],
        DocumentKind(data["document_kind"]),
        data["refund_id"],
        Provider(data["provider"]),
    )
    when = {k: dt.datetime.fromisoformat(data[k]) if data[k] else None for k in _TIMES}
    built = clearance_changed_event(
        fact,
        previous=S(data["previous_status"]) if data["previous_status"] else None,
        status=S(data["status"]),
        provider_status=data["provider_status"],
        ksef_number=data["ksef_number"],
        verification_link=data["verification_link"],
        errors=data["errors"],
        failure_code=data["failure_code"],
        provider_document_id=data["provider_document_id"],
        number=data["number"],
        **when,
    )
    assert wire(built) | {"time": example["time"]} == example


_TIMES = ("assigned_at", "offline_deadline")
