"""Shared fixtures data and HTTP helpers for the wFirma simulator tests.

Everything goes over real HTTP with httpx; these helpers only spare each test the envelope
boilerplate (query flags, API-key headers, numbered-record unwrapping).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from simulators.fakturownia.clock import WARSAW
from simulators.wfirma import SimApiKey, SimCompany, SimLogin, SimOAuthApp, SimSeries
from simulators.wfirma.models import SCOPES_MINIMAL

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=WARSAW)
SELLER_NIP = "5252445767"
BUYER_NIP = "1234563218"
JSON = {"inputFormat": "json", "outputFormat": "json"}
KEYS = {"accessKey": "ak-acme", "secretKey": "sk-acme", "appKey": "app-router"}
MULTI_KEYS = {"accessKey": "ak-multi", "secretKey": "sk-multi", "appKey": "app-router"}
REDIRECT_URI = "https://router.example/wfirma/callback"
CLIENT_ID = "cid-router"
CLIENT_SECRET = "cs-router"
ALL_SCOPES = [*SCOPES_MINIMAL, "companies-read"]


def acme_company() -> SimCompany:
    return SimCompany(
        id=1001,
        name="Acme Sklep",
        nip=SELLER_NIP,
        street="ul. Prosta 1",
        zip="00-001",
        city="Warszawa",
        series=[
            SimSeries(7301, "Sklep", "FV [numer]/[miesiąc]/[rok]", "normal", "monthy"),
            SimSeries(7302, "Korekty", "FK [numer]/[rok]", "correction"),
            SimSeries(7303, "Dowody", "DS/[numer]/[rok]", "receipt_normal"),
        ],
        ksef_enabled=True,
        ksef_delay_seconds=5,
    )


def logins() -> list[SimLogin]:
    return [
        SimLogin(
            login="acme",
            companies=[acme_company()],
            api_keys=[SimApiKey(KEYS["accessKey"], KEYS["secretKey"], KEYS["appKey"])],
        ),
        SimLogin(
            login="multi",
            companies=[
                SimCompany(id=2001, name="Multi Hurt", nip=SELLER_NIP, zip="30-001", city="Kraków"),
                SimCompany(
                    id=2002, name="Multi Detal", nip=SELLER_NIP, zip="30-001", city="Kraków"
                ),
                SimCompany(id=2003, name="Multi Archiwum", nip=SELLER_NIP, read_only=True),
            ],
            api_keys=[
                SimApiKey(MULTI_KEYS["accessKey"], MULTI_KEYS["secretKey"], MULTI_KEYS["appKey"])
            ],
            selected_company_id=2002,
        ),
    ]


def oauth_app(**overrides: Any) -> SimOAuthApp:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "login": "acme",
        "scopes": list(ALL_SCOPES),
        "access_token_ttl": 900,
    }
    values.update(overrides)
    return SimOAuthApp(**values)


async def api(
    http: httpx.AsyncClient,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """POST an API2 call with the JSON flags and (by default) acme's API keys."""
    return await http.post(
        path,
        json=body,
        headers=KEYS if headers is None else headers,
        params={**JSON, **(params or {})},
        **kwargs,
    )


async def ok(http: httpx.AsyncClient, path: str, body: Any = None, **kwargs: Any) -> dict:
    response = await api(http, path, body, **kwargs)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["status"]["code"] == "OK", payload
    return payload


def rows(payload: dict[str, Any], module: str, singular: str) -> list[dict[str, Any]]:
    """Records of a numbered branch; asserts the keys really are "0", "1", ..."""
    branch = payload[module]
    keys = [k for k in branch if k != "parameters"]
    assert keys == [str(i) for i in range(len(keys))], keys
    return [branch[k][singular] for k in keys]


def first(payload: dict[str, Any], module: str, singular: str) -> dict[str, Any]:
    return rows(payload, module, singular)[0]


def line(name: str, count: Any, price: Any, **extra: Any) -> dict[str, Any]:
    return {"invoicecontent": {"name": name, "count": count, "price": price, **extra}}


def invoice_body(*lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The official numbered request form (§2.3)."""
    invoice: dict[str, Any] = {
        "type": "normal",
        "price_type": "brutto",
        "invoicecontents": {str(i): entry for i, entry in enumerate(lines)},
    }
    invoice.update(fields)
    return {"invoices": {"0": {"invoice": invoice}}}


def contractor_body(**fields: Any) -> dict[str, Any]:
    contractor = {
        "name": "Hurtownia Sp. z o.o.",
        "tax_id_type": "nip",
        "nip": BUYER_NIP,
        "street": "ul. Długa 5",
        "zip": "30-001",
        "city": "Kraków",
        "email": "faktury@hurtownia.example",
    }
    contractor.update(fields)
    return {"contractors": {"0": {"contractor": contractor}}}


async def new_contractor(http: httpx.AsyncClient, **fields: Any) -> int:
    payload = await ok(http, "/contractors/add", contractor_body(**fields))
    return int(first(payload, "contractors", "contractor")["id"])


async def new_invoice(http: httpx.AsyncClient, *lines: dict[str, Any], **fields: Any) -> dict:
    payload = await ok(http, "/invoices/add", invoice_body(*lines, **fields))
    return first(payload, "invoices", "invoice")


def find_body(module: str, conditions: Any = None, **params: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = dict(params)
    if conditions is not None:
        parameters["conditions"] = conditions
    return {module: {"parameters": parameters}}


def cond(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"condition": {"field": field, "operator": operator, "value": value}}


async def authorization_code(
    http: httpx.AsyncClient, scopes: list[str] | None = None, state: str = "st-42"
) -> str:
    response = await http.get(
        "/oauth2/auth",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "scope": " ".join(scopes or ALL_SCOPES),
            "redirect_uri": REDIRECT_URI,
            "state": state,
        },
    )
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


async def token_call(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return await http.post("/oauth2/token", params={"oauth_version": "2"}, data=data)


async def oauth_tokens(http: httpx.AsyncClient, scopes: list[str] | None = None) -> dict:
    code = await authorization_code(http, scopes)
    response = await token_call(
        http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


OAUTH = {"oauth_version": "2"}
