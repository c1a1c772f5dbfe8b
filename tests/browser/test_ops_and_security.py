"""Ops and sign-in in a real browser: a dead letter found, read, dry-run and replayed (audited);
sign-out, an expired session and a form without its CSRF token refused; the Polish pages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    Console,
    chromium,
    in_thread,
    screenshot,
    sign_in,
    stack_env,
)
from tests.integration.harness import collect, produce
from tests.integration.test_http_api import API_TOKEN, api_server

pytestmark = pytest.mark.integration


def test_dead_letter_listed_explained_dry_run_then_replayed(page: Any, console: Console) -> None:
    ovoko = console.channel("ovoko")
    source, dlq = f"orders.{ovoko}", f"orders.{ovoko}.dlq"
    in_thread(produce, console.stack.bootstrap, [(source, b"BROKEN-1", b"{not json", [])])
    in_thread(collect, console.stack.bootstrap, [dlq], done=lambda rs: len(rs) >= 1, timeout=90)

    sign_in(page, console, operator="Anna Ops")
    page.get_by_role("link", name="Dead letters").click()
    page.get_by_label("Topic").fill(dlq)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#dead-letters tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert "BROKEN-1" in rows.first.inner_text()
    screenshot(page, "dead-letters")

    rows.first.get_by_role("link").click()
    reason = page.locator("#reason").inner_text()
    assert reason and reason != "-"
    assert "{not json" in page.locator("#value").inner_text()
    assert "dlq.reason" in page.content()  # the decoded headers
    screenshot(page, "dead-letter")

    ends_before = _source_records(console, source)
    page.get_by_role("button", name="Dry run a replay of this record").click()
    assert "nothing was published" in page.locator("#outcome").inner_text()
    time.sleep(1)
    assert _source_records(console, source) == ends_before  # the dry run changed nothing

    page.get_by_role("button", name="Replay 1 record").click()
    assert "1 record re-published" in page.locator("#outcome").inner_text()
    replayed = in_thread(
        collect, console.stack.bootstrap, [source], done=lambda rs: len(rs) >= 2, timeout=30
    )
    assert [r.value for r in replayed] == [b"{not json", b"{not json"]

    page.get_by_role("link", name="Replay audit").click()
    audit = page.locator("#audit tbody").inner_text()
    assert audit.count("console:Anna Ops") == 2
    assert "dry run" in audit and "replay" in audit
    screenshot(page, "replay-audit")


def _source_records(console: Console, topic: str) -> int:
    found = in_thread(collect, console.stack.bootstrap, [topic], done=lambda rs: True, settle=1)
    return len(found)


def test_sign_out_missing_csrf_and_cookie_flags(page: Any, console: Console) -> None:
    page.goto(f"{console.base}/sellers")
    assert page.url.startswith(f"{console.base}/sign-in")
    page.get_by_label("API token").fill("wrong-token-0123456789")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("That is not the API token.").is_visible()

    sign_in(page, console)
    assert API_TOKEN not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "ir_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert API_TOKEN not in cookie["value"]

    # a state-changing form without its CSRF token is refused
    page.goto(f"{console.base}/sellers/{console.seller}?provider=fakturownia")
    page.locator("#fakturownia-form input[name=csrf]").evaluate("e => e.remove()")
    page.get_by_label("Account link").fill(f"https://acme-{console.uid}.fakturownia.pl")
    page.get_by_label("API token").fill(f"tok-a-{console.uid}")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Connect and verify").click()
    assert answer.value.status == 403
    assert page.get_by_text("This form is no longer valid").is_visible()
    page.goto(f"{console.base}/sellers/{console.seller}")
    assert page.locator("#connection-fakturownia").count() == 0  # nothing was stored

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
    # the old session id is dead on the server, not only forgotten by the browser
    page.context.add_cookies([{**cookie, "sameSite": "Strict"}])
    page.goto(f"{console.base}/sellers")
    assert page.url.startswith(f"{console.base}/sign-in")


def test_an_expired_session_is_refused(console: Console, tmp_path: Path) -> None:
    env = stack_env(console.stack, INVOICE_ROUTER_CONSOLE_SESSION_MINUTES="0.1")  # 6 s
    with api_server(env, tmp_path / "short-api.log") as short, chromium() as browser:
        page = browser.new_page(locale="en-GB")
        short_console = Console(short, console.stack, console.uid)
        sign_in(page, short_console)
        page.goto(f"{short_console.base}/parked")
        assert page.url == f"{short_console.base}/parked"
        time.sleep(7)
        page.goto(f"{short_console.base}/parked")
        assert page.url.startswith(f"{short_console.base}/sign-in")


def test_pages_in_polish(page: Any, console: Console) -> None:
    sign_in(page, console)
    page.get_by_role("link", name="PL", exact=True).click()
    assert page.locator("html").get_attribute("lang") == "pl"
    assert page.get_by_role("link", name="Martwe komunikaty").is_visible()
    for path in ("/parked", "/ksef", "/orders?order_id=X-1", "/dead-letters/audit"):
        page.goto(f"{console.base}{path}")
        assert page.locator("html").get_attribute("lang") == "pl"
    page.goto(f"{console.base}/sellers/{console.seller}?provider=fakturownia")
    assert page.get_by_label("Token API").is_visible()
    screenshot(page, "settings-pl")

    # a phone: one column, nothing wider than the screen; the keyboard starts at the skip link
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from <main>: the first link of the page's content
    assert page.evaluate("document.activeElement.closest('main') !== null")
    screenshot(page, "settings-phone")
