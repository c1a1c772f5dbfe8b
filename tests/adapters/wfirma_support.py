"""Shared builders for the wFirma adapter tests (fixtures live in ``conftest_wfirma.py``).

Orders come from ``tests.factories`` through ``tests.adapters.support`` (the same
``DocumentRequest`` the router builds). ``SimTokens`` is a minimal in-test ``AccessTokens``
that talks to the simulator's token endpoint; the production token store is not used here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from adapters.wfirma import ApiKeyAuth, OAuthAuth, RateLimiter, WfirmaAuth, WfirmaProvider
from adapters.wfirma.oauth import SCOPES as DEFAULT_SCOPES
from domain.documents import DocumentRequest
from domain.ports import ProviderAuthError
from domain.routing import ChannelRoute
from schemas.invoices import DocumentKind, Provider
from simulators.fakturownia.clock import WARSAW
from simulators.wfirma import (
    SimApiKey,
    SimCompany,
    SimLogin,
    SimOAuthApp,
    SimSeries,
    WfirmaSimulator,
)
from tests.adapters.support import ProviderEnv, route, sale

# The simulator's own clock (KSeF dates, token expiry); documents carry the request's dates.
SIM_NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=WARSAW)
LOGIN = "acme"
COMPANY_ID = 1001
KEYS = SimApiKey("ak-acme", "sk-acme", "app-router")
MULTI_LOGIN = "multi"
MULTI_KEYS = SimApiKey("ak-multi", "sk-multi", "app-router")
KSEF_LOGIN = "ksefshop"
KSEF_KEYS = SimApiKey("ak-ksef", "sk-ksef", "app-router")
KSEF_COMPANY_ID = 3001
SELLER_NIP = "5252445767"
SERIES_SHOP, SERIES_CORRECTIONS, SERIES_RECEIPTS, SERIES_FISCAL, SERIES_ALLEGRO = (
    "7301",
    "7302",
    "7303",
    "7304",
    "7305",
)
CLIENT_ID, CLIENT_SECRET = "cid-router", "cs-router"
NARROW_CLIENT_ID = "cid-narrow"  # registered without series-read and user_companies-read
REDIRECT_URI = "https://router.example/wfirma/callback"
SCOPES = list(DEFAULT_SCOPES)  # the setup guide's list, as the seller registers it
ADD = r"^/invoices/add$"


def series() -> list[SimSeries]:
    return [
        SimSeries(int(SERIES_SHOP), "Sklep", "FV [numer]/[miesiąc]/[rok]", "normal", "monthy"),
        SimSeries(int(SERIES_CORRECTIONS), "Korekty", "FK [numer]/[rok]", "correction"),
        SimSeries(int(SERIES_RECEIPTS), "Dowody sprzedaży", "DS/[numer]/[rok]", "receipt_normal"),
        SimSeries(int(SERIES_FISCAL), "Paragony", "PAR [numer]/[rok]", "receipt_fiscal_normal"),
        SimSeries(int(SERIES_ALLEGRO), "Allegro", "FV/AL/[numer]/[rok]", "normal"),
    ]


def acme(**overrides: Any) -> SimCompany:
    values: dict[str, Any] = {
        "id": COMPANY_ID,
        "name": "Acme Sklep",
        "nip": SELLER_NIP,
        "street": "ul. Prosta 1",
        "zip": "00-001",
        "city": "Warszawa",
        "series": series(),
    }
    return SimCompany(**(values | overrides))


def logins() -> list[SimLogin]:
    """Rate limits are off here; the tests about limits switch them on for one login."""
    return [
        SimLogin(login=LOGIN, companies=[acme()], api_keys=[KEYS], rate_limits=None),
        SimLogin(
            login=MULTI_LOGIN,
            companies=[
                acme(id=2001, name="Multi Hurt"),
                acme(id=2002, name="Multi Detal"),
                acme(id=2003, name="Multi Archiwum", read_only=True),
            ],
            api_keys=[MULTI_KEYS],
            selected_company_id=2002,
            rate_limits=None,
        ),
        SimLogin(
            login=KSEF_LOGIN,
            companies=[acme(id=KSEF_COMPANY_ID, ksef_enabled=True, ksef_delay_seconds=2.0)],
            api_keys=[KSEF_KEYS],
            rate_limits=None,
        ),
    ]


def oauth_apps() -> list[SimOAuthApp]:
    return [
        SimOAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LOGIN, list(SCOPES), 900),
        SimOAuthApp(NARROW_CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LOGIN, SCOPES[:4], 900),
    ]


def api_keys(keys: SimApiKey = KEYS) -> ApiKeyAuth:
    return ApiKeyAuth(keys.access_key, keys.secret_key, keys.app_key)


class SimTokens:
    """An ``AccessTokens`` over the simulator's token endpoint, counting its refreshes."""

    def __init__(self, base: str, client_id: str, grant: dict[str, Any]) -> None:
        self._base = base
        self._client_id = client_id
        self.access = str(grant["access_token"])
        self.refresh = str(grant["refresh_token"])
        self.expires_in = int(grant["expires_in"])
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.access

    async def refresh_after_rejection(self, rejected_token: str) -> str:
        if rejected_token != self.access:  # another task refreshed meanwhile
            return self.access
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh,
            "client_id": self._client_id,
            "client_secret": CLIENT_SECRET,
        }
        async with httpx.AsyncClient(base_url=self._base, timeout=5.0) as http:
            response = await http.post("/oauth2/token", data=form)
        self.refreshes += 1
        if response.status_code != 200:
            raise ProviderAuthError(
                "the wFirma authorisation is gone: authorise the connection again",
                detail=str(response.json().get("error")),
            )
        grant = response.json()
        self.access = grant["access_token"]
        self.refresh = grant.get("refresh_token") or self.refresh  # rotation
        return self.access


async def authorise(base: str, client_id: str = CLIENT_ID, scopes: list[str] = SCOPES) -> SimTokens:
    """The seller's consent (a redirect back with a code) and the code exchange."""
    async with httpx.AsyncClient(base_url=base, timeout=5.0) as http:
        consent = await http.get(
            "/oauth2/auth",
            params={
                "response_type": "code",
                "client_id": client_id,
                "scope": " ".join(scopes),
                "redirect_uri": REDIRECT_URI,
                "state": "seller-s1",
            },
        )
        assert consent.status_code == 302, consent.text
        back = parse_qs(urlsplit(consent.headers["Location"]).query)
        assert back["state"] == ["seller-s1"]
        response = await http.post(
            "/oauth2/token",
            params={"oauth_version": "2"},
            data={
                "grant_type": "authorization_code",
                "code": back["code"][0],
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "client_secret": CLIENT_SECRET,
            },
        )
    assert response.status_code == 200, response.text
    return SimTokens(base, client_id, response.json())


@dataclass
class WfirmaEnv(ProviderEnv[WfirmaProvider]):
    """The running simulator, its base URL and a factory of adapters pointed at it."""

    sim: WfirmaSimulator

    def provider(
        self,
        *,
        auth: WfirmaAuth | None = None,
        company_id: int | None = COMPANY_ID,
        options: dict[str, Any] | None = None,
        timeout: float = 5.0,
        limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> WfirmaProvider:
        return self._track(
            WfirmaProvider(
                base_url=base_url or self.base,
                auth=auth or api_keys(),
                company_id=company_id,
                options=options,
                timeout=timeout,
                limiter=limiter,
            )
        )

    async def oauth_provider(self, **kwargs: Any) -> tuple[WfirmaProvider, SimTokens]:
        tokens = await authorise(self.base)
        return self.provider(auth=OAuthAuth(tokens), **kwargs), tokens

    def invoices(self, login: str = LOGIN, company_id: int | None = None) -> list[dict[str, Any]]:
        return self.sim.invoices(login, company_id)

    def stored(
        self, document_id: str, login: str = LOGIN, company_id: int | None = None
    ) -> dict[str, Any]:
        return next(d for d in self.invoices(login, company_id) if d["id"] == document_id)

    def calls(self, path: str, login: str = LOGIN) -> list[Any]:
        return [r for r in self.sim.request_log(login) if r.path == path]


def wsale(
    body: dict[str, Any],
    kind: DocumentKind = DocumentKind.INVOICE,
    target: str | None = SERIES_SHOP,
    **kwargs: Any,
) -> DocumentRequest:
    return sale(body, kind, target, **kwargs)


def wroute(target: str = SERIES_SHOP) -> ChannelRoute:
    return route(target, provider=Provider.WFIRMA)


def lines_of(stored: dict[str, Any]) -> list[dict[str, Any]]:
    contents = stored["invoicecontents"]
    assert list(contents) == [str(i) for i in range(len(contents))]  # keyed "0", "1", ...
    return [contents[k]["invoicecontent"] for k in contents]
