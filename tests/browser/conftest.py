"""The web console in a real browser: Debian's Chromium (headless) driven by Playwright, against
a real `invoice-router api` and worker on PostgreSQL and Kafka, calling both simulators.

No browser is downloaded: Playwright launches CHROMIUM (default /usr/bin/chromium; `.ci/run`
installs the `chromium` package). Without it the tests skip locally and fail when CI=true.
Screenshots go to INVOICE_ROUTER_SCREENSHOTS (default build/screenshots/).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from config.db import upgrade
from tests.integration.conftest import fakturownia  # noqa: F401  (fixture)
from tests.integration.harness import Stack, create_topics, worker_process
from tests.integration.test_http_api import (
    API_TOKEN,
    REDIRECT,
    Api,
    api_server,
    wfirma,  # noqa: F401  (fixture)
)
from tests.services import IN_CI

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
T = TypeVar("T")
SCREENSHOTS = Path(os.environ.get("INVOICE_ROUTER_SCREENSHOTS", REPO / "build" / "screenshots"))


def _unavailable(why: str) -> None:
    message = f"browser tests need {why} (apt-get install chromium; pip install playwright)"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` (which uses asyncio.run) off the main thread: Playwright's sync API keeps an
    event loop running there while a browser is open."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@contextmanager
def chromium() -> Iterator[Any]:
    """Started after the services (their set-up uses asyncio.run on the main thread)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python")
    if not shutil.which(CHROMIUM):
        _unavailable(f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """The running stack: the API serving the console, the worker, and how to reach them."""

    api: Api
    stack: Stack
    uid: str

    @property
    def base(self) -> str:
        return f"{self.api.base}/console"

    @property
    def seller(self) -> str:
        return f"seller-{self.uid}"

    def channel(self, name: str) -> str:
        return f"{name}-{self.uid}"


def stack_env(stack: Stack, **extra: str) -> dict[str, str]:
    """What `invoice-router api` needs over the stack's settings."""
    return {**stack.env(), "INVOICE_ROUTER_API_TOKEN": API_TOKEN, **extra}


@pytest.fixture
def console(
    kafka_bootstrap: str,
    postgres_url: str,
    fakturownia: Any,  # noqa: F811
    wfirma: Any,  # noqa: F811
    uid: str,
    tmp_path: Path,
) -> Iterator[Console]:
    """API + worker over one test's topics and database; channels ovoko, allegro and shop."""
    _, fakturownia_base = fakturownia
    _, wfirma_base, _ = wfirma
    channels = [f"{c}-{uid}" for c in ("ovoko", "allegro", "shop")]
    stack = Stack(kafka_bootstrap, postgres_url, uid, channels, fakturownia_base)
    stack.extra_env = {
        "INVOICE_ROUTER_WFIRMA_API_URL": wfirma_base,
        "INVOICE_ROUTER_WFIRMA_AUTH_URL": f"{wfirma_base}/oauth2/auth",
    }
    upgrade(postgres_url)
    topics = [f"orders.{c}" for c in channels] + [f"orders.{c}.dlq" for c in channels]
    create_topics(kafka_bootstrap, [*topics, stack.issued_topic, stack.failed_topic], 2)
    env = stack_env(stack)
    with (
        api_server(env, tmp_path / "api.log") as api,
        worker_process(stack, tmp_path / "worker.log"),
    ):
        yield Console(api, stack, uid)


@pytest.fixture
def page(console: Console) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose wFirma redirect reaches this console.

    The wFirma app is registered with the platform's https redirect URI; in production that
    host serves the console behind TLS. Here the browser is sent on to the console's return
    page with the same query, as that host would do.
    """
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.route(re.compile(re.escape(REDIRECT) + r".*"), _forward_to(console))
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def _forward_to(console: Console) -> Callable[[Any], None]:

    def forward(route: Any) -> None:
        query = route.request.url.split("?", 1)[1] if "?" in route.request.url else ""
        route.fulfill(status=302, headers={"location": f"{console.base}/wfirma/return?{query}"})

    return forward


def sign_in(page: Any, console: Console, operator: str = "Anna Ops") -> None:
    page.goto(f"{console.base}/sellers")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_label("Your name (shown in the replay audit)").fill(operator)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console.base}/sellers")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
