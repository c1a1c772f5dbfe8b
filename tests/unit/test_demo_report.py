"""`make demo`'s KSeF column and its samples' wiring (scripts/demo.py, scripts/demo_report.py).

The demo itself runs end to end with `make demo`; these pin what it decides from the events it
reads, and that its files agree with each other (the rejected sample is the one the scripted
KSeF rule names), without a broker.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from domain.documents import sales_key
from simulators.fakturownia.ksef_rules import KsefRule
from simulators.fakturownia.models import SimAccount

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo() -> Iterator[ModuleType]:
    """scripts/demo.py as a module (scripts/ is no package: it imports demo_report by name)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import demo as module

        yield module
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def issued(demo: ModuleType, kind: str, clearance: dict[str, Any] | None, **kw: Any) -> Any:
    sample = demo.Sample("x.json", "issued", kind, **kw)
    sample.got = "issued"
    sample.record = {"document": {"kind": kind, "provider": "fakturownia", "clearance": clearance}}
    return sample


def change(status: str, number: str | None = None, errors: list[str] | None = None) -> dict:
    return {"status": status, "ksef_number": number, "errors": errors or []}


def test_the_ksef_column_shows_the_number_the_reason_or_the_status(demo: ModuleType) -> None:
    from demo_report import ksef_cell

    cleared = issued(demo, "invoice", {"status": "processing", "number": None})
    cleared.clearance = [change("cleared", "5252445767-20261206-ABCDEF123456")]
    rejected = issued(demo, "invoice", {"status": "processing", "number": None})
    rejected.clearance = [change("rejected", errors=["Dokument niezgodny ze schemą FA(3)"])]
    at_once = issued(demo, "invoice", {"status": "ok", "number": "5252445767-20261206-0A"})
    receipt = issued(demo, "receipt", {"status": "not_applicable", "number": None})
    pending = issued(demo, "invoice", {"status": "processing", "number": None})
    outside = issued(demo, "invoice", None)

    assert ksef_cell(cleared) == "5252445767-20261206-ABCDEF123456"
    assert ksef_cell(rejected) == "rejected: Dokument niezgodny ze schemą FA(3)"
    assert ksef_cell(at_once) == "5252445767-20261206-0A"
    assert ksef_cell(receipt) == "not_applicable"
    assert ksef_cell(pending) == "pending"
    assert ksef_cell(outside) == "-"


def test_a_document_is_done_only_once_its_ksef_status_is_final(demo: ModuleType) -> None:
    sample = issued(demo, "invoice", {"status": "processing", "number": None}, ksef="cleared")
    assert not sample.done
    sample.clearance.append(change("offline"))
    assert not sample.done
    sample.clearance.append(change("cleared", "5252445767-20261206-ABCDEF123456"))
    assert sample.done
    # a later non-final announcement does not reopen it
    sample.clearance.append(change("offline_deadline_near"))
    assert sample.done


def test_a_correction_naming_another_ksef_number_is_a_problem(demo: ModuleType) -> None:
    from demo_report import _corrects

    original = issued(demo, "invoice", {"status": "ok", "number": "5252445767-20261206-AA"})
    original.file = "01.json"
    correction = issued(demo, "correction", {"status": "processing", "number": None})
    correction.after = "01.json"
    problems: list[str] = []

    named = {"gov_corrected_invoice_number": "5252445767-20261206-AA"}
    assert (
        _corrects(correction, [original, correction], named, problems)
        == named["gov_corrected_invoice_number"]
    )
    assert problems == []
    assert _corrects(correction, [original, correction], {}, problems) == "-"
    assert problems == [
        "x.json: the correction names KSeF number None, its original has 5252445767-20261206-AA"
    ]


def test_the_demo_files_agree(demo: ModuleType) -> None:
    """Every sample has its order file; KSeF is on for the Fakturownia accounts; the scripted
    rejection names exactly the sample expected to be rejected."""
    for sample in demo.SAMPLES:
        assert (ROOT / "demo" / "orders" / sample.file).is_file(), sample.file
    accounts = json.loads((ROOT / "demo" / "fakturownia-accounts.json").read_text())["accounts"]
    assert all(SimAccount.from_dict(a).ksef_enabled for a in accounts)

    rules = json.loads((ROOT / "demo" / "fakturownia-ksef-rules.json").read_text())
    scripted = [KsefRule.from_dict(r) for r in rules["acme-demo"]]
    keys = {}
    for sample in demo.SAMPLES:
        if sample.outcome == "issued" and sample.detail == "invoice":
            data = json.loads((ROOT / "demo" / "orders" / sample.file).read_text())["data"]
            keys[sample.file] = sales_key(data["channel"], data["order"]["order_id"])
    rejected = {
        file
        for file, key in keys.items()
        for rule in scripted
        if rule.path == "reject" and re.search(rule.oid_regex or "", key)
    }
    assert rejected == {s.file for s in demo.SAMPLES if s.ksef == "rejected"} != set()
