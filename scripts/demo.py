"""The Python half of `make demo`: publish the sample orders, wait for the outcomes, report.

scripts/demo starts Kafka, the Fakturownia and wFirma simulators and the worker (and connects
the wFirma seller), then runs this with the same environment as the worker, so topic names,
consumer group and broker always match.

How outcomes are recognised without demo-specific output topics: before publishing anything we
note the end offset of every output topic (invoices.issued, invoices.failed, the channels'
dead-letter topics, invoices.clearance) and read only from there on. Records written by
earlier runs or other producers on a reused broker are never seen, and whatever does appear is
matched to the sample that caused it: issued/failed/clearance events by `source_event_id`
(every published event gets a fresh CloudEvents id), dead letters by their `dlq.source.*`
headers (the exact topic, partition and offset we published to). An order with auto-generate
off has no output by design: it counts as done once the worker's consumer group has committed
past it, and the simulator is then asked whether it holds a document for it (it must not).
Every issued document must also be held by the simulator of its provider (Fakturownia or
wFirma), under the id the event reports.

KSeF: an issued document is done once its KSeF status is final (`cleared`, `rejected`,
`not_applicable`), as `invoice.issued` saw it at creation or a later `invoice.clearance_changed`
announced it. The tables (scripts/demo_report.py) show it per document.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from demo_report import FINAL_KSEF, ksef_status, order_id, report

from adapters.kafka_admin import client_options
from config.settings import Settings
from schemas.deadletter import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
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
    ksef: str = ""  # issued samples: the final KSeF status it must reach
    # filled in while the demo runs
    event: dict[str, Any] | None = None
    partition: int = -1
    offset: int = -1
    got: str = ""  # the outcome that arrived
    record: dict[str, Any] = field(default_factory=dict)
    clearance: list[dict[str, Any]] = field(default_factory=list)  # clearance_changed data

    @property
    def done(self) -> bool:
        """Its outcome arrived and, for a document, its KSeF status is final."""
        if self.got != "issued" or not self.ksef:
            return bool(self.got)
        return ksef_status(self) in FINAL_KSEF

    @property
    def label(self) -> str:
        return self.file.split(".", 1)[0]


SAMPLES = [
    Sample("01-b2b-invoice.json", "issued", "invoice", ksef="cleared"),
    Sample("02-b2c-receipt.json", "issued", "receipt", ksef="not_applicable"),
    # A refund is corrected against the original document, which must exist by then; the demo
    # waits for it instead of relying on partition order, as a real connector would have to.
    # The worker itself then holds the correction until KSeF numbered the original.
    Sample(
        "03-refund-b2b.json", "issued", "correction", after="01-b2b-invoice.json", ksef="cleared"
    ),
    Sample("04-unconfigured-channel.json", "failed", "channel_not_configured"),
    Sample("05-auto-generate-off.json", "skipped", "auto_generate_off"),
    # Not JSON at all: published as raw bytes, so it needs its topic and key spelled out here.
    Sample("06-malformed.txt", "dead_letter", "malformed_json", "orders.ovoko", "OVK-1003"),
    # seller-gamma invoices on wFirma (OAuth 2.0; channel shop mapped to a numbering series).
    # wFirma sends its invoices to KSeF by itself; the worker polls for the number.
    Sample("07-wfirma-b2b-invoice.json", "issued", "invoice", provider="wfirma", ksef="cleared"),
    Sample(
        "08-wfirma-b2c-receipt.json", "issued", "receipt", provider="wfirma", ksef="not_applicable"
    ),
    Sample(
        "09-wfirma-refund-b2b.json",
        "issued",
        "correction",
        after="07-wfirma-b2b-invoice.json",
        provider="wfirma",
        ksef="cleared",
    ),
    # KSeF refuses this one (demo/fakturownia-ksef-rules.json): issued at the provider, never
    # legally issued, and not e-mailed to the buyer.
    Sample("10-ksef-rejected-invoice.json", "issued", "invoice", ksef="rejected"),
    # VAT treatments (docs/vat.md): a German company VIES confirms gets an intra-EU supply (WDT)
    # at 0 %; a used part sold under the margin scheme shows no VAT.
    Sample("11-wdt-invoice.json", "issued", "invoice", ksef="cleared"),
    Sample("12-margin-used-part.json", "issued", "invoice", ksef="cleared"),
]


def load(sample: Sample) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) for a sample; JSON events get a fresh id every run."""
    raw = (ORDERS_DIR / sample.file).read_bytes()
    if sample.topic:
        return sample.topic, sample.key.encode(), raw, []
    message = order_message(json.loads(raw))  # a fresh event id every run
    sample.event = json.loads(message.value)
    return message.topic, message.key, message.value, message.headers


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
            settings.topic_invoices_clearance,
            *(dlq_topic(orders_topic(c)) for c in CHANNELS),
        ]
        self.started = time.monotonic()
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
            if all(s.done for s in SAMPLES):
                return True
        return False

    def _match(self, r: Any) -> None:
        if r.topic == self.settings.topic_invoices_clearance:
            data = json.loads(r.value)["data"]
            sample = self.by_event_id.get(data["source_event_id"])
            if sample is not None:
                sample.clearance.append(data)
                self._announce(data)
            return
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

    def _announce(self, data: dict[str, Any]) -> None:
        """One line per clearance change as it arrives: the KSeF part of the wait."""
        detail = data["ksef_number"] or "; ".join(data["errors"]) or ""
        print(
            f"  [{time.monotonic() - self.started:4.1f} s] {data['order_id']:<10} "
            f"{data['document_kind']:<10} {data['number']:<13} KSeF "
            f"{data['previous_status'] or '-'} -> {data['status']}  {detail}".rstrip()
        )

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


def post_ksef_rules(sim_url: str, path: Path) -> list[str]:
    """Script KSeF outcomes per document at the Fakturownia simulator (its control API), from a
    file of account prefix -> rules; returns one line per rule. Unscripted documents clear."""
    lines = []
    for prefix, rules in json.loads(path.read_text()).items():
        request = urllib.request.Request(
            f"{sim_url}/__sim/accounts/{prefix}/ksef/rules",
            data=json.dumps(rules).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            for rule in json.load(answer):
                lines.append(f"{prefix}: KSeF will {rule['path']} oid {rule['oid_regex'] or '*'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-backlog",
        action="store_true",
        help="only move the worker's group past unread orders of earlier runs (before it starts)",
    )
    parser.add_argument(
        "--ksef-rules",
        type=Path,
        help="only post this file's scripted KSeF outcomes to the Fakturownia simulator",
    )
    parser.add_argument("--sim-url", help="e.g. http://127.0.0.1:18081")
    parser.add_argument("--wfirma-url", help="e.g. http://127.0.0.1:18082")
    parser.add_argument("--worker-pid", type=int)
    parser.add_argument("--worker-log", type=Path)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait")
    args = parser.parse_args()
    if args.ksef_rules:
        if not args.sim_url:
            parser.error("--ksef-rules needs --sim-url")
        for line in post_ksef_rules(args.sim_url, args.ksef_rules):
            print(f"ok: {line}")
        return 0
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
    problems = report(SAMPLES, args.sim_url, args.wfirma_url)
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
