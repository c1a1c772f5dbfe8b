"""The Python half of `make demo`: publish the sample orders, wait for the outcomes, report.

scripts/demo starts Kafka, the Fakturownia and wFirma simulators and the worker (and connects
the wFirma seller), then runs this with the same environment as the worker, so topic names,
consumer group and broker always match.

How outcomes are recognised without demo-specific output topics: before publishing anything we
note the end offset of every output topic (invoices.issued, invoices.failed, the channels'
dead-letter topics) and read only from there on. Records written by earlier runs or other
producers on a reused broker are never seen, and whatever does appear is matched to the sample
that caused it: issued/failed events by `source_event_id` (every published event gets a fresh
CloudEvents id), dead letters by their `dlq.source.*` headers (the exact topic, partition and
offset we published to). An order with auto-generate off has no output by design: it counts as
done once the worker's consumer group has committed past it, and the simulator is then asked
whether it holds a document for it (it must not). Every issued document must also be held by
the simulator of its provider (Fakturownia or wFirma), under the id the event reports.

Exit status: 0 when every sample had its expected outcome, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from adapters.kafka_admin import client_options
from config.settings import Settings
from schemas.deadletter import ERROR_CODE, REASON, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
from schemas.topics import dlq_topic, orders_topic
from workers.events_tool import order_message

ROOT = Path(__file__).resolve().parents[1]
ORDERS_DIR = ROOT / "demo" / "orders"
CHANNELS = ("ovoko", "allegro", "shop")


@dataclass
class Sample:
    """One file of demo/orders and what the worker must make of it."""

    file: str
    outcome: str  # issued | failed | dead_letter | skipped
    detail: str  # document kind, failure code or dead-letter code
    topic: str = ""  # raw files only; JSON events go to orders.<data.channel>
    key: str = ""  # raw files only; JSON events are keyed by their order id
    after: str = ""  # publish only once this sample's document was issued (see SAMPLES)
    provider: str = "fakturownia"  # issued samples: the provider that must have issued it
    # filled in while the demo runs
    event: dict[str, Any] | None = None
    partition: int = -1
    offset: int = -1
    got: str = ""  # the outcome that arrived
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.file.split(".", 1)[0]


SAMPLES = [
    Sample("01-b2b-invoice.json", "issued", "invoice"),
    Sample("02-b2c-receipt.json", "issued", "receipt"),
    # A refund is corrected against the original document, which must exist by then; the demo
    # waits for it instead of relying on partition order, as a real connector would have to.
    Sample("03-refund-b2b.json", "issued", "correction", after="01-b2b-invoice.json"),
    Sample("04-unconfigured-channel.json", "failed", "channel_not_configured"),
    Sample("05-auto-generate-off.json", "skipped", "auto_generate_off"),
    # Not JSON at all: published as raw bytes, so it needs its topic and key spelled out here.
    Sample("06-malformed.txt", "dead_letter", "malformed_json", "orders.ovoko", "OVK-1003"),
    # seller-gamma invoices on wFirma (OAuth 2.0; channel shop mapped to a numbering series).
    Sample("07-wfirma-b2b-invoice.json", "issued", "invoice", provider="wfirma"),
    Sample("08-wfirma-b2c-receipt.json", "issued", "receipt", provider="wfirma"),
    Sample(
        "09-wfirma-refund-b2b.json",
        "issued",
        "correction",
        after="07-wfirma-b2b-invoice.json",
        provider="wfirma",
    ),
]


def load(sample: Sample) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) for a sample; JSON events get a fresh id every run."""
    raw = (ORDERS_DIR / sample.file).read_bytes()
    if sample.topic:
        return sample.topic, sample.key.encode(), raw, []
    message = order_message(json.loads(raw))  # a fresh event id every run
    sample.event = json.loads(message.value)
    return message.topic, message.key, message.value, message.headers


def order_id(sample: Sample) -> str:
    return sample.event["data"]["order"]["order_id"] if sample.event else sample.key


def alive(pid: int) -> bool:
    """True while the worker runs; a zombie (exited, not yet reaped by the shell) is dead."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except ProcessLookupError:
        return False
    except OSError:
        return True


class Demo:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.kafka = client_options(settings)
        self.outputs = [
            settings.topic_invoices_issued,
            settings.topic_invoices_failed,
            *(dlq_topic(orders_topic(c)) for c in CHANNELS),
        ]
        self.by_event_id: dict[str, Sample] = {}
        self.by_source: dict[tuple[str, int, int], Sample] = {}

    async def run(self) -> bool:
        consumer = AIOKafkaConsumer(**self.kafka, group_id=None, enable_auto_commit=False)
        producer = AIOKafkaProducer(**self.kafka, acks="all")
        admin = AIOKafkaAdminClient(**self.kafka)
        await consumer.start()
        await producer.start()
        await admin.start()
        try:
            await self._start_at_end(consumer, admin)
            print(f"Publishing the sample orders of {ORDERS_DIR.relative_to(ROOT)}/:")
            for sample in SAMPLES:
                if not sample.after:
                    await self._publish(producer, sample)
            return await self._collect(consumer, producer, admin)
        finally:
            await admin.close()
            await producer.stop()
            await consumer.stop()

    async def _start_at_end(self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> None:
        parts = [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics(self.outputs)
            for p in t["partitions"]
        ]
        consumer.assign(parts)
        for tp, end in (await consumer.end_offsets(parts)).items():
            consumer.seek(tp, end)

    async def _publish(self, producer: AIOKafkaProducer, sample: Sample) -> None:
        topic, key, value, headers = load(sample)
        meta = await producer.send_and_wait(topic, value, key=key, headers=headers)
        sample.partition, sample.offset = meta.partition, meta.offset
        if sample.event:
            self.by_event_id[sample.event["id"]] = sample
        self.by_source[(topic, meta.partition, meta.offset)] = sample
        kind = sample.event["type"] if sample.event else "raw bytes"
        note = f"  (once {sample.after} was issued)" if sample.after else ""
        print(f"  {sample.file:<30} {kind:<16} -> {topic:<15} key {key.decode()}{note}")

    async def _collect(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
    ) -> bool:
        deadline = time.monotonic() + self.args.timeout
        print(f"Waiting for the worker (at most {self.args.timeout:.0f} s) ...")
        next_commit_check = 0.0
        while time.monotonic() < deadline:
            if not alive(self.args.worker_pid):
                print("The worker process exited.", file=sys.stderr)
                return False
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    self._match(r)
            for sample in SAMPLES:
                prerequisite = next((s for s in SAMPLES if s.file == sample.after), None)
                if sample.partition >= 0 or not prerequisite or not prerequisite.got:
                    continue
                if prerequisite.got == "issued":
                    await self._publish(producer, sample)
                else:  # it would only fail with original_document_missing
                    sample.got = f"nothing: not published, as {sample.after} was not issued"
            if time.monotonic() >= next_commit_check:
                await self._check_skipped(admin)
                next_commit_check = time.monotonic() + 0.5
            if all(s.got for s in SAMPLES):
                return True
        return False

    def _match(self, r: Any) -> None:
        if r.topic in (self.settings.topic_invoices_issued, self.settings.topic_invoices_failed):
            event = json.loads(r.value)
            sample = self.by_event_id.get(event["data"]["source_event_id"])
            if sample is None:
                return  # not ours (another producer on a shared broker)
            sample.got = "issued" if event["type"] == "invoice.issued" else "failed"
            sample.record = event["data"]
            return
        headers = {k: v.decode(errors="replace") for k, v in r.headers or []}
        source = (
            headers.get(SOURCE_TOPIC, ""),
            int(headers.get(SOURCE_PARTITION, -1)),
            int(headers.get(SOURCE_OFFSET, -1)),
        )
        sample = self.by_source.get(source)
        if sample is not None:
            sample.got = "dead_letter"
            sample.record = {"topic": r.topic, "offset": r.offset, **headers}

    async def _check_skipped(self, admin: AIOKafkaAdminClient) -> None:
        """A record with no output is finished once the worker logged its decision (fast) or,
        should that log line ever change, once the worker's group committed past it."""
        waiting = [s for s in SAMPLES if s.outcome == "skipped" and s.partition >= 0 and not s.got]
        if not waiting:
            return
        log = self.args.worker_log.read_text(errors="replace")
        try:
            committed = await admin.list_consumer_group_offsets(self.settings.app_id)
        except KafkaError:  # e.g. a new broker has no group coordinator before the first join
            committed = {}
        for s in waiting:
            data = s.event["data"]
            line = (
                f"auto-generate off for {data['seller_id']}/{data['channel']}: order {order_id(s)}"
            )
            tp = TopicPartition(orders_topic(data["channel"]), s.partition)
            if line in log or (tp in committed and committed[tp].offset > s.offset):
                s.got = "skipped"


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


def report(args: argparse.Namespace) -> list[str]:
    """Print the outcome tables; returns the problems found (empty when all went as expected)."""
    problems: list[str] = []
    for s in SAMPLES:
        if not s.got and s.partition < 0:
            problems.append(f"{s.file}: not published yet (it waits for {s.after})")
        elif not s.got:
            problems.append(f"{s.file}: no outcome arrived (expected {s.outcome})")
        elif s.got != s.outcome:
            problems.append(f"{s.file}: expected {s.outcome}, got {s.got}")

    docs = [s for s in SAMPLES if s.got == "issued"]
    table(
        "Documents issued (invoices.issued)",
        [
            "seller",
            "provider",
            "channel",
            "order",
            "kind",
            "number",
            "net",
            "VAT",
            "gross",
            "provider id",
            "sent",
        ],
        [
            [
                d["seller_id"],
                doc["provider"],
                d["channel"],
                d["order_id"],
                doc["kind"],
                doc["number"],
                doc["totals"]["net"],
                doc["totals"]["vat"],
                doc["totals"]["gross"],
                doc["provider_document_id"],
                "yes" if doc["sent_to_buyer"] else "no",
            ]
            for s in docs
            for d in [s.record]
            for doc in [d["document"]]
        ],
    )
    for s in docs:
        doc = s.record["document"]
        if s.outcome == "issued" and doc["kind"] != s.detail:
            problems.append(f"{s.file}: expected a {s.detail}, got {doc['kind']}")
        if s.outcome == "issued" and doc["provider"] != s.provider:
            problems.append(f"{s.file}: expected {s.provider} to issue it, got {doc['provider']}")

    failed = [s for s in SAMPLES if s.got == "failed"]
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

    dead = [s for s in SAMPLES if s.got == "dead_letter"]
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

    # The simulator's own view: every issued document must be there, nothing for skipped orders.
    try:
        accounts = [a["prefix"] for a in sim_get(args.sim_url, "/__sim/accounts")]
        stored = {p: sim_get(args.sim_url, f"/__sim/accounts/{p}/invoices") for p in accounts}
        emails = {p: sim_get(args.sim_url, f"/__sim/accounts/{p}/emails") for p in accounts}
    except OSError as exc:  # URLError is an OSError
        return [*problems, f"the simulator at {args.sim_url} did not answer: {exc}"]
    try:
        wfirma = wfirma_documents(args.wfirma_url)
    except OSError as exc:
        return [*problems, f"the wFirma simulator at {args.wfirma_url} did not answer: {exc}"]
    ids = {
        "fakturownia": {str(inv["id"]) for invs in stored.values() for inv in invs},
        "wfirma": {str(inv["id"]) for company in wfirma for inv in company["invoices"]},
    }
    for s in docs:
        doc = s.record["document"]
        if doc["provider_document_id"] not in ids.get(doc["provider"], set()):
            problems.append(f"{s.file}: the {doc['provider']} simulator holds no such document")

    skipped = [s for s in SAMPLES if s.got == "skipped"]
    rows = []
    for s in skipped:
        data = s.event["data"]
        held = [inv for invs in stored.values() for inv in invs if order_id(s) in inv["oid"]]
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

    table(
        "Fakturownia simulator: stored documents per account",
        ["account", "documents", "by kind", "e-mails sent"],
        [
            [
                p,
                len(stored[p]),
                ", ".join(f"{k} {n}" for k, n in sorted(Counter(i["kind"] for i in invs).items()))
                or "-",
                len(emails[p]),
            ]
            for p, invs in stored.items()
        ],
    )

    emailed = {e["invoice_id"] for company in wfirma for e in company["emails"]}
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
            for company in wfirma
            for inv in company["invoices"]
        ],
    )
    return problems


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


async def skip_backlog(settings: Settings) -> int:
    """Commit the worker's consumer group at the end of the demo's order topics, before the
    worker starts; returns how many records it will therefore not read.

    Every run starts with a fresh database and fresh simulators, so orders an earlier run left
    unread on a reused broker (it failed before its worker got to them) must not be issued by
    this one: Fakturownia would refuse the duplicate `oid`, but wFirma keeps no such guard and
    would number the same order twice. A new group would otherwise start at the earliest record.
    """
    kafka = client_options(settings)
    admin = AIOKafkaAdminClient(**kafka)
    consumer = AIOKafkaConsumer(**kafka, group_id=settings.app_id, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        parts = [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics([orders_topic(c) for c in CHANNELS])
            for p in t["partitions"]
        ]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        unread = 0
        for tp, end in ends.items():
            committed = await consumer.committed(tp)
            unread += end - (starts[tp] if committed is None else committed)
        await consumer.commit(ends)
        return unread
    finally:
        await consumer.stop()
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-backlog",
        action="store_true",
        help="only move the worker's group past unread orders of earlier runs (before it starts)",
    )
    parser.add_argument("--sim-url", help="e.g. http://127.0.0.1:18081")
    parser.add_argument("--wfirma-url", help="e.g. http://127.0.0.1:18082")
    parser.add_argument("--worker-pid", type=int)
    parser.add_argument("--worker-log", type=Path)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait")
    args = parser.parse_args()
    settings = Settings()  # the worker's settings: same environment, same topics and group
    if args.skip_backlog:
        unread = asyncio.run(skip_backlog(settings))
        note = f"{unread} unread record(s) of earlier runs skipped" if unread else "no backlog"
        print(f"ok: worker group {settings.app_id} starts at the end of orders.* ({note})")
        return 0
    for name in ("sim_url", "wfirma_url", "worker_pid", "worker_log"):
        if getattr(args, name) is None:
            parser.error(f"--{name.replace('_', '-')} is required")

    started = time.monotonic()
    try:
        finished = asyncio.run(Demo(settings, args).run())
    except KeyboardInterrupt:  # Ctrl-C: scripts/demo stops the services
        return 130
    waited = time.monotonic() - started
    problems = report(args)
    if not finished:
        problems.append(f"gave up waiting after {waited:.0f} s")
    if problems:
        print("\nDEMO FAILED:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"\nAll {len(SAMPLES)} samples had their expected outcome ({waited:.1f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
