"""The web console without a broker: every template translated, every page rendered in both
languages, the session rules (cookie flags, CSRF, sign-out, expiry). The flows themselves are
tested in a real browser (tests/browser/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from config.db import upgrade
from config.secrets import SecretBox
from config.settings import Settings
from workers.api import create_app
from workers.console import i18n

CONSOLE = Path(__file__).resolve().parents[2] / "workers" / "console"
TOKEN = "console-unit-token-0123456789"
PAGES = (
    "/sellers",
    "/sellers/s1",
    "/sellers/s1?provider=fakturownia",
    "/sellers/s1?provider=wfirma",
    "/parked",
    "/ksef",
    "/orders?order_id=O-1",
)


def template_messages() -> set[str | tuple[str, str]]:
    found = extract_from_dir(
        str(CONSOLE),
        method_map=[("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
    )
    return {message for _, _, message, _, _ in found}


def test_every_template_message_has_a_polish_translation() -> None:
    po = i18n.LOCALE_DIR / "pl" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale="pl")
    messages = template_messages()
    assert len(messages) > 100
    missing = [
        m
        for m in messages
        if (found := catalog.get(m)) is None
        or not all(found.string if isinstance(found.string, tuple) else [found.string])
    ]
    assert missing == [], "run the pybabel steps of docs/console.md and translate"
    assert i18n.translations("pl").gettext("Sign out") == "Wyloguj"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path}/console.db"
    upgrade(url)
    settings = Settings(
        api_token=TOKEN,
        secret_keys=(SecretBox.new_key(),),
        database_url=url,
        console_session_minutes=0.05,
    )
    with TestClient(create_app(settings), base_url="https://console.test") as http:
        yield http


def sign_in(client: TestClient) -> str:
    answer = client.post("/console/sign-in", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert "Max-Age=3" in cookie and TOKEN not in cookie
    page = client.get("/console/sellers").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_page_renders_in_both_languages_without_the_token(
    client: TestClient, lang: str
) -> None:
    sign_in(client)
    client.get(f"/console/language/{lang}")
    for path in PAGES:
        answer = client.get(f"/console{path}")
        assert answer.status_code == 200, path
        assert f'<html lang="{lang}">' in answer.text
        assert TOKEN not in answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_pages_need_a_session_and_forms_their_csrf_token(client: TestClient) -> None:
    answer = client.get("/console/parked", follow_redirects=False)
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]
    assert client.post("/console/sign-in", data={"token": "nope"}).status_code == 401
    csrf = sign_in(client)
    form = {"account": "https://acme.fakturownia.pl", "api_token": "t"}
    assert client.post("/console/sellers/s1/fakturownia", data=form).status_code == 403
    bad = {**form, "csrf": csrf[:-1] + ("x" if csrf[-1] != "x" else "y")}
    assert client.post("/console/sellers/s1/fakturownia", data=bad).status_code == 403
    out = client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/console/parked", follow_redirects=False).status_code == 303


def test_a_refused_form_shows_field_errors_without_the_secret(client: TestClient) -> None:
    csrf = sign_in(client)
    secret = "a-pasted-secret-token"
    form = {"account": f"https://{secret}.example.com", "api_token": secret, "csrf": csrf}
    answer = client.post("/console/sellers/s1/fakturownia", data=form)
    assert answer.status_code == 422
    assert 'id="fakturownia-account-error"' in answer.text
    assert secret not in answer.text


def test_sign_in_only_returns_to_console_pages(client: TestClient) -> None:
    answer = client.post(
        "/console/sign-in",
        data={"token": TOKEN, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console/sellers"


def test_a_sign_in_posted_from_another_site_is_refused(client: TestClient) -> None:
    form = {"token": TOKEN}
    other = client.post("/console/sign-in", data=form, headers={"origin": "https://evil.example"})
    assert other.status_code == 403 and "set-cookie" not in other.headers
    same = client.post(
        "/console/sign-in",
        data=form,
        headers={"origin": "https://console.test"},
        follow_redirects=False,
    )
    assert same.status_code == 303
