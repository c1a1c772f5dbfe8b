"""The seeds' settings flows in a real browser: Ovoko's (Fakturownia: token + account link,
verified; a department per channel; auto-generate per channel), the switch-provider warning, and
Publigo's (wFirma: client id and secret, Generate, consent, back with the code, a series)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from config.db import create_engine, session_factory
from config.models import Issuance
from tests import factories as f
from tests.browser.conftest import Console, in_thread, screenshot, sign_in
from tests.integration.harness import collect, order_record, produce
from tests.integration.test_http_api import API_TOKEN, REDIRECT

pytestmark = pytest.mark.integration


def ledger_states(database_url: str, seller: str) -> dict[str, str]:
    """order id -> ledger state of the seller's sales documents."""

    async def read() -> dict[str, str]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                rows = (
                    await session.execute(
                        select(Issuance.order_id, Issuance.state).where(
                            Issuance.seller_id == seller
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
        return dict(rows)

    return asyncio.run(read())


def wait_for_states(database_url: str, seller: str, want: dict[str, str]) -> dict[str, str]:
    deadline = time.monotonic() + 90
    while True:
        states = ledger_states(database_url, seller)
        if all(states.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def open_seller(page: Any, console: Console, provider: str) -> None:
    page.goto(f"{console.base}/sellers")
    page.get_by_label("Open or add a seller (id)").fill(console.seller)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("link", name=f"{provider} integration").click()


def map_channel(page: Any, channel: str, target: str, *, auto: bool = True) -> None:
    form = page.locator(f"#channel-{channel}")
    form.locator("select[name=target]").select_option(target)
    form.get_by_label("Automatically generate invoices").set_checked(auto)
    form.get_by_role("button", name="Save").click()
    page.get_by_text("Channel saved").wait_for()


def connect_fakturownia(page: Any, console: Console, token: str) -> None:
    form = page.locator("#fakturownia-form")
    form.get_by_label("Account link").fill(f"https://acme-{console.uid}.fakturownia.pl")
    form.get_by_label("API token").fill(token)
    form.get_by_role("button", name="Connect and verify").click()


def test_ovoko_flow_fakturownia_departments_and_auto_generate(page: Any, console: Console) -> None:
    uid, seller = console.uid, console.seller
    ovoko, allegro = console.channel("ovoko"), console.channel("allegro")
    sign_in(page, console)
    open_seller(page, console, "Fakturownia")
    page.get_by_label("Seller's name").fill("Auto Części")

    connect_fakturownia(page, console, "not-the-token")
    error = page.locator("#fakturownia-api_token-error")
    error.wait_for()
    assert page.get_by_label("API token").get_attribute("aria-describedby") == error.get_attribute(
        "id"
    )
    assert "not-the-token" not in page.content()  # a refused secret is not shown back
    assert page.locator("#fakturownia-account-error").count() == 0

    connect_fakturownia(page, console, f"tok-a-{uid}")
    page.get_by_text("Connected and verified.").wait_for()
    assert page.locator("#connection-fakturownia .state").inner_text() == "ok"
    # the departments come live from the account
    options = page.locator(f"#channel-{ovoko} select[name=target] option").all_inner_texts()
    assert "Sklep Ovoko (OVO)" in options and "Sklep Allegro (ALG)" in options
    map_channel(page, ovoko, "101")
    map_channel(page, allegro, "102", auto=False)
    assert page.locator(f"#channel-{allegro}-auto_generate").is_checked() is False
    assert page.locator(f"#channel-{ovoko}-target").input_value() == "101"
    screenshot(page, "settings")
    assert API_TOKEN not in page.content() and f"tok-a-{uid}" not in page.content()

    in_thread(
        produce,
        console.stack.bootstrap,
        [
            order_record(f"orders.{ovoko}", f.completed(seller, ovoko, f.order("OV-1"))),
            order_record(f"orders.{allegro}", f.completed(seller, allegro, f.order("AL-1"))),
        ],
    )
    issued = in_thread(
        collect,
        console.stack.bootstrap,
        [console.stack.issued_topic],
        done=lambda rs: len(rs) >= 1,
        timeout=90,
    )
    states = in_thread(
        wait_for_states, console.stack.database_url, seller, {"OV-1": "issued", "AL-1": "skipped"}
    )
    assert states == {"OV-1": "issued", "AL-1": "skipped"}, states
    assert [r.json()["data"]["order_id"] for r in issued] == ["OV-1"]

    page.goto(f"{console.base}/orders?order_id=OV-1")
    assert "issued" in page.locator("main section").first.inner_text()
    page.goto(f"{console.base}/sellers")
    row = page.locator("tr", has=page.get_by_role("rowheader", name=ovoko))
    assert row.locator("td").nth(2).inner_text() == "1"  # issued in the last hour
    screenshot(page, "sellers")


def test_switching_provider_is_refused_until_confirmed(page: Any, console: Console) -> None:
    uid = console.uid
    sign_in(page, console)
    open_seller(page, console, "Fakturownia")
    connect_fakturownia(page, console, f"tok-a-{uid}")
    page.get_by_text("Connected and verified.").wait_for()
    map_channel(page, console.channel("ovoko"), "101")

    page.get_by_role("link", name="wFirma integration").click()
    warning = page.locator("#switch-warning")
    assert "permanently deleted" in warning.inner_text()
    assert "connection fakturownia (fakturownia)" in warning.inner_text()
    assert f"channel {console.channel('ovoko')}" in warning.inner_text()
    form = page.locator("#wfirma-form")
    form.get_by_label("Client id").fill(f"cid-{uid}")
    form.get_by_label("Client secret").fill(f"wf-client-secret-{uid}")
    form.get_by_label("Redirect URI registered in wFirma").fill(REDIRECT)
    form.get_by_role("button", name="Generate").click()
    page.locator("#wfirma-confirm_switch-error").wait_for()
    screenshot(page, "switch-warning")
    # nothing changed: still Fakturownia, still mapped
    page.goto(f"{console.base}/sellers/{console.seller}")
    assert page.locator("#connection-fakturownia").count() == 1
    assert page.locator(f"#channel-{console.channel('ovoko')}-target").input_value() == "101"

    page.get_by_role("link", name="wFirma integration").click()
    form = page.locator("#wfirma-form")
    form.get_by_label("Client id").fill(f"cid-{uid}")
    form.get_by_label("Client secret").fill(f"wf-client-secret-{uid}")
    form.get_by_label("Redirect URI registered in wFirma").fill(REDIRECT)
    form.get_by_label("Yes, delete my current invoice settings and switch").check()
    form.get_by_role("button", name="Generate").click()
    page.get_by_text("wFirma authorized the connection.").wait_for()
    assert page.locator("#connection-fakturownia").count() == 0
    assert page.locator("#connection-wfirma .state").inner_text() == "ok"


def test_publigo_flow_wfirma_generate_consent_series(page: Any, console: Console) -> None:
    uid, seller, shop = console.uid, console.seller, console.channel("shop")
    sign_in(page, console)
    open_seller(page, console, "wFirma")
    form = page.locator("#wfirma-form")
    form.get_by_label("Seller's name").fill("Kursy Online")
    form.get_by_label("Client id").fill(f"cid-{uid}")
    form.get_by_label("Client secret").fill(f"wf-client-secret-{uid}")
    form.get_by_label("Redirect URI registered in wFirma").fill(REDIRECT)
    form.get_by_label("E-mail documents to buyers automatically").check()
    form.get_by_role("button", name="Generate").click()  # -> consent -> back with the code
    page.get_by_text("wFirma authorized the connection.").wait_for()
    assert page.locator("#connection-wfirma .state").inner_text() == "ok"
    assert f"wf-client-secret-{uid}" not in page.content()

    options = page.locator(f"#channel-{shop} select[name=target] option").all_inner_texts()
    assert "Sklep" in options
    map_channel(page, shop, "5")
    screenshot(page, "settings-wfirma")

    in_thread(
        produce,
        console.stack.bootstrap,
        [order_record(f"orders.{shop}", f.completed(seller, shop, f.order("SH-1", company=True)))],
    )
    issued = in_thread(
        collect, console.stack.bootstrap, [console.stack.issued_topic], done=lambda rs: len(rs) >= 1
    )
    assert [r.json()["data"]["document"]["provider"] for r in issued] == ["wfirma"]
