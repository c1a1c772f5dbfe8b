"""The tables `make demo` ends with, and the checks behind "All N samples had their expected
outcome": what the worker published (matched to the samples by scripts/demo.py) next to what
the simulators hold.

KSeF: a document's status is the last final one `invoice.clearance_changed` announced, else
what `invoice.issued` saw at creation. A Fakturownia correction names the KSeF number it
corrects (`gov_corrected_invoice_number`, read back from the simulator); wFirma links a
correction to its original by `parent_id` only, so its row shows the original's KSeF number as
the events announced it.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.ksef import fakturownia_rule
from schemas.deadletter import ERROR_CODE, REASON

if TYPE_CHECKING:
    from demo import Sample

NO_KSEF = "-"  # the provider reports no KSeF state for the document (KSeF off there)
FINAL_KSEF = frozenset({"cleared", "rejected", "not_applicable", NO_KSEF})


def order_id(sample: Sample) -> str:
    return sample.event["data"]["order"]["order_id"] if sample.event else sample.key


def _first_clearance(s: Sample) -> dict[str, Any] | None:
    """The clearance `invoice.issued` carried (as the provider reported it at creation)."""
    return s.record.get("document", {}).get("clearance") if s.got == "issued" else None


def ksef_status(s: Sample) -> str:
    """The document's KSeF status: the last final one announced, else the last announced, else
    what `invoice.issued` saw at creation."""
    if s.clearance:
        final = [c for c in s.clearance if c["status"] in FINAL_KSEF]
        return str((final or s.clearance)[-1]["status"])
    first = _first_clearance(s)
    if first is None:
        return NO_KSEF
    return fakturownia_rule(first["status"]).status.value


def ksef_number(s: Sample) -> str | None:
    """The KSeF number the document was cleared under, if it was."""
    cleared = [c for c in s.clearance if c["status"] == "cleared" and c["ksef_number"]]
    if cleared:
        return str(cleared[-1]["ksef_number"])
    first = _first_clearance(s)
    return first["number"] if first and first["status"] == "ok" else None


def ksef_errors(s: Sample) -> list[str]:
    return next((c["errors"] for c in reversed(s.clearance) if c["status"] == "rejected"), [])


def ksef_cell(s: Sample) -> str:
    """The KSeF column: the number once cleared, the reason of a rejection, else the status."""
    status = ksef_status(s)
    if status == "cleared":
        return ksef_number(s) or "cleared (no number)"
    if status == "rejected":
        return "rejected: " + ("; ".join(ksef_errors(s)) or "(no reason given)")
    return status


def sim_get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as answer:
        return json.load(answer)


def table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


@dataclass
class Simulators:
    """What both simulators hold once the demo is over (empty when one did not answer)."""

    stored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per account
    emails: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    wfirma: list[dict[str, Any]] = field(default_factory=list)  # per company

    @classmethod
    def read(cls, sim_url: str, wfirma_url: str, problems: list[str]) -> Simulators:
        view = cls()
        try:
            accounts = [a["prefix"] for a in sim_get(sim_url, "/__sim/accounts")]
            view.stored = {p: sim_get(sim_url, f"/__sim/accounts/{p}/invoices") for p in accounts}
            view.emails = {p: sim_get(sim_url, f"/__sim/accounts/{p}/emails") for p in accounts}
        except OSError as exc:  # URLError is an OSError
            problems.append(f"the simulator at {sim_url} did not answer: {exc}")
        try:
            view.wfirma = wfirma_documents(wfirma_url)
        except OSError as exc:
            problems.append(f"the wFirma simulator at {wfirma_url} did not answer: {exc}")
        return view

    def document(self, provider: str, doc_id: str) -> dict[str, Any] | None:
        if provider == "fakturownia":
            docs = [d for ds in self.stored.values() for d in ds]
        else:
            docs = [d for company in self.wfirma for d in company["invoices"]]
        return next((d for d in docs if str(d["id"]) == doc_id), None)

    def emailed(self, provider: str, doc_id: str) -> bool:
        if provider == "fakturownia":
            sent = [e for es in self.emails.values() for e in es]
        else:
            sent = [e for company in self.wfirma for e in company["emails"]]
        return any(str(e["invoice_id"]) == doc_id for e in sent)


def wfirma_documents(base: str) -> list[dict[str, Any]]:
    """Per company of every login of the wFirma simulator: its stored documents and e-mails."""
    companies = []
    for login in sim_get(base, "/__sim/logins"):
        for company in login["companies"]:
            path = f"/__sim/logins/{login['login']}/companies/{company['id']}"
            companies.append(
                {
                    "login": login["login"],
                    "id": company["id"],
                    "invoices": sim_get(base, f"{path}/invoices"),
                    "emails": sim_get(base, f"{path}/emails"),
                }
            )
    return companies


def report(samples: list[Sample], sim_url: str, wfirma_url: str) -> list[str]:
    """Print the outcome tables; returns the problems found (empty when all went as expected)."""
    problems: list[str] = []
    for s in samples:
        if not s.got and s.partition < 0:
            problems.append(f"{s.file}: not published yet (it waits for {s.after})")
        elif not s.got:
            problems.append(f"{s.file}: no outcome arrived (expected {s.outcome})")
        elif s.got != s.outcome:
            problems.append(f"{s.file}: expected {s.outcome}, got {s.got}")
    sims = Simulators.read(sim_url, wfirma_url, problems)
    _documents(samples, sims, problems)
    _failures(samples, problems)
    _dead_letters(samples, problems)
    _skipped(samples, sims, problems)
    _simulator_tables(sims)
    return problems


def _documents(samples: list[Sample], sims: Simulators, problems: list[str]) -> None:
    docs = [s for s in samples if s.got == "issued"]
    rows = []
    for s in docs:
        d, doc = s.record, s.record["document"]
        provider, doc_id = doc["provider"], doc["provider_document_id"]
        stored = sims.document(provider, doc_id)
        if stored is None:
            problems.append(f"{s.file}: the {provider} simulator holds no such document")
        if s.outcome == "issued" and doc["kind"] != s.detail:
            problems.append(f"{s.file}: expected a {s.detail}, got {doc['kind']}")
        if s.outcome == "issued" and doc["provider"] != s.provider:
            problems.append(f"{s.file}: expected {s.provider} to issue it, got {provider}")
        status = ksef_status(s)
        if s.ksef and status != s.ksef:
            problems.append(f"{s.file}: expected KSeF {s.ksef}, got {ksef_cell(s)}")
        emailed = sims.emailed(provider, doc_id)
        if status == "rejected" and emailed:
            problems.append(f"{s.file}: KSeF rejected it, yet the buyer got it by e-mail")
        sent = "yes" if doc["sent_to_buyer"] else "after KSeF" if emailed else "no"
        rows.append(
            [
                d["seller_id"],
                provider,
                d["order_id"],
                doc["kind"],
                doc["number"],
                doc["totals"]["gross"],
                sent,
                ksef_cell(s),
                _corrects(s, samples, stored, problems),
            ]
        )
    headers = ["seller", "provider", "order", "kind", "number", "gross", "e-mailed", "KSeF"]
    table(
        "Documents issued (invoices.issued; KSeF status from invoices.clearance)",
        [*headers, "corrects KSeF number"],
        rows,
    )
    print(
        "  KSeF: the KSeF number once cleared; -: the provider reports no KSeF state."
        "\n  corrects: the KSeF number the correction names "
        "(Fakturownia's\n  gov_corrected_invoice_number, as its simulator stores it; *: wFirma "
        "links the original by\n  parent_id, whose KSeF number is shown)."
    )


def _corrects(
    s: Sample, samples: list[Sample], stored: dict[str, Any] | None, problems: list[str]
) -> str:
    """A correction's cell: the KSeF number of the invoice it corrects."""
    if s.record["document"]["kind"] != "correction":
        return ""
    original = next((o for o in samples if o.file == s.after), None)
    expected = ksef_number(original) if original else None
    if s.record["document"]["provider"] != "fakturownia":
        return f"{expected} *" if expected else "-"
    named = (stored or {}).get("gov_corrected_invoice_number")
    if named != expected:
        problems.append(
            f"{s.file}: the correction names KSeF number {named}, its original has {expected}"
        )
    return named or "-"


def _failures(samples: list[Sample], problems: list[str]) -> None:
    failed = [s for s in samples if s.got == "failed"]
    table(
        "Failures (invoices.failed)",
        ["seller", "channel", "order", "code", "class", "message"],
        [
            [
                s.record["seller_id"],
                s.record["channel"],
                s.record["order_id"],
                s.record["failure"]["code"],
                s.record["failure"]["class"],
                s.record["failure"]["message"],
            ]
            for s in failed
        ],
    )
    for s in failed:
        if s.outcome == "failed" and s.record["failure"]["code"] != s.detail:
            problems.append(f"{s.file}: expected {s.detail}, got {s.record['failure']['code']}")


def _dead_letters(samples: list[Sample], problems: list[str]) -> None:
    dead = [s for s in samples if s.got == "dead_letter"]
    table(
        "Dead letters (original bytes kept, reason in headers)",
        ["topic", "offset", "key", "code", "reason"],
        [
            [s.record["topic"], s.record["offset"], s.key, s.record[ERROR_CODE], s.record[REASON]]
            for s in dead
        ],
    )
    for s in dead:
        if s.outcome == "dead_letter" and s.record[ERROR_CODE] != s.detail:
            problems.append(f"{s.file}: expected {s.detail}, got {s.record[ERROR_CODE]}")


def _skipped(samples: list[Sample], sims: Simulators, problems: list[str]) -> None:
    """Nothing may be stored for an order whose channel does not auto-generate."""
    rows = []
    for s in (s for s in samples if s.got == "skipped"):
        data = s.event["data"]
        held = [d for ds in sims.stored.values() for d in ds if order_id(s) in (d["oid"] or "")]
        if held:
            problems.append(f"{s.file}: auto-generate is off but the simulator holds a document")
        rows.append(
            [
                data["seller_id"],
                data["channel"],
                order_id(s),
                "no document (auto-generate off)",
                f"simulator holds {len(held)} for it",
            ]
        )
    table("Skipped (consumed, nothing issued)", ["seller", "channel", "order", "", "check"], rows)


def _counts(values: list[Any]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(Counter(values).items())) or "-"


def _simulator_tables(sims: Simulators) -> None:
    table(
        "Fakturownia simulator: stored documents per account",
        ["account", "documents", "by kind", "by KSeF status (gov_status)", "e-mails sent"],
        [
            [
                p,
                len(docs),
                _counts([d["kind"] for d in docs]),
                _counts([d.get("gov_status") or "-" for d in docs]),
                len(sims.emails[p]),
            ]
            for p, docs in sims.stored.items()
        ],
    )
    emailed = {int(e["invoice_id"]) for company in sims.wfirma for e in company["emails"]}
    table(
        "wFirma simulator: stored documents per company",
        ["login", "company", "number", "type", "id_external", "net", "VAT", "gross", "e-mailed"],
        [
            [
                company["login"],
                company["id"],
                inv["fullnumber"],
                inv["type"],
                inv["id_external"],
                inv["netto"],
                inv["tax"],
                inv["total"],
                "yes" if int(inv["id"]) in emailed else "no",
            ]
            for company in sims.wfirma
            for inv in company["invoices"]
        ],
    )
