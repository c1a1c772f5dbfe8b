"""The HTTP API's own rules, in process (ASGI) on SQLite: the committed OpenAPI document, the
bearer token, error shapes that never echo input, and the redacted access log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from config.db import upgrade
from config.secrets import SecretBox
from config.settings import Settings
from workers import api, api_errors

TOKEN = "unit-test-api-token-0123456789"


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    url = f"sqlite:///{tmp_path}/api.db"
    upgrade(url)
    values = {"database_url": url, "api_token": TOKEN, "secret_keys": (SecretBox.new_key(),)}
    return Settings(**(values | changes))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = api.create_app(settings_for(tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield http


def test_committed_openapi_document_is_current() -> None:
    assert api.OPENAPI_FILE.read_text(encoding="utf-8") == api.render_openapi(), (
        "docs/openapi.json is stale: run `python -m workers.api` and commit the result"
    )


@pytest.mark.parametrize("token", [None, "short"])
def test_the_api_refuses_to_exist_without_a_strong_token(tmp_path: Path, token: str | None) -> None:
    with pytest.raises(api.ApiNotConfigured, match="INVOICE_ROUTER_API_TOKEN"):
        api.create_app(settings_for(tmp_path, api_token=token))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_v1_needs_the_bearer_token(client: httpx.AsyncClient, headers: dict) -> None:
    answer = await client.get("/v1/sellers", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    ok = await client.get("/v1/sellers", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json() == []


async def test_validation_errors_name_fields_and_never_echo_the_input(
    client: httpx.AsyncClient,
) -> None:
    secret = "a-secret-client-value-91ab"
    answer = await client.put(
        "/v1/sellers/s1/connections/wf",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"provider": "wfirma", "client_secret": secret, "redirect_uri": "http://x.example"},
    )
    assert answer.status_code == 422
    assert {e["loc"][-1] for e in answer.json()["detail"]} == {"client_id", "redirect_uri"}
    assert secret not in answer.text
    assert all(set(e) == {"loc", "msg", "type"} for e in answer.json()["detail"])


async def test_unknown_things_are_404(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/v1/sellers/nobody", "/v1/sellers/nobody/channels/ovoko", "/v1/sellers/x/status"):
        answer = await client.get(path, headers=auth)
        assert answer.status_code == 404 and "unknown seller" in answer.json()["detail"]


async def test_the_callback_refuses_a_denied_consent_and_a_forged_state(
    client: httpx.AsyncClient,
) -> None:
    denied = await client.get("/oauth/wfirma/callback", params={"state": "s", "error": "denied"})
    assert denied.status_code == 400 and "wFirma answered: denied" in denied.text
    forged = await client.get(
        "/oauth/wfirma/callback",
        params={"state": "forged.state", "code": "c"},
        headers={"Accept": "application/json"},
    )
    assert forged.status_code == 400 and "not valid" in forged.json()["detail"]


def test_the_access_log_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/oauth/wfirma/callback?code=c0de&state=st", "1.1", 200),
        None,
    )
    api._NoQueryInAccessLog().filter(record)
    assert "c0de" not in record.getMessage() and "/oauth/wfirma/callback" in record.getMessage()


NUL_PATHS = [
    ("GET", "/v1/sellers/x%00y"),
    ("GET", "/v1/sellers/x%00y/status"),
    ("GET", "/v1/sellers/x%00y/channels"),
    ("GET", "/v1/sellers/x%00y/channels/ovoko"),
    ("POST", "/v1/sellers/x%00y/channels/ovoko/enable"),
    ("GET", "/v1/sellers/s1/connections/a%00b/departments"),
    ("POST", "/v1/sellers/s1/connections/%00/verify"),
]


@pytest.mark.parametrize(("method", "path"), NUL_PATHS)
async def test_a_nul_character_in_a_path_id_is_invalid_input(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """PostgreSQL refuses NUL in text (tests/integration/test_http_api.py); SQLite would store
    it: both answer 422 before any query."""
    answer = await client.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][0] == "path" and "NUL" in error["msg"]


async def test_a_nul_seller_id_is_never_stored(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {
        "provider": "wfirma",
        "client_id": "c",
        "client_secret": "s",
        "redirect_uri": "https://r.example",
    }
    answer = await client.put("/v1/sellers/a%00b/connections/wf", headers=auth, json=body)
    assert answer.status_code == 422
    assert (await client.get("/v1/sellers", headers=auth)).json() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/sellers/s1/connections/wf", {"provider": "wfirma", "client_id": "c\x00"}),
        ("/v1/sellers/s1/connections/m", {"provider": "fakturownia", "api_token": "\x00"}),
        ("/v1/sellers/s1/channels/ovoko", {"target": "1\x00"}),
    ],
)
async def test_a_nul_character_in_a_body_value_is_invalid_input(
    client: httpx.AsyncClient, path: str, body: dict
) -> None:
    answer = await client.put(path, headers={"Authorization": f"Bearer {TOKEN}"}, json=body)
    assert answer.status_code == 422
    assert "must not contain NUL characters" in answer.text


async def test_a_rejected_value_is_not_quoted_back(client: httpx.AsyncClient) -> None:
    """A token pasted into the account link must not come back in the 422."""
    pasted = "https://xY7tokEnPasted9Q@acme.fakturownia.pl"
    answer = await client.put(
        "/v1/sellers/s1/connections/main",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"provider": "fakturownia", "account": pasted, "api_token": "t"},
    )
    assert answer.status_code == 422
    assert "xY7tokEnPasted9Q" not in answer.text and "account" in answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "fakturownia", "account"]
    assert error["msg"] == "Value error, <input>: the account link must not carry a user or port"


@pytest.mark.parametrize("state", ["żółw.ąę", "x.é", "x.\u00ff", "é"])
async def test_a_non_ascii_state_is_refused_without_a_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, state: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = await client.get(
            "/oauth/wfirma/callback",
            params={"state": state, "code": "c"},
            headers={"Accept": "application/json"},
        )
    assert answer.status_code == 400 and "not valid" in answer.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    ("message", "value", "shown"),
    [
        ("'Tok3n-Secret' is wrong", "Tok3n-Secret", "<input> is wrong"),
        ("tok3n-secret is wrong", " Tok3n-Secret ", "<input> is wrong"),  # as normalised
        ("'http': use https://x", "http", "<input>: use https://x"),  # short: quoted form only
        ("Field required", None, "Field required"),
    ],
)
def test_messages_mask_the_rejected_value(message: str, value: object, shown: str) -> None:
    assert api_errors.without_input(message, value) == shown
