"""Machinery shared by the fault tests (issue 5, "Fault tests"; ADRs 0001, 0002, 0006, 0007).

A `FaultRun` is one test's isolated slice of the shared broker plus a fresh PostgreSQL
database: three sellers on both providers (two Fakturownia accounts, one wFirma OAuth login),
two channels each, both simulators served from threads of the test process with every HTTP
request timestamped (`Hit`), and the worker as real `invoice-router worker` subprocesses.

`FaultRun.verify` is the verifier every test ends with. For every expected document (an order's
sales document, or a refund's correction) it asserts: exactly one document at the simulators
(matched by Fakturownia `oid` / wFirma `id_external`), exactly one DISTINCT invoice.issued event
id on the output topic (the same id delivered more than once is fine: at-least-once), that id's
provider document is that document, the ledger row is `issued`, and nothing unexpected was
issued, failed or dead-lettered. It prints one summary line per test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from config.db import sessions_for
from config.secrets import SecretBox
from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from simulators.fakturownia import FaultRule as FakturowniaFault
from simulators.fakturownia.ksef_rules import KsefRule
from simulators.wfirma import (
    FaultRule as WfirmaFault,
)
from simulators.wfirma import (
    SimCompany,
    SimLogin,
    SimOAuthApp,
    SimSeries,
    WfirmaSimulator,
)
from tests import factories as f
from tests.integration.harness import (
    REPO,
    Consumed,
    Stack,
    collect,
    create_topics,
    order_record,
    worker_process,
)
from workers.onboarding import authorization_url, complete_authorization

Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]
REDIRECT = "https://platform.example/wfirma/callback"
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"

# Tuned for fast recovery (the production defaults are minutes, see config/settings.py).
FAST_ENV = {
    # compressed, and as many retries as faults in a CI storm (60, fault 3 on wFirma): the last
    # documents still waiting absorb whatever faults are left, so one may meet nearly all
    "INVOICE_ROUTER_RETRY_SCHEDULE": ",".join(["1s", "1s", "2s", "2s", "3s", "3s"] + ["4s"] * 54),
    "INVOICE_ROUTER_CLAIM_LEASE_SECONDS": "3",
    "INVOICE_ROUTER_CONSUMER_SESSION_TIMEOUT_SECONDS": "6",
    "INVOICE_ROUTER_PROVIDER_TIMEOUT_SECONDS": "2",
    "INVOICE_ROUTER_RETRY_POLL_SECONDS": "0.5",
    # the wFirma simulator runs without request budgets here; so does the client
    "INVOICE_ROUTER_WFIRMA_REQUESTS_PER_15S": "100000",
    "INVOICE_ROUTER_WFIRMA_REQUESTS_PER_MINUTE": "100000",
    "INVOICE_ROUTER_WFIRMA_REQUESTS_PER_HOUR": "1000000",
    # an in-doubt create is created again only after this (the simulators commit within it)
    "INVOICE_ROUTER_WFIRMA_COMMIT_WINDOW_SECONDS": "6",
    "INVOICE_ROUTER_FAKTUROWNIA_COMMIT_WINDOW_SECONDS": "3",
}

CONFIG = """
sellers:
  - id: fa1-{uid}
    name: Auto Części Jeden
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-fa1-{uid}"}}
        options: {{account: "fa1-{uid}"}}
    channels:
      - {{channel: "{ch_a}", connection: main, target: "101", send_by_email: true}}
      - {{channel: "{ch_b}", connection: main, target: "102"}}
  - id: fa2-{uid}
    name: Części Dwa
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-fa2-{uid}"}}
        options: {{account: "fa2-{uid}"}}
    channels:
      - {{channel: "{ch_a}", connection: main, target: "201"}}
      - {{channel: "{ch_b}", connection: main, target: "202", send_by_email: true}}
  - id: wf-{uid}
    name: Kursy Online
    connections:
      - name: wf
        provider: wfirma
        credentials: {{client_id: "cid-{uid}", client_secret: "sec-{uid}"}}
        options: {{company_id: 1001, redirect_uri: "{redirect}", receipts_enabled: true}}
    channels:
      - {{channel: "{ch_a}", connection: wf, target: "77", send_by_email: true}}
      - {{channel: "{ch_b}", connection: wf, target: "78"}}
"""


def long_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--fault-long", default=False)) or os.environ.get(
        "FAULT_LONG", ""
    ).lower() in ("1", "true", "yes")


# --- simulators with a timestamped request log -------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One HTTP request a simulator served: when it arrived and left (monotonic seconds), what
    it was, and every string in its query and JSON body (idempotency keys are among them)."""

    provider: str
    account: str  # Fakturownia: the account prefix; wFirma: the login (one per run)
    start: float
    end: float
    method: str
    path: str
    status: int | None
    strings: frozenset[str]

    @property
    def is_create(self) -> bool:
        if self.provider == "fakturownia":
            return self.method == "POST" and self.path.endswith("/invoices.json")
        return self.path == "/invoices/add"

    @property
    def is_lookup(self) -> bool:
        if self.provider == "fakturownia":
            return self.method == "GET" and self.path.endswith("/invoices.json")
        return self.path == "/invoices/find"


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _strings(query: str, body: bytes) -> frozenset[str]:
    found = {v for _, v in parse_qsl(query, keep_blank_values=True)}
    if body:
        found |= set(_QUOTED.findall(body.decode("utf-8", errors="replace")))
    return frozenset(s for s in found if ":" in s)


class HitLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def all(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)


def _timing(provider: str, log: HitLog, login: str = "") -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.monotonic()
        status: int | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            # read afterwards: the simulators read the body themselves (aiohttp caches it)
            # and treat a body somebody else already consumed as empty
            body = b""
            if not request.path.startswith(("/oauth2", "/__sim")):
                try:
                    body = await request.read()
                except Exception:  # a dropped connection: the keys are in the query, if any
                    body = b""
            log.add(
                Hit(
                    provider,
                    login or request.path.split("/")[1],
                    start,
                    time.monotonic(),
                    request.method,
                    request.path,
                    status,
                    _strings(request.query_string, body),
                )
            )

    return middleware


class TimedFakturownia(FakturowniaSimulator):
    def __init__(self) -> None:
        super().__init__()
        self.hits = HitLog()

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.append(_timing("fakturownia", self.hits))
        return app


class TimedWfirma(WfirmaSimulator):
    def __init__(self, login: str) -> None:
        super().__init__()
        self.hits = HitLog()
        self.login_name = login

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.append(_timing("wfirma", self.hits, self.login_name))
        return app


class ExpectedBug(AssertionError):
    """Raised by the assertion an xfail(strict=True, raises=ExpectedBug) test is about, so a
    failure for any other reason (a broken set-up, a timeout) is not mistaken for the bug."""


# --- sellers, orders and documents -------------------------------------------------------------


@dataclass(frozen=True)
class Seller:
    id: str
    provider: str  # "fakturownia" | "wfirma"
    account: str  # Fakturownia account prefix / wFirma login


@dataclass(frozen=True)
class Doc:
    """One legal document an event must produce: an order's sales document or a correction."""

    seller: str
    channel: str
    order_id: str
    refund_id: str | None
    provider: str
    account: str

    @property
    def key(self) -> str:
        """The idempotency key the provider stores (Fakturownia `oid`, wFirma `id_external`)."""
        base = f"{self.channel}:{self.order_id}"
        return f"{base}:refund:{self.refund_id}" if self.refund_id else base

    @property
    def fact(self) -> tuple[str, str, str, str | None]:
        return (self.seller, self.channel, self.order_id, self.refund_id)


def fact_of(event: dict[str, Any]) -> tuple[str, str, str, str | None]:
    d = event["data"]
    return (d["seller_id"], d["channel"], d["order_id"], d.get("refund_id"))


REFUND_LINES = [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    orders: int
    documents: int
    distinct_issued: int
    duplicate_deliveries: int
    failed: int
    dead_letters: int
    elapsed: float
    counts: dict[str, Any]
    records: list[Consumed] = field(repr=False)

    def line(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.counts.items())
        return (
            f"{self.name}: orders={self.orders}{extra} documents={self.documents} "
            f"distinct_issued={self.distinct_issued} "
            f"duplicate_deliveries={self.duplicate_deliveries} failed={self.failed} "
            f"dead_letters={self.dead_letters} elapsed={self.elapsed:.0f}s"
        )

    def events(self, topic_suffix: str) -> list[Consumed]:
        return [r for r in self.records if r.topic.endswith(topic_suffix)]


class FaultRun:
    def __init__(
        self, *, kafka: str, database_url: str, uid: str, tmp: Path, long: bool, name: str
    ) -> None:
        self.kafka = kafka
        self.database_url = database_url
        self.uid = uid
        self.tmp = tmp
        self.long = long
        self.name = name
        self.rnd = random.Random()
        self.channels = [f"ovoko-{uid}", f"shop-{uid}"]
        self.topics = [f"orders.{c}" for c in self.channels]
        self.sellers = [
            Seller(f"fa1-{uid}", "fakturownia", f"fa1-{uid}"),
            Seller(f"fa2-{uid}", "fakturownia", f"fa2-{uid}"),
            Seller(f"wf-{uid}", "wfirma", f"wf-{uid}"),
        ]
        self.fakturownia = TimedFakturownia()
        self.fakturownia.add_account(
            SimAccount(
                prefix=f"fa1-{uid}",
                api_token=f"tok-fa1-{uid}",
                departments=[
                    SimDepartment(id=101, name="Sklep Ovoko", shortcut="OVO", tax_no=f.VALID_NIP),
                    SimDepartment(id=102, name="Sklep WWW", shortcut="WWW", tax_no=f.VALID_NIP),
                ],
            )
        )
        self.fakturownia.add_account(
            SimAccount(
                prefix=f"fa2-{uid}",
                api_token=f"tok-fa2-{uid}",
                departments=[
                    SimDepartment(id=201, name="Dwa Ovoko", tax_no="7010002137"),
                    SimDepartment(id=202, name="Dwa WWW", tax_no="7010002137"),
                ],
            )
        )
        self.wfirma = TimedWfirma(f"wf-{uid}")
        self.wfirma.add_login(
            SimLogin(
                login=f"wf-{uid}",
                rate_limits=None,
                companies=[
                    SimCompany(
                        id=1001,
                        name="Kursy",
                        nip=f.VALID_NIP,
                        street="Prosta 1",
                        zip="00-001",
                        city="Warszawa",
                        series=[
                            SimSeries(id=77, name="Ovoko", template="OV [numer]/[rok]"),
                            SimSeries(id=78, name="Sklep", template="SK [numer]/[rok]"),
                        ],
                    )
                ],
            )
        )
        self.wfirma.add_oauth_app(
            SimOAuthApp(
                client_id=f"cid-{uid}",
                client_secret=f"sec-{uid}",
                redirect_uri=REDIRECT,
                login=f"wf-{uid}",
            )
        )
        self.workers: list[tuple[str, subprocess.Popen, Path]] = []
        self._exit = ExitStack()
        self.stack: Stack
        self.t0 = time.monotonic()

    # --- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> FaultRun:
        try:
            fk_url = self._exit.enter_context(self.fakturownia.serve_in_thread())
            wf_url = self._exit.enter_context(self.wfirma.serve_in_thread())
            self.stack = Stack(
                self.kafka,
                self.database_url,
                self.uid,
                list(self.channels),
                fk_url,
                partitions=4,
                extra_env={
                    **FAST_ENV,
                    "INVOICE_ROUTER_WFIRMA_API_URL": wf_url,
                    "INVOICE_ROUTER_WFIRMA_AUTH_URL": f"{wf_url}/oauth2/auth",
                    "INVOICE_ROUTER_SECRET_KEYS": SecretBox.new_key(),
                    "PYTHONUNBUFFERED": "1",  # a killed worker's log keeps its last lines
                },
            )
            self.stack.apply_config(
                CONFIG.format(
                    uid=self.uid, ch_a=self.channels[0], ch_b=self.channels[1], redirect=REDIRECT
                )
            )
            self.connect_wfirma()
            create_topics(
                self.kafka,
                [
                    *self.topics,
                    *self.dlq_topics,
                    self.stack.issued_topic,
                    self.stack.failed_topic,
                ],
                self.stack.partitions,
            )
        except BaseException:
            self._exit.close()
            raise
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()  # workers first (entered last), then the simulators

    @property
    def dlq_topics(self) -> list[str]:
        return [f"{t}.dlq" for t in self.topics]

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def seller(self, provider: str, index: int = 0) -> Seller:
        return [s for s in self.sellers if s.provider == provider][index]

    def connect_wfirma(self) -> None:
        """The seller's Generate → consent → callback (also the reconnect after a revoke)."""
        settings = self.stack.settings()
        seller = self.seller("wfirma").id

        async def run() -> None:
            async with sessions_for(self.database_url) as sessions:
                consent = await authorization_url(settings, sessions, seller, "wf")
                async with httpx.AsyncClient() as browser:
                    back = await browser.get(consent, follow_redirects=False)
                params = parse_qs(urlsplit(back.headers["location"]).query)
                await complete_authorization(
                    settings, sessions, params["code"][0], params["state"][0]
                )

        asyncio.run(run())

    # --- workers -----------------------------------------------------------------------------

    def start_worker(self, name: str) -> subprocess.Popen:
        """A real worker process in this run's consumer group; stopped (SIGTERM) at the end."""
        log = self.tmp / f"{name}.log"
        proc = self._exit.enter_context(worker_process(self.stack, log))
        self.workers.append((name, proc, log))
        return proc

    def crash_of(self, proc: subprocess.Popen) -> str | None:
        """The line where Faust reported the app crashed (the process may still be stopping,
        or hang while stopping), if it did."""
        for _, p, log in self.workers:
            if p is proc and log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    if "]: Crashed reason=" in line:
                        return line.strip()
        return None

    def logs(self, chars: int = 2500) -> str:
        parts = []
        for name, proc, log in self.workers:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {name} (pid {proc.pid}, exit {proc.poll()}) ---\n{text[-chars:]}")
        return "\n".join(parts)

    def log_text(self) -> str:
        return "\n".join(
            log.read_text(errors="replace") for _, _, log in self.workers if log.exists()
        )

    # --- input -------------------------------------------------------------------------------

    def orders(
        self,
        n: int,
        prefix: str,
        *,
        sellers: Iterable[Seller] | None = None,
        refund_every: int = 0,
    ) -> tuple[list[Doc], list[Record]]:
        """`n` valid orders spread over sellers x channels (B2B and B2C mixed); every
        `refund_every`-th B2B order is followed by a partial refund (a correction)."""
        combos = [(s, c) for s in (sellers or self.sellers) for c in self.channels]
        docs: list[Doc] = []
        records: list[Record] = []
        for i in range(n):
            seller, channel = combos[i % len(combos)]
            order_id = f"{prefix}-{i:04d}"
            company = i % 3 != 0
            body = f.order(order_id, company=company)
            topic = f"orders.{channel}"
            records.append(order_record(topic, f.completed(seller.id, channel, body)))
            docs.append(Doc(seller.id, channel, order_id, None, seller.provider, seller.account))
            if refund_every and company and i % refund_every == refund_every - 1:
                refund = f.refunded(seller.id, channel, body, "RF-1", REFUND_LINES)
                records.append(order_record(topic, refund))  # same key: after its order
                docs.append(
                    Doc(seller.id, channel, order_id, "RF-1", seller.provider, seller.account)
                )
        return docs, records

    def produce(self, records: list[Record]) -> None:
        asyncio.run(_send_all(self.kafka, records))

    # --- faults ------------------------------------------------------------------------------

    def fakturownia_fault(self, seller: Seller, rule: FakturowniaFault) -> None:
        self.fakturownia.add_fault(seller.account, rule)

    def wfirma_fault(self, rule: WfirmaFault) -> None:
        self.wfirma.add_fault(self.seller("wfirma").account, rule)

    def slow_creates(self, seconds: float) -> None:
        """Every create commits at the provider and answers `seconds` later: the window in
        which only the provider knows about the document (what a kill -9 must survive)."""
        for s in self.sellers:
            if s.provider == "fakturownia":
                self.fakturownia_fault(
                    s,
                    FakturowniaFault(
                        action="hang_after_commit",
                        method="POST",
                        path_regex=r"^/invoices\.json$",
                        seconds=seconds,
                        times=-1,
                    ),
                )
        self.wfirma_fault(
            WfirmaFault(
                action="hang_after_commit", path_regex=r"^/invoices/add$", seconds=seconds, times=-1
            )
        )

    # --- KSeF clearance (issue 11) ----------------------------------------------------------

    def enable_ksef(
        self, *, delay_seconds: float = 2.0, check_gaps: str = "1s", resend_gaps: str = "2s,3s,4s"
    ) -> str:
        """Both Fakturownia accounts send company invoices to KSeF by themselves (auto-send
        `all_companies`, seller departments with the full address KSeF validation needs) and the
        workers watch them on a per-run clearance topic, which is created and returned.

        Call before starting workers: it changes their environment."""
        for s in self.sellers:
            if s.provider != "fakturownia":
                continue
            account = self.fakturownia.account(s.account)
            account.ksef_enabled = True
            account.gov_auto_send_mode = "all_companies"
            account.ksef_delay_seconds = delay_seconds
            account.departments = [
                dataclasses.replace(d, street="ul. Długa 1", post_code="00-001", city="Warszawa")
                for d in account.departments
            ]
            self.fakturownia.add_account(account)  # same prefix: settings replaced, data kept
        topic = f"invoices.clearance.{self.uid}"
        self.stack.extra_env |= {
            "INVOICE_ROUTER_TOPIC_INVOICES_CLEARANCE": topic,
            "INVOICE_ROUTER_CLEARANCE_CHECK_GAPS": check_gaps,
            "INVOICE_ROUTER_CLEARANCE_RESEND_GAPS": resend_gaps,  # also the re-send budget
            "INVOICE_ROUTER_CLEARANCE_POLL_SECONDS": "0.5",
        }
        create_topics(self.kafka, [topic], self.stack.partitions)
        return topic

    def ksef_rule(self, seller: Seller, rule: KsefRule) -> None:
        self.fakturownia.add_ksef_rule(seller.account, rule)

    def ksef_sends(self) -> Counter[str]:
        """Sends to KSeF per document key (Fakturownia `oid`), over both accounts."""
        return Counter(
            str(send.oid)
            for s in self.sellers
            if s.provider == "fakturownia"
            for send in self.fakturownia.ksef_sends(s.account)
        )

    def clearance_rows(self) -> dict[tuple[str, str, str, str | None], dict[str, Any]]:
        rows = self.query(
            "SELECT seller_id, channel, order_id, refund_id, status, provider_status, ksef_number, "
            "errors, announced, checks, resends, next_check_at, lease_owner, lease_until "
            "FROM clearance_checks"
        )
        for r in rows:  # JSON columns arrive as text
            for column in ("errors", "announced"):
                if isinstance(r[column], str):
                    r[column] = json.loads(r[column])
        return {
            (r["seller_id"], r["channel"], r["order_id"], r["refund_id"] or None): r for r in rows
        }

    # --- observation -------------------------------------------------------------------------

    def hits(self) -> list[Hit]:
        return sorted(self.fakturownia.hits.all() + self.wfirma.hits.all(), key=lambda h: h.start)

    def creates_done(self) -> int:
        return sum(1 for h in self.hits() if h.is_create and h.status in (200, 201))

    def documents(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored document at both simulators by its idempotency key."""
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in self.sellers:
            if s.provider == "fakturownia":
                for inv in self.fakturownia.invoices(s.account):
                    by_key[str(inv.get("oid") or "")].append(inv)
            else:
                for inv in self.wfirma.invoices(s.account, 1001):
                    by_key[str(inv.get("id_external") or "")].append(inv)
        return by_key

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        import asyncpg

        async def run() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))
            try:
                return [dict(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def unpublished_outbox(self, within: float = 10.0) -> list[dict[str, Any]]:
        """Outbox rows still unpublished `within` seconds from now. A row written a moment ago
        (e.g. a KSeF clearance event while the tracker is still busy) is not yet a row that was
        never published: a live system is given the time its next flush takes."""
        deadline = time.monotonic() + within
        while True:
            rows = self.query(
                "SELECT id, topic, created_at, quarantined_at, last_error FROM outbox "
                "WHERE published_at IS NULL ORDER BY id"
            )
            if not rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)

    def ledger(self) -> dict[tuple[str, str, str, str | None], dict[str, Any]]:
        rows = self.query(
            "SELECT seller_id, channel, order_id, refund_id, state, park_reason, attempts, "
            "lease_owner FROM issuances"
        )
        return {
            (r["seller_id"], r["channel"], r["order_id"], r["refund_id"] or None): r for r in rows
        }

    def connection_status(self, seller: Seller) -> str:
        rows = self.query("SELECT status FROM provider_connections WHERE seller_id = $1", seller.id)
        return rows[0]["status"]

    def wait_for(
        self, what: str, condition: Callable[[], bool], timeout: float, poll: float = 0.25
    ) -> float:
        """Poll `condition` until it holds; fails with the workers' logs otherwise."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                pytest.fail(
                    f"{self.name}: timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}"
                )
            time.sleep(poll)
        return time.monotonic() - started

    def output(
        self, done: Callable[[list[Consumed]], bool], timeout: float, settle: float = 2.0
    ) -> list[Consumed]:
        return collect(
            self.kafka,
            [self.stack.issued_topic, self.stack.failed_topic, *self.dlq_topics],
            done=done,
            timeout=timeout,
            settle=settle,
        )

    # --- the verifier ------------------------------------------------------------------------

    def verify(
        self,
        expected: list[Doc],
        *,
        counts: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        failed_codes: frozenset[str] = frozenset(),
        dead_letters: int = 0,
        timeout: float = 120.0,
        settle: float = 3.0,
    ) -> Report:
        """Wait until every expected document was reported issued, then check everything.

        `failed_codes`: invoice.failed codes this test expects (any other one is an error);
        `dead_letters`: how many distinct dead-lettered source records the test expects;
        `counts`: the test's own numbers for the summary line (a callable is evaluated once the
        output is complete).
        """
        facts = {d.fact for d in expected}
        seen: set[tuple[str, str, str, str | None]] = set()
        parsed = [0]
        issued_topic = self.stack.issued_topic

        def done(records: list[Consumed]) -> bool:
            for r in records[parsed[0] :]:
                if r.topic == issued_topic:
                    seen.add(fact_of(r.json()))
            parsed[0] = len(records)
            return facts <= seen

        records = self.output(done, timeout=timeout, settle=settle)
        elapsed = self.elapsed
        problems: list[str] = []

        issued = [r for r in records if r.topic == issued_topic]
        failed = [r for r in records if r.topic == self.stack.failed_topic]
        dead = [r for r in records if r.topic.endswith(".dlq")]
        ids: dict[tuple, set[str]] = defaultdict(set)
        doc_ids: dict[tuple, set[str]] = defaultdict(set)
        for r in issued:
            event = r.json()
            ids[fact_of(event)].add(event["id"])
            doc_ids[fact_of(event)].add(str(event["data"]["document"]["provider_document_id"]))
        stored = self.documents()
        ledger = self.ledger()
        by_fact = {d.fact: d for d in expected}

        missing = [d.key for d in expected if not ids.get(d.fact)]
        if missing:
            problems.append(f"{len(missing)} documents never reported issued: {missing[:10]}")
        multi = {d.key: sorted(ids[d.fact]) for d in expected if len(ids.get(d.fact, ())) > 1}
        if multi:
            problems.append(f"{len(multi)} documents with several distinct issued ids: {multi}")
        unexpected = sorted(str(k) for k in set(ids) - set(by_fact))
        if unexpected:
            problems.append(f"invoice.issued for documents nobody ordered: {unexpected[:10]}")
        counted = {d.key: len(stored.get(d.key, [])) for d in expected}
        wrong = {k: n for k, n in counted.items() if n != 1}
        if wrong:
            problems.append(
                f"{len(wrong)} keys without exactly one document: {dict(list(wrong.items())[:10])}"
            )
        strays = sorted(set(stored) - {d.key for d in expected})
        if strays:
            problems.append(f"documents nobody ordered at the simulators: {strays[:10]}")
        mismatched = [
            d.key
            for d in expected
            if counted[d.key] == 1
            and doc_ids.get(d.fact)
            and doc_ids[d.fact] != {str(stored[d.key][0]["id"])}
        ]
        if mismatched:
            problems.append(f"issued events naming another document: {mismatched[:10]}")
        not_issued = {
            d.key: (ledger.get(d.fact) or {}).get("state")
            for d in expected
            if (ledger.get(d.fact) or {}).get("state") != "issued"
        }
        if not_issued:
            problems.append(f"ledger rows not issued: {dict(list(not_issued.items())[:10])}")
        unpublished = self.unpublished_outbox()
        if unpublished:
            problems.append(f"{len(unpublished)} outbox rows never published: {unpublished[:6]}")
        failure_codes = Counter(r.json()["data"]["failure"]["code"] for r in failed)
        stray_failures = {c: n for c, n in failure_codes.items() if c not in failed_codes}
        if stray_failures:
            problems.append(f"unexpected invoice.failed codes: {stray_failures}")
        distinct_dead = {(r.topic, r.headers.get("dlq.source.offset"), r.key) for r in dead}
        if len(distinct_dead) != dead_letters:
            codes = Counter(r.headers.get("dlq.error.code") for r in dead)
            problems.append(
                f"{len(distinct_dead)} dead-lettered records, expected {dead_letters}: {codes}"
            )

        distinct = sum(len(ids.get(d.fact, ())) for d in expected)
        report = Report(
            name=self.name,
            orders=len({(d.seller, d.channel, d.order_id) for d in expected}),
            documents=sum(counted.values()),
            distinct_issued=distinct,
            duplicate_deliveries=len(issued) - len({json.loads(r.value)["id"] for r in issued}),
            failed=len(failed),
            dead_letters=len(distinct_dead),
            elapsed=elapsed,
            counts=dict((counts() if callable(counts) else counts) or {}),
            records=records,
        )
        print(f"\n{report.line()}", flush=True)
        assert not problems, "\n".join(problems) + "\n" + self.logs()
        return report


async def _send_all(bootstrap: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


class Trickle(threading.Thread):
    """Produces records from a thread in chunks at a steady pace, while the test's main thread
    kills and restarts workers: kills then land during consumption *and* production."""

    def __init__(self, bootstrap: str, records: list[Record], chunk: int, interval: float):
        super().__init__(daemon=True, name="trickle")
        self.bootstrap = bootstrap
        self.records = records
        self.chunk = max(1, chunk)
        self.interval = interval
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # re-raised by finish()
            self.error = exc

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(0, len(self.records), self.chunk):
                for topic, key, value, headers in self.records[i : i + self.chunk]:
                    await producer.send_and_wait(topic, value, key=key, headers=headers)
                    self.sent += 1
                await asyncio.sleep(self.interval)
        finally:
            await producer.stop()

    def finish(self, timeout: float = 120.0) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the background producer did not finish"
        if self.error is not None:
            raise self.error


# --- the local broker (test 4) -----------------------------------------------------------------


def _kafka_local(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KAFKA_LOCAL), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def require_local_broker(bootstrap: str) -> None:
    """Restarting is only allowed for the broker `scripts/kafka-local` started."""
    port = os.environ.get("KAFKA_PORT", "19092")
    ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if bootstrap.strip() not in ours:
        pytest.fail(
            f"this test restarts the broker with scripts/kafka-local, but KAFKA_BOOTSTRAP_SERVERS="
            f"{bootstrap!r} is not that script's broker (127.0.0.1:{port}); run it against "
            "`scripts/kafka-local start` (export what it prints) or deselect it",
            pytrace=False,
        )
    status = _kafka_local("status", timeout=60)
    if status.returncode != 0:
        pytest.fail(
            f"the broker at {bootstrap} was not started by scripts/kafka-local "
            f"(`scripts/kafka-local status`: {status.stdout.strip()} {status.stderr.strip()}); "
            "this test will not restart a broker it does not own",
            pytrace=False,
        )


def restart_local_broker() -> tuple[float, float]:
    """`scripts/kafka-local restart`; returns when (monotonic) it began and ended."""
    started = time.monotonic()
    done = _kafka_local("restart")
    if done.returncode != 0:
        ensure_local_broker()
        pytest.fail(
            f"`scripts/kafka-local restart` failed ({done.returncode}):\n{done.stderr[-3000:]}",
            pytrace=False,
        )
    return started, time.monotonic()


def ensure_local_broker() -> None:
    """Leave the broker up for the tests that follow, whatever happened."""
    if _kafka_local("status", timeout=60).returncode != 0:
        done = _kafka_local("start")
        assert done.returncode == 0, f"could not start the broker again:\n{done.stderr[-3000:]}"


@contextmanager
def broker_restored() -> Iterator[None]:
    try:
        yield
    finally:
        ensure_local_broker()
