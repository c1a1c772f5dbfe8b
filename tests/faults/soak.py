"""The seeded fault soak (fault 8, issue 10): its schedule and the chaos that plays it.

`plan(seed, ...)` turns a seed into everything the soak will do: the orders (with refunds,
some published before their sale, some events on a partition their key does not map to, some
published twice), poison and one oversized record, when each burst of records is published, and
a timeline of faults (kill -9 / SIGTERM of a worker, PostgreSQL killed or stopped immediately,
a broker restart, provider rules: 5xx, 429, creates that commit then hang or drop, latency past
the worker's timeout). The same seed gives the same plan; only the system's own timing varies.

`Chaos` plays a plan against a `FaultRun` whose database server and broker are the test's own
(`private_services`), acting as the supervisor a deployment has: a worker that exits or
crashes by itself is started again (and counted). Every fault is counted only once applied.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from simulators.fakturownia import FaultRule as FakturowniaFault
from simulators.wfirma import FaultRule as WfirmaFault
from tests import factories as f
from tests.faults.private_services import PrivateBroker, PrivatePostgres
from tests.faults.support import REFUND_LINES, Doc, FaultRun
from tests.integration.harness import committed_offsets, stop_process

SIGTERM_BOUND = 30.0  # seconds a worker may take to stop on SIGTERM (issue 10)
OVERSIZED_BYTES = 1_600_000  # above the broker's default 1 MB, below the topic's raised limit
TOPIC_MAX_BYTES = 3 * 1024 * 1024
SYNCED = re.compile(r"Successfully synced group \S+ with generation (\d+)")
PARTITIONS = 4
# On top of support.FAST_ENV: a refund whose sale never comes (e.g. dead-lettered) fails as
# original_document_missing well within the soak instead of after a day.
SOAK_ENV = {"INVOICE_ROUTER_ORIGINAL_WAIT_SECONDS": "90"}


@dataclass(frozen=True)
class Profile:
    orders: int
    bursts: int
    window: float  # seconds over which the bursts and faults are spread
    kills: int
    sigterms: int
    pg_outages: int
    broker_restarts: int
    provider_faults: int
    poison: int
    quiesce: float  # seconds the system gets to settle after the last fault
    refund_share: float = 0.35  # of company orders
    refund_first_share: float = 0.3  # of refunds: published before their sale
    misrouted_share: float = 0.08  # of events: to a partition their key does not map to
    duplicate_share: float = 0.05  # of events: published a second time, later


CI = Profile(120, 12, 75, 3, 2, 2, 1, 7, 4, quiesce=150)
LONG = Profile(400, 40, 420, 12, 8, 6, 3, 30, 12, quiesce=600)


@dataclass(frozen=True)
class Event:
    """One record to publish; `partition` None: the key's partition."""

    kind: str  # sale | refund | duplicate | poison | oversized
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    partition: int | None
    label: str = ""  # e.g. "refund_first", "misrouted"


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the start of the timeline
    kind: str  # publish | kill9 | sigterm | pg_outage | broker_restart | provider
    args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args.items() if k != "events")
        return f"{self.at:6.1f}s {self.kind} {args}".rstrip()


@dataclass
class Plan:
    seed: int
    docs: list[Doc]
    steps: list[Step]
    poison_keys: set[bytes]
    labels: Counter

    def timeline(self) -> str:
        return "\n".join(s.describe() for s in self.steps if s.kind != "publish")


def key_partition(key: bytes, partitions: int = PARTITIONS) -> int:
    """The partition the producers' default partitioner picks for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _event_id(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _record(kind: str, topic: str, event: dict[str, Any], rnd: random.Random, p: Profile) -> Event:
    key = event["data"]["order"]["order_id"].encode()
    partition, label = None, ""
    if rnd.random() < p.misrouted_share:
        own = key_partition(key)
        partition = rnd.choice([n for n in range(PARTITIONS) if n != own])
        label = "misrouted"
    headers = (("ce_id", event["id"].encode()),)
    return Event(kind, topic, key, json.dumps(event).encode(), headers, partition, label)


def _poison(run: FaultRun, rnd: random.Random, i: int) -> Event:
    channel = rnd.choice(run.channels)
    topic, key = f"orders.{channel}", f"PX-{i:03d}".encode()
    bad = f.completed(run.sellers[0].id, channel, f.order(key.decode()), event_id=_event_id(rnd))
    del bad["data"]["order"]["lines"][0]["vat_rate"]
    value = rnd.choice([b'{"specversion": "1.0", "data": ', b"\x80\x81 not UTF-8", b"[1, 2]"])
    if rnd.random() < 0.4:
        value = json.dumps(bad).encode()  # schema-invalid: a line without its VAT rate
    return Event("poison", topic, key, value, (("ce_id", f"poison-{i}".encode()),), None)


def _oversized(run: FaultRun, rnd: random.Random) -> Event:
    channel = rnd.choice(run.channels)
    value = json.dumps(
        {"specversion": "1.0", "type": "order.completed", "padding": "x" * OVERSIZED_BYTES}
    ).encode()
    return Event("oversized", f"orders.{channel}", b"PX-oversized", value, (), None)


def plan(seed: int, run: FaultRun, p: Profile) -> Plan:
    """Everything the soak does, from `seed` alone (names carry the run's uid)."""
    rnd = random.Random(seed)
    timed: list[tuple[float, Event]] = []  # (0..1 position in the publishing window, event)
    docs: list[Doc] = []
    labels: Counter = Counter()
    combos = [(s, c) for s in run.sellers for c in run.channels]
    for i in range(p.orders):
        seller, channel = rnd.choice(combos)
        order_id, topic = f"SK-{i:04d}", f"orders.{channel}"
        company = rnd.random() < 0.7
        body = f.order(order_id, company=company)
        sale = _record("sale", topic, f.completed(seller.id, channel, body, _event_id(rnd)), rnd, p)
        at = rnd.random()
        timed.append((at, sale))
        docs.append(Doc(seller.id, channel, order_id, None, seller.provider, seller.account))
        if company and rnd.random() < p.refund_share:
            refund_event = f.refunded(
                seller.id, channel, body, "RF-1", REFUND_LINES, event_id=_event_id(rnd)
            )
            refund = _record("refund", topic, refund_event, rnd, p)
            first = rnd.random() < p.refund_first_share
            labels["refund_first" if first else "refund_after"] += 1
            timed.append((rnd.uniform(0, at) if first else rnd.uniform(at, 1), refund))
            docs.append(Doc(seller.id, channel, order_id, "RF-1", seller.provider, seller.account))
    for at, event in list(timed):
        labels[event.label] += bool(event.label)
        if rnd.random() < p.duplicate_share:
            timed.append((rnd.uniform(at, 1), replace(event, kind="duplicate")))
            labels["duplicates"] += 1
    poison = [_poison(run, rnd, i) for i in range(p.poison)] + [_oversized(run, rnd)]
    timed += [(rnd.random(), e) for e in poison]
    labels["poison"], labels["oversized"] = p.poison, 1
    timed.sort(key=lambda t: t[0])

    # bursts at random moments of the first 80% of the window; each takes the events due by then
    publish_window = p.window * 0.8
    moments = sorted(rnd.uniform(0, publish_window) for _ in range(p.bursts - 1))
    moments.append(publish_window)
    bursts: list[list[Event]] = [[] for _ in moments]
    for at, event in timed:
        bursts[bisect.bisect_left(moments, at * publish_window)].append(event)
    steps = [
        Step(m, "publish", {"n": len(b), "events": b}) for m, b in zip(moments, bursts, strict=True)
    ]
    steps += _faults(rnd, run, p)
    steps.sort(key=lambda s: s.at)
    return Plan(seed, docs, steps, {e.key for e in poison}, labels)


def _faults(rnd: random.Random, run: FaultRun, p: Profile) -> list[Step]:
    def at() -> float:
        return round(rnd.uniform(3, p.window), 1)

    steps = [
        Step(at(), "kill9", {"worker": rnd.choice("ab"), "down": round(rnd.uniform(0.5, 4), 1)})
        for _ in range(p.kills)
    ]
    steps += [
        Step(at(), "sigterm", {"worker": rnd.choice("ab"), "down": round(rnd.uniform(0.5, 3), 1)})
        for _ in range(p.sigterms)
    ]
    steps += [
        Step(
            at(),
            "pg_outage",
            {"sig": rnd.choice(["SIGKILL", "SIGQUIT"]), "down": round(rnd.uniform(2, 8), 1)},
        )
        for _ in range(p.pg_outages)
    ]
    steps += [
        Step(at(), "broker_restart", {"sig": rnd.choice(["SIGTERM", "SIGKILL"])})
        for _ in range(p.broker_restarts)
    ]
    steps += [Step(at(), "provider", _provider_rule(rnd, run)) for _ in range(p.provider_faults)]
    return steps


def _provider_rule(rnd: random.Random, run: FaultRun) -> dict[str, Any]:
    """One fault rule at one seller's account, mostly on creates (the dangerous calls)."""
    seller = rnd.choice(run.sellers)
    times = rnd.randint(1, 4)
    action = rnd.choice(
        ["http_5xx", "throttle", "hang_after_commit", "drop_after_commit", "latency"]
    )
    rule: dict[str, Any] = {"seller": seller.id, "action": action, "times": times}
    if action == "http_5xx":
        rule["status"] = rnd.choice([500, 502, 503])
        rule["lookups_too"] = rnd.random() < 0.3  # the reconciliation itself fails
    elif action == "throttle":  # Fakturownia: 429 + Retry-After; wFirma has no 429: a 503
        rule["retry_after"] = rnd.randint(1, 3)
    elif action == "hang_after_commit":
        rule["seconds"] = round(rnd.uniform(2.5, 5), 1)  # the worker's timeout is 2 s
    elif action == "latency":  # waits, THEN creates: the document appears after the timeout
        rule["delay_ms"] = rnd.randint(1000, 4000)
    return rule


# --- playing a plan ------------------------------------------------------------------------------


async def _send(bootstrap: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=TOPIC_MAX_BYTES
    )
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                e.topic, e.value, key=e.key, headers=list(e.headers), partition=e.partition
            )
    finally:
        await producer.stop()


def create_soak_topics(run: FaultRun) -> None:
    """The channel topics accept records up to TOPIC_MAX_BYTES (the oversized record); their
    dead-letter topics keep the broker default, as an operator who raised only the source
    topic's limit would leave them."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=run.kafka)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(t, PARTITIONS, 1, topic_configs={"max.message.bytes": TOPIC_MAX_BYTES})
                    for t in run.topics
                ]
            )
        finally:
            await admin.close()

    asyncio.run(create())


class Chaos:
    """Plays a plan: publishes, injects faults, supervises two workers (`a`, `b`)."""

    def __init__(
        self, run: FaultRun, pg: PrivatePostgres, broker: PrivateBroker, the_plan: Plan
    ) -> None:
        self.run = run
        self.pg = pg
        self.broker = broker
        self.plan = the_plan
        self.procs: dict[str, subprocess.Popen] = {}
        self.down: set[str] = set()  # slots the timeline took down on purpose
        self.generation: Counter = Counter()
        self.applied: Counter = Counter()
        self.sigterm_stops: list[float] = []
        self.problems: list[str] = []
        self.published = 0
        self.provider_rules = 0
        run.stack.extra_env.update(SOAK_ENV)

    # --- workers -------------------------------------------------------------------------------

    def start(self, slot: str) -> None:
        name = f"worker-{slot}{self.generation[slot]}"
        self.generation[slot] += 1
        self.procs[slot] = self.run.start_worker(name)

    def start_both(self) -> None:
        self.start("a")
        self.start("b")

        def synced() -> bool:
            logs = [self.run.tmp / f"worker-{s}0.log" for s in "ab"]
            found = [SYNCED.findall(p.read_text(errors="replace")) for p in logs if p.exists()]
            return len(found) == 2 and all(found) and found[0][-1] == found[1][-1]

        self.run.wait_for("both workers in the group", synced, timeout=120)

    def supervise(self) -> None:
        """What a supervisor does: start again a worker that exited or crashed by itself."""
        for slot, proc in self.procs.items():
            if slot in self.down or (proc.poll() is None and self.run.crash_of(proc) is None):
                continue
            self.applied["worker_crashes"] += 1
            proc.kill()  # a crashed Faust app may hang while stopping
            proc.wait(10)
            self.start(slot)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.supervise()
            time.sleep(min(0.5, left))

    # --- steps ---------------------------------------------------------------------------------

    def play(self) -> None:
        t0 = time.monotonic()
        for step in self.plan.steps:
            self.sleep(t0 + step.at - time.monotonic())
            getattr(self, f"do_{step.kind}")(**step.args)
        self.supervise()

    def do_publish(self, n: int, events: list[Event]) -> None:
        asyncio.run(_send(self.run.kafka, events))
        self.published += n

    def do_kill9(self, worker: str, down: float) -> None:
        proc = self.procs[worker]
        if proc.poll() is not None:
            return
        self.down.add(worker)
        proc.kill()
        proc.wait(10)
        self.applied["kill9"] += 1
        self.restart_after(worker, down)

    def do_sigterm(self, worker: str, down: float) -> None:
        proc = self.procs[worker]
        if proc.poll() is not None:
            return
        crashed = self.run.crash_of(proc)
        self.down.add(worker)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SIGTERM_BOUND + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        took = time.monotonic() - began
        self.applied["sigterm"] += 1
        self.sigterm_stops.append(took)
        if took > SIGTERM_BOUND:
            state = f" (it had crashed before: {crashed})" if crashed else ""
            self.problems.append(
                f"worker {worker} took {took:.1f}s to stop on SIGTERM (bound "
                f"{SIGTERM_BOUND:.0f}s){state}"
            )
        self.restart_after(worker, down)

    def restart_after(self, worker: str, down: float) -> None:
        self.sleep(down)
        self.down.discard(worker)
        self.start(worker)

    def do_pg_outage(self, sig: str, down: float) -> None:
        if self.pg.signal(signal.Signals[sig]):
            self.applied["pg_kill9" if sig == "SIGKILL" else "pg_immediate"] += 1
        self.sleep(down)
        self.pg.start()

    def do_broker_restart(self, sig: str) -> None:
        self.broker.restart(signal.Signals[sig])
        self.applied[f"broker_{sig.lower()}"] += 1

    def do_provider(self, **rule: Any) -> None:
        seller = next(s for s in self.run.sellers if s.id == rule["seller"])
        action, times = rule["action"], rule["times"]
        if seller.provider == "fakturownia":
            method, path = "POST", r"^/invoices\.json$"
            if rule.get("lookups_too"):
                method = "*"
            kwargs: dict[str, Any] = {"method": method, "path_regex": path, "times": times}
            if action == "throttle":
                fault = FakturowniaFault(
                    action="http_429", retry_after=rule["retry_after"], **kwargs
                )
            else:
                fault = FakturowniaFault(action=action, **kwargs, **_knobs(rule))
            self.run.fakturownia_fault(seller, fault)
        else:
            path = r"^/invoices/(add|find)$" if rule.get("lookups_too") else r"^/invoices/add$"
            kwargs = {"path_regex": path, "times": times}
            if action == "throttle":
                fault = WfirmaFault(action="http_5xx", status=503, **kwargs)
            else:
                fault = WfirmaFault(action=action, **kwargs, **_knobs(rule))
            self.run.wfirma_fault(fault)
        self.provider_rules += 1

    def clear_provider_faults(self) -> None:
        """Rules not used up by the end of the timeline go: the system must be able to settle."""
        for s in self.run.sellers:
            if s.provider == "fakturownia":
                self.run.fakturownia.clear_faults(s.account)
            else:
                self.run.wfirma.clear_faults(s.account)

    # --- settling ------------------------------------------------------------------------------

    def quiet(self) -> bool:
        """Every record consumed and committed, every ledger row final, the outbox drained."""
        rows = self.run.query(
            "SELECT count(*) AS n FROM issuances WHERE state NOT IN "
            "('issued', 'failed', 'skipped', 'unresolved')"
        )
        if rows[0]["n"] or pending_outbox(self.run):
            return False
        offsets = committed_offsets(
            self.run.kafka, self.run.stack.group, self.run.topics, PARTITIONS
        )
        return all((c or 0) >= end for c, end in offsets.values())

    def settle(self, timeout: float) -> float | None:
        """Seconds until quiet (twice in a row), or None if it never was within `timeout`."""
        began = time.monotonic()
        streak = 0
        while time.monotonic() - began < timeout:
            self.supervise()
            try:
                streak = streak + 1 if self.quiet() else 0
            except Exception:  # the database or broker may still be recovering
                streak = 0
            if streak >= 2:
                return time.monotonic() - began
            time.sleep(2)
        return None

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)


def _knobs(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        k: rule[k]
        for k in ("status", "seconds", "delay_ms")
        if k in rule and not (k == "status" and rule["action"] != "http_5xx")
    }


def has_column(run: FaultRun, table: str, column: str) -> bool:
    return bool(
        run.query(
            "SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
            table,
            column,
        )
    )


def pending_outbox(run: FaultRun) -> int:
    """Outbox rows still to publish (a quarantined row, where that exists, is set aside)."""
    aside = " AND quarantined_at IS NULL" if has_column(run, "outbox", "quarantined_at") else ""
    rows = run.query(f"SELECT count(*) AS n FROM outbox WHERE published_at IS NULL{aside}")
    return int(rows[0]["n"])
