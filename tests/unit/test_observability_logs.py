"""Structured logs: JSON lines with correlation fields, secrets and e-mails never written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters import observe
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger
from tests import factories as f
from workers import logs
from workers.issuance import Job
from workers.publisher import Topics
from workers.records import Outcome, RawRecord, Skipped
from workers.router import OrderRouter

SECRETS = ("tok-123-secret", "cs-456-secret", "rt-789-secret", "pw-000-secret", "ak-111-secret")


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the JSON formatter into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_level_logger_message_and_the_record_context(json_log) -> None:
    logger, out = json_log
    with logs.correlate(topic="orders.ovoko", partition=3, offset=41):
        logs.bind(event_id="ev-1", seller_id="s1", channel="ovoko", order_id="A-1", refund_id="")
        logger.info("issued %s", "FV 1/11/2026")
    logger.warning("outside")

    inside, outside = lines(out)
    assert inside["message"] == "issued FV 1/11/2026"
    assert (inside["level"], inside["logger"]) == ("INFO", "tests.observability")
    assert inside["time"].endswith("+00:00")
    assert {k: inside[k] for k in ("topic", "partition", "offset", "event_id", "order_id")} == {
        "topic": "orders.ovoko",
        "partition": 3,
        "offset": 41,
        "event_id": "ev-1",
        "order_id": "A-1",
    }
    assert (inside["seller_id"], inside["channel"]) == ("s1", "ovoko")
    assert "refund_id" not in inside  # empty values are left out
    assert "event_id" not in outside and "topic" not in outside  # the block ended


def _answered(url: str, status: int = 201) -> httpx.Response:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"X-Request-Id": "req-77"}, json={})

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await client.post(url)

    return asyncio.run(call())


def test_provider_call_fields_join_the_context_and_end_with_the_record(json_log) -> None:
    logger, out = json_log
    response = _answered("https://acme.fakturownia.pl/invoices.json?api_token=tok-123-secret")
    with logs.correlate(event_id="ev-2"):
        observe.answered("fakturownia", "/invoices.json", response)
        logger.info("after the call")
    with logs.correlate(event_id="ev-3"):
        logger.info("next record")

    after, following = lines(out)
    assert after["provider"] == "fakturownia"
    assert (after["provider_method"], after["provider_path"]) == ("POST", "/invoices.json")
    assert (after["provider_status"], after["provider_request_id"]) == (201, "req-77")
    assert following["event_id"] == "ev-3" and "provider_path" not in following
    assert "tok-123-secret" not in out.getvalue()


def test_secrets_and_emails_are_redacted_in_messages_arguments_and_tracebacks(json_log) -> None:
    logger, out = json_log
    logger.info("GET https://acme.fakturownia.pl/invoices.json?api_token=tok-123-secret&page=1")
    logger.info("form %s", {"client_secret": "cs-456-secret", "refresh_token": "rt-789-secret"})
    logger.info("headers Authorization: Bearer tok-123-secret, accessKey=ak-111-secret")
    logger.info("db postgresql://invoice_router:pw-000-secret@db:5432/ir")
    logger.info("buyer jan.kowalski+shop@example.com asked for an invoice")
    logger.info("[SQL: INSERT ...]\n[parameters: ('s1', b'{\"buyer\": \"Jan Kowalski\"}')]\n(ok)")
    try:
        raise RuntimeError("token endpoint said refresh_token=rt-789-secret is spent")
    except RuntimeError:
        logger.exception("refresh failed")

    text = out.getvalue()
    assert not [s for s in SECRETS if s in text], text
    assert "jan.kowalski" not in text and "[email]" in text
    assert "Kowalski" not in text and "[parameters: [REDACTED]]" in text
    records = lines(out)
    assert records[0]["message"].endswith("api_token=[REDACTED]&page=1")
    assert "postgresql://invoice_router:[REDACTED]@db:5432/ir" in records[3]["message"]
    assert "Traceback" in records[-1]["exc_info"]


def test_text_lines_append_the_context_and_are_redacted_too() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.TextFormatter())
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "secret=%s", ("cs-456-secret",), None
    )
    with logs.correlate(event_id="ev-4", channel="shop"):
        handler.emit(record)
    line = out.getvalue().strip()
    assert line.endswith("x: secret=[REDACTED] | event_id=ev-4 channel=shop")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`configure` changes process-wide logging: put it back afterwards."""
    names = ("", "httpx", "httpcore", "aiokafka", "faust")  # "" is the root logger
    loggers = map(logging.getLogger, names)
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
    logging.captureWarnings(False)


def test_worker_configuration_selects_the_formatter_and_silences_httpx_urls(
    capsys, restored_logging
) -> None:
    config = logs.configure("json", "info")
    logging.getLogger("httpx").info("HTTP Request: GET https://x/?api_token=tok-123-secret")
    logging.getLogger("tests.worker_config").info("worker line")
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["message"] for line in printed] == ["worker line"]
    assert config["formatters"]["default"]["()"] is logs.JsonFormatter
    assert logs.logging_config("text", "info")["formatters"]["default"]["()"] is logs.TextFormatter


def test_at_debug_the_kafka_client_and_faust_stay_at_info_unless_asked(
    capsys, restored_logging
) -> None:
    """Their debug lines carry whole consumed records: a buyer's NIP and address."""
    logs.configure("text", "debug")
    logging.getLogger("aiokafka.consumer.fetcher").debug("record value=%s", "NIP 5252445767")
    logging.getLogger("faust.transport.consumer").debug("event %s", "Wiejska 4/6/8")
    logging.getLogger("faust.worker").info("faust info line")
    logging.getLogger("workers.router").debug("worker debug line")
    printed = capsys.readouterr().out
    assert "5252445767" not in printed and "Wiejska" not in printed
    assert "faust info line" in printed and "worker debug line" in printed

    logs.configure("text", "debug", client_debug=True)  # INVOICE_ROUTER_LOG_KAFKA_CLIENT_DEBUG
    assert logging.getLogger("aiokafka.consumer").isEnabledFor(logging.DEBUG)
    logs.configure("json", "warning")  # never louder than the worker's own level
    assert not logging.getLogger("faust.worker").isEnabledFor(logging.INFO)
    logs.configure("text", "info")
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)


class _LoggingIssuance:
    """Stands in for the issuance service: logs one line while the record is processed."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    async def process(self, job: Job) -> Outcome:
        self.logger.info("processing")
        return Skipped(job.event.data.seller_id, job.event.data.channel, "x", "test")


async def test_the_router_tags_lines_of_one_record_with_its_event(json_log, tmp_path: Path):
    logger, out = json_log
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    engine = create_engine(url)
    try:
        ledger = Ledger(session_factory(engine))
        router = OrderRouter(ledger, _LoggingIssuance(logger), Topics("i", "f", "g"))
        body = f.completed("seller-9", "ovoko", f.order("ORD-9"))
        value = json.dumps(body).encode()
        outside = logs.correlation()  # whatever earlier tests left in this shared context
        await router.route(RawRecord("orders.ovoko", 2, 17, b"ORD-9", value, []))
    finally:
        await engine.dispose()
    (line,) = lines(out)
    assert line["event_id"] == body["id"]
    assert (line["seller_id"], line["channel"], line["order_id"]) == ("seller-9", "ovoko", "ORD-9")
    assert (line["topic"], line["partition"], line["offset"]) == ("orders.ovoko", 2, 17)
    assert logs.correlation() == outside  # nothing of the record outlives it
