"""Issue 13 through Kafka on both providers: the VAT treatment is decided before the provider
call (VIES over HTTP against its simulator) and printed with each provider's own fields.

One seller registered for intra-EU trade and OSS; its orders: a German company with an active
VAT id (WDT at 0 %), the same with an Austrian id while Austria's registry is down (parks, then
issued once VIES answers), a Swiss buyer (export), a French consumer (French VAT through OSS),
a used part under the margin scheme, 16,000 PLN of car parts (split payment), an EUR order
(the NBP rate of the previous business day) and a partial refund of the WDT invoice (a WDT
correction).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from stdnum.eu import vat as eu_vat

from config.db import sessions_for
from config.models import Issuance
from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from simulators.vies import ViesSimulator
from simulators.vies.models import KnownNumber
from simulators.wfirma import SimApiKey, SimCompany, SimLogin, SimSeries, WfirmaSimulator
from tests import factories as f
from tests.integration.harness import (
    Consumed,
    Stack,
    collect,
    create_topics,
    order_record,
    produce,
    worker_process,
)

pytestmark = pytest.mark.integration
SELLER_NIP = "5252445767"
APP_KEY = "app-key-vat"
CONNECTIONS = {
    "fakturownia": """
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-{uid}"}}
        options: {{account: "vat-{uid}"}}""",
    "wfirma": """
      - name: main
        provider: wfirma
        credentials: {{access_key: "ak-{uid}", secret_key: "sk-{uid}"}}
        options: {{company_id: 1001}}""",
}
CONFIG = """
sellers:
  - id: seller-{uid}
    name: Auto Części Używane
    tax: {{intra_eu_registered: true, oss_registered: true}}
    connections:{connection}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "{target}"}}
"""


def vat_id(country: str, digits: int, seed: str, prefix: str = "") -> str:
    """A VAT id with a valid check digit, new per test run: VIES answers are cached per day."""
    rnd = random.Random(seed)
    while True:
        candidate = country + prefix + "".join(rnd.choice("0123456789") for _ in range(digits))
        try:
            return str(eu_vat.validate(candidate))
        except Exception:
            continue


def company_abroad(order: dict[str, Any], country: str, tax_id: str) -> dict[str, Any]:
    order["buyer"] |= {"is_company": True, "company_name": "Autoteile GmbH", "tax_id": tax_id}
    order["buyer"]["address"] = {
        "street": "Hauptstr. 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": country,
    }
    return order


def consumer_abroad(order: dict[str, Any], country: str) -> dict[str, Any]:
    order["buyer"]["address"] = {
        "street": "1 rue de la Paix",
        "postal_code": "75002",
        "city": "Paris" if country == "FR" else "Zürich",
        "country": country,
    }
    return order


def line(line_id: str, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": f"SKU-{line_id}",
        "name": f"Część {line_id}",
        "quantity": "1",
        "unit": "szt",
        "unit_price_gross": price,
        "vat_rate": "23",
        **extra,
    }


def orders(de_id: str, at_id: str) -> dict[str, dict[str, Any]]:
    eur = f.order("EUR-1", currency="EUR", lines=[line("E1", "100.00")], shipping={})
    eur["placed_at"] = eur["payment"]["paid_at"] = "2025-09-22T10:00:00+02:00"  # a Monday
    return {
        "WDT-1": company_abroad(f.order("WDT-1"), "DE", de_id),
        "WDT-AT": company_abroad(f.order("WDT-AT"), "AT", at_id),
        "EXP-1": consumer_abroad(f.order("EXP-1"), "CH"),
        "OSS-1": consumer_abroad(f.order("OSS-1"), "FR"),
        "MRG-1": f.order("MRG-1", lines=[line("M1", "800.00", scheme="margin")], shipping={}),
        "MPP-1": f.order(
            "MPP-1",
            company=True,
            lines=[line("P1", "16000.00", split_payment_goods=True)],
            shipping={},
        ),
        "EUR-1": eur,
    }


@pytest.fixture
def vies(uid: str) -> Iterator[tuple[ViesSimulator, str, str, str]]:
    de_id, at_id = vat_id("DE", 9, f"de-{uid}"), vat_id("AT", 8, f"at-{uid}", "U")
    sim = ViesSimulator([KnownNumber(de_id, name="Autoteile GmbH"), KnownNumber(at_id)])
    sim.set_available("AT", False)  # Austria's registry is down until the test says otherwise
    with sim.serve_in_thread() as base:
        yield sim, base, de_id, at_id


@pytest.fixture
def provider_sim(request: pytest.FixtureRequest, uid: str) -> Iterator[tuple[str, Any, dict]]:
    """(provider, simulator, settings the worker needs to reach it)."""
    name = request.param
    if name == "fakturownia":
        sim: Any = FakturowniaSimulator()
        sim.add_account(
            SimAccount(
                prefix=f"vat-{uid}",
                api_token=f"tok-{uid}",
                departments=[SimDepartment(id=101, name="Auto Części", tax_no=SELLER_NIP)],
            )
        )
        with sim.serve_in_thread() as base:
            yield name, sim, {"INVOICE_ROUTER_FAKTUROWNIA_URL_TEMPLATE": f"{base}/{{prefix}}"}
        return
    sim = WfirmaSimulator()
    sim.add_login(
        SimLogin(
            login="vat",
            companies=[
                SimCompany(
                    id=1001,
                    name="Auto Części",
                    nip=SELLER_NIP,
                    series=[SimSeries(id=77, name="Sklep", template="SK [numer]/[rok]")],
                )
            ],
            api_keys=[SimApiKey(f"ak-{uid}", f"sk-{uid}", APP_KEY)],
            rate_limits=None,
        )
    )
    with sim.serve_in_thread() as base:
        yield (
            name,
            sim,
            {"INVOICE_ROUTER_WFIRMA_API_URL": base, "INVOICE_ROUTER_WFIRMA_APP_KEY": APP_KEY},
        )


def stored_documents(provider: str, sim: Any, uid: str) -> dict[str, dict[str, Any]]:
    if provider == "fakturownia":
        return {d["oid"]: d for d in sim.invoices(f"vat-{uid}")}
    return {d["id_external"]: d for d in sim.invoices("vat", 1001)}


def ledger_row(url: str, seller: str, order_id: str) -> tuple[str, str | None, int]:
    """The order's ledger state while parked (read again if caught in a retry's claim)."""

    async def read() -> tuple[str, str | None, int]:
        async with sessions_for(url) as sessions:
            for _ in range(20):
                async with sessions() as session:
                    row = await session.scalar(
                        select(Issuance).where(
                            Issuance.seller_id == seller, Issuance.order_id == order_id
                        )
                    )
                if row is not None and row.state == "parked":
                    break
                await asyncio.sleep(0.1)
            assert row is not None
            return row.state, row.park_reason, row.attempts

    return asyncio.run(read())


def line_codes(record: dict[str, Any]) -> set[str]:
    return {row["invoicecontent"]["vat"] for row in record["invoicecontents"].values()}


def documents(records: list[Consumed]) -> dict[tuple[str, str | None], dict[str, Any]]:
    out = {}
    for r in records:
        event = r.json()
        if event["type"] == "invoice.issued":
            data = event["data"]
            out[(data["order_id"], data.get("refund_id"))] = data["document"]
    return out


@pytest.mark.parametrize("provider_sim", ["fakturownia", "wfirma"], indirect=True)
def test_each_treatment_is_decided_and_printed_by_the_provider(
    kafka_bootstrap: str, postgres_url: str, uid: str, tmp_path: Path, vies, provider_sim
) -> None:
    vies_sim, vies_base, de_id, at_id = vies
    provider, sim, provider_env = provider_sim
    channel, seller = f"ovoko-{uid}", f"seller-{uid}"
    topic = f"orders.{channel}"
    stack = Stack(
        kafka_bootstrap,
        postgres_url,
        uid,
        [channel],
        extra_env={
            **provider_env,
            "INVOICE_ROUTER_VIES_URL": vies_base,
            "INVOICE_ROUTER_RETRY_SCHEDULE": "1s,1s,1s",
            "INVOICE_ROUTER_RETRY_POLL_SECONDS": "0.5",
        },
    )
    target = "101" if provider == "fakturownia" else "77"
    stack.apply_config(
        CONFIG.format(uid=uid, target=target, connection=CONNECTIONS[provider].format(uid=uid))
    )
    create_topics(
        kafka_bootstrap,
        [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic],
        stack.partitions,
    )
    sales = orders(de_id, at_id)
    produce(
        kafka_bootstrap,
        [order_record(topic, f.completed(seller, channel, o)) for o in sales.values()],
    )
    refund = f.refunded(
        seller,
        channel,
        sales["WDT-1"],
        "R1",
        [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}],
    )
    topics = [stack.issued_topic, stack.failed_topic]
    with worker_process(stack, tmp_path / "worker.log"):
        first = collect(
            kafka_bootstrap,
            topics,
            timeout=90,
            settle=3,
            done=lambda rs: len(documents(rs)) >= len(sales) - 1,
        )
        parked = documents(first)
        waiting = ledger_row(stack.database_url, seller, "WDT-AT")
        produce(kafka_bootstrap, [order_record(topic, refund)])
        vies_sim.set_available("AT", True)  # VIES answers again: the parked order goes through
        out = collect(
            kafka_bootstrap,
            topics,
            timeout=90,
            done=lambda rs: len(documents(rs)) >= len(sales) + 1,
        )
    log = (tmp_path / "worker.log").read_text(errors="replace")[-6000:]
    assert ("WDT-AT", None) not in parked, log  # waited for VIES, did not guess
    assert waiting == ("parked", "vies_unavailable", 0), log  # no retry spent on VIES's outage
    assert not [r.json() for r in out if r.topic == stack.failed_topic], log
    docs = documents(out)
    assert set(docs) == {(o, None) for o in sales} | {("WDT-1", "R1")}, log
    treatment = {
        k[0] if k[1] is None else f"{k[0]}/{k[1]}": d["vat_treatment"] for k, d in docs.items()
    }
    assert treatment == {
        "WDT-1": "intra_eu_supply",
        "WDT-AT": "intra_eu_supply",
        "EXP-1": "export",
        "OSS-1": "eu_distance_sale",
        "MRG-1": "margin_used_goods",
        "MPP-1": "domestic",
        "EUR-1": "domestic",
        "WDT-1/R1": "intra_eu_supply",
    }
    wdt = docs[("WDT-1", None)]
    assert wdt["vies"]["vat_id"] == de_id and wdt["vies"]["valid"] is True
    assert [(r["rate"], r["vat"]) for r in wdt["rate_totals"]] == [("0", "0.00")]
    assert wdt["notes"], "the connector's 23 % was overridden: the event says so"
    assert docs[("WDT-AT", None)]["vies"]["vat_id"] == at_id
    assert [r["rate"] for r in docs[("EXP-1", None)]["rate_totals"]] == ["0"]
    assert [r["rate"] for r in docs[("OSS-1", None)]["rate_totals"]] == ["oss:20"]
    assert docs[("MRG-1", None)]["totals"]["vat"] == "0.00"
    assert docs[("MPP-1", None)]["split_payment"] is True
    exchange = docs[("EUR-1", None)]["exchange"]
    assert (exchange["rate"], exchange["date"]) == ("4.2666", "2025-09-19")
    vat = Decimal(docs[("EUR-1", None)]["totals"]["vat"])
    assert exchange["vat_pln"] == str((vat * Decimal("4.2666")).quantize(Decimal("0.01")))
    correction = docs[("WDT-1", "R1")]
    assert correction["kind"] == "correction"
    assert [(r["rate"], r["vat"]) for r in correction["rate_totals"]] == [("0", "0.00")]

    stored = stored_documents(provider, sim, uid)
    key = f"{channel}:"
    if provider == "fakturownia":
        assert stored[key + "WDT-1"]["kind"] == "wdt"
        assert stored[key + "WDT-1"]["buyer_tax_no"] == de_id
        assert stored[key + "EXP-1"]["kind"] == "export_products"
        assert stored[key + "OSS-1"]["use_oss"] is True
        assert stored[key + "MRG-1"]["kind"] == "vat_margin"
        assert stored[key + "MPP-1"]["split_payment"] is True
        assert {p["tax"] for p in stored[key + "WDT-1:refund:R1"]["positions"]} == {"0"}
    else:
        codes = {k: line_codes(v) for k, v in stored.items()}
        assert codes[key + "WDT-1"] == codes[key + "WDT-1:refund:R1"] == {"WDT"}
        assert stored[key + "WDT-1"]["contractor_detail"]["nip"] == de_id
        assert codes[key + "EXP-1"] == {"EXP"}
        assert stored[key + "MRG-1"]["type"] == "margin"
        assert stored[key + "MPP-1"]["schema"] == "split_payment"
        assert stored[key + "OSS-1"]["vat_moss_details"]["vat_moss_detail"]["type"] == "BA"
        assert stored[key + "EUR-1"]["currency_label"] == "182/A/NBP/2025"
