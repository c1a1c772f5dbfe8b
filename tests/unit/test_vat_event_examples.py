"""The AsyncAPI document shows one `invoice.issued` per VAT treatment, each valid against the
published JSON Schema (issue 13, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from schemas.invoices import VatTreatmentName
from schemas.vat_examples import issued_examples

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_every_treatment_has_a_schema_valid_example_in_the_asyncapi_document() -> None:
    schema = json.loads((SCHEMAS / "json" / "invoice.issued.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    doc = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    examples = doc["components"]["messages"]["invoiceIssued"]["examples"]
    assert examples == issued_examples()
    for example in examples:
        errors = [e.message for e in validator.iter_errors(example["payload"])]
        assert errors == [], example["name"]
    shown = {e["payload"]["data"]["document"]["vat_treatment"] for e in examples}
    assert shown == set(VatTreatmentName.__args__)  # type: ignore[attr-defined]
    eur = next(e for e in examples if e["payload"]["data"]["document"]["exchange"])
    assert eur["payload"]["data"]["document"]["exchange"]["table"] == "182/A/NBP/2025"
