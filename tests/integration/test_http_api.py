"""The configuration API over real HTTP: `invoice-router api` (uvicorn) in a subprocess, on
PostgreSQL and Kafka, calling the Fakturownia and wFirma simulators. Nothing is mocked."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import utcnow
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Source
from config.secrets import SecretBox
from config.store import ConfigStore
from domain.ledger import LedgerKey, ParkReason, Slot, State
from simulators.wfirma import SimCompany, SimLogin, SimOAuthApp, SimSeries, WfirmaSimulator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
API_TOKEN = f"api-token-{uuid.uuid4().hex}"
REDIRECT = "https://platform.example/wfirma/callback"


@dataclass
class Api:
    """The running server, and every answer it gave (to look for leaked secrets)."""

    base: str
    log: Path
    answers: list[str] = field(default_factory=list)

    async def call(
        self, method: str, path: str, *, token: str | None = API_TOKEN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers |= kwargs.pop("headers", {})
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            answer = await http.request(method, path, headers=headers, **kwargs)
        self.answers.append(f"{answer.headers}\n{answer.text}")
        return answer

    def leaked(self, *secrets: str) -> list[str]:
        """The secrets found in an answer or in the server's log."""
        everything = "\n".join(self.answers) + self.log.read_text(errors="replace")
        return [s for s in secrets if s in everything]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_command(port: int) -> list[str]:
    return [sys.executable, "-m", "workers.cli", "api", "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[Api]:
    """`invoice-router api` in a subprocess, logging everything (DEBUG) to `log`."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            api_command(port),
            env={**os.environ, **env, "INVOICE_ROUTER_LOG_LEVEL": "DEBUG"},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = Api(f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_up(api, proc)
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_until_up(api: Api, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the API exited with {proc.returncode}:\n{api.log.read_text()}")
        try:
            if httpx.get(f"{api.base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"the API did not start:\n{api.log.read_text()}")


@pytest.fixture
def wfirma(uid: str) -> Iterator[tuple[WfirmaSimulator, str, str]]:
    """Login `wf-<uid>` with company 1001 (series 5) and an OAuth app; yields (sim, url, secret)."""
    secret = f"wf-client-secret-{uid}"
    sim = WfirmaSimulator()
    company = SimCompany(id=1001, name="Moto Nowak", series=[SimSeries(id=5, name="Sklep")])
    sim.add_login(SimLogin(login=f"wf-{uid}", companies=[company], rate_limits=None))
    sim.add_oauth_app(
        SimOAuthApp(
            client_id=f"cid-{uid}",
            client_secret=secret,
            redirect_uri=REDIRECT,
            login=f"wf-{uid}",
            scopes=[
                "contractors-read",
                "companies-read",
                "contractors-write",
                "invoices-read",
                "invoices-write",
                "series-read",
                "user_companies-read",  # verify lists the login's companies (docs/adr/0009)
            ],
        )
    )
    with sim.serve_in_thread() as base_url:
        yield sim, base_url, secret


@pytest.fixture
def secret_key() -> str:
    return SecretBox.new_key()


@pytest.fixture
def server_env(
    postgres_url: str, kafka_bootstrap: str, fakturownia, wfirma, secret_key: str
) -> dict[str, str]:
    _, fakturownia_base = fakturownia
    _, wfirma_base, _ = wfirma
    return {
        "DATABASE_URL": postgres_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "INVOICE_ROUTER_API_TOKEN": API_TOKEN,
        "INVOICE_ROUTER_SECRET_KEYS": secret_key,
        "INVOICE_ROUTER_FAKTUROWNIA_URL_TEMPLATE": f"{fakturownia_base}/{{prefix}}",
        "INVOICE_ROUTER_WFIRMA_API_URL": wfirma_base,
        "INVOICE_ROUTER_WFIRMA_AUTH_URL": f"{wfirma_base}/oauth2/auth",
    }


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker]:
    upgrade(postgres_url)
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


async def raw_secret_rows(sessions: async_sessionmaker) -> str:
    async with sessions() as session:
        rows = (await session.execute(text("SELECT * FROM provider_connections"))).all()
        rows += (await session.execute(text("SELECT * FROM oauth_tokens"))).all()
    return repr(rows)


def fakturownia_body(uid: str, token: str | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "provider": "fakturownia",
        "seller_name": "Auto Części",
        "account": f"https://acme-{uid}.fakturownia.pl",
        "api_token": token or f"tok-a-{uid}",
        "receipts_enabled": True,
        "send_by_email": True,
    } | changes


async def record_outcomes(sessions: async_sessionmaker, seller: str, channels: list[str]) -> None:
    """Ledger rows as workers leave them: issued, failed and parked on the first channel, and
    an order for an unmapped channel (unresolved)."""
    ledger = Ledger(sessions)

    async def claim(channel: str, order: str) -> Any:
        source = Source(f"orders.{channel}", 0, 0, order.encode(), b"{}", [], f"evt-{order}")
        return (await ledger.claim(LedgerKey(seller, channel, order, Slot.SALE), source)).entry

    await ledger.finish(await claim(channels[0], "O-1"), State.ISSUED, result_event="{}")
    await ledger.finish(await claim(channels[0], "O-2"), State.FAILED, failure_code="x")
    await ledger.park(
        await claim(channels[0], "O-3"),
        State.PARKED,
        ParkReason.TRANSIENT,
        next_attempt_at=utcnow() + dt.timedelta(minutes=5),
        attempts=1,
    )
    await ledger.finish(await claim(channels[1], "O-4"), State.UNRESOLVED)


async def test_a_fakturownia_seller_is_onboarded_over_http(
    server_env: dict[str, str],
    sessions: async_sessionmaker,
    secret_key: str,
    uid: str,
    tmp_path: Path,
) -> None:
    seller, channel, unmapped = f"seller-{uid}", f"ovoko-{uid}", f"allegro-{uid}"
    wrong_token = f"wrong-fakturownia-token-{uid}"
    base = f"/v1/sellers/{seller}"
    with api_server(server_env, tmp_path / "api.log") as api:
        assert (await api.call("GET", "/healthz", token=None)).status_code == 200
        ready = await api.call("GET", "/readyz", token=None)
        assert ready.json() == {"ready": True, "checks": {"database": "ok", "broker": "ok"}}

        for token in (None, "not-the-token"):
            refused = await api.call("GET", "/v1/sellers", token=token)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"

        bad = await api.call(
            "PUT",
            f"{base}/connections/main",
            json=fakturownia_body(uid, wrong_token, account="https://evil.example", colour=1),
        )
        assert bad.status_code == 422
        assert {e["loc"][-1] for e in bad.json()["detail"]} == {"account", "colour"}
        missing = await api.call(
            "PUT", f"{base}/connections/main", json={"provider": "fakturownia"}
        )
        assert {e["loc"][-1] for e in missing.json()["detail"]} == {"account", "api_token"}

        refused = await api.call(
            "PUT", f"{base}/connections/main", json=fakturownia_body(uid, wrong_token)
        )
        assert refused.status_code == 400
        assert "Fakturownia rejected the API token" in refused.json()["detail"]
        assert (await api.call("GET", base)).status_code == 404  # nothing stored

        connected = await api.call("PUT", f"{base}/connections/main", json=fakturownia_body(uid))
        assert connected.status_code == 200, connected.text
        assert [d["id"] for d in connected.json()["departments"]] == ["101", "102"]
        assert connected.json()["connection"]["credentials"] == ["api_token"]
        verified = await api.call("POST", f"{base}/connections/main/verify")
        assert verified.json()["status"] == "ok"
        listed = await api.call("GET", f"{base}/connections/main/departments")
        assert [d["name"] for d in listed.json()] == ["Sklep Ovoko", "Sklep Allegro"]

        invalid = await api.call(
            "PUT", f"{base}/channels/Not!A!Channel", json={"target": "101", "auto_generate": "x"}
        )
        assert invalid.status_code == 422
        assert {tuple(e["loc"]) for e in invalid.json()["detail"]} == {
            ("path", "channel"),
            ("body", "auto_generate"),
        }
        mapped = await api.call("PUT", f"{base}/channels/{channel}", json={"target": "101"})
        assert mapped.json() == {
            "channel": channel,
            "connection": "main",
            "target": "101",
            "auto_generate": True,
            "document_policy": "auto",
            "send_by_email": True,  # the connection's default
            "vat": {"margin_scheme_default": False, "split_payment_goods_default": False},
        }
        assert (await api.call("GET", f"{base}/channels/{unmapped}")).status_code == 404
        assert (await api.call("GET", "/v1/sellers/nobody/channels")).status_code == 404

        # a running worker's store sees the toggle once its cache expires, without a restart
        store = ConfigStore(sessions, SecretBox([secret_key]), ttl=0.5)
        assert (await store.route_for(seller, channel)).auto_generate is True
        disabled = await api.call("POST", f"{base}/channels/{channel}/disable")
        assert disabled.json()["auto_generate"] is False
        await asyncio.sleep(0.6)
        assert (await store.route_for(seller, channel)).auto_generate is False
        await api.call("POST", f"{base}/channels/{channel}/enable")
        await asyncio.sleep(0.6)
        assert (await store.route_for(seller, channel)).auto_generate is True

        await record_outcomes(sessions, seller, [channel, unmapped])
        report = (await api.call("GET", f"{base}/status")).json()["sellers"][0]
        assert report["connections"] == [
            {"name": "main", "provider": "fakturownia", "state": "ok", "detail": None}
        ]
        by_channel = {c["channel"]: c for c in report["channels"]}
        assert by_channel[channel]["last_hour"] == {
            "issued": 1,
            "failed": 1,
            "parked": 1,
            "skipped": 0,
        }
        assert by_channel[unmapped]["mapping"] is None
        assert by_channel[unmapped]["last_hour"]["failed"] == 1

        assert (await api.call("DELETE", f"{base}/channels/{channel}")).status_code == 204
        assert (await api.call("GET", f"{base}/channels")).json() == []

    assert api.leaked(API_TOKEN, f"tok-a-{uid}", wrong_token) == []
    raw = await raw_secret_rows(sessions)
    assert f"tok-a-{uid}" not in raw and "gAAAA" in raw  # sealed, not plain


async def test_switching_to_wfirma_needs_confirmation_and_the_callback_works_once(
    server_env: dict[str, str],
    sessions: async_sessionmaker,
    wfirma: tuple[WfirmaSimulator, str, str],
    uid: str,
    tmp_path: Path,
) -> None:
    _, _, client_secret = wfirma
    seller, channel = f"seller-{uid}", f"shop-{uid}"
    base = f"/v1/sellers/{seller}"
    wfirma_body = {
        "provider": "wfirma",
        "client_id": f"cid-{uid}",
        "client_secret": client_secret,
        "company_id": 1001,
        "redirect_uri": REDIRECT,
        "extra_scopes": ["series-read"],
    }
    with api_server(server_env, tmp_path / "api.log") as api:
        await api.call("PUT", f"{base}/connections/main", json=fakturownia_body(uid))
        await api.call("PUT", f"{base}/channels/{channel}", json={"target": "101"})

        refused = await api.call("PUT", f"{base}/connections/wf", json=wfirma_body)
        assert refused.status_code == 409
        assert (refused.json()["connections"], refused.json()["channels"]) == (["main"], [channel])
        assert "main (fakturownia)" in refused.json()["detail"]
        assert [c["name"] for c in (await api.call("GET", base)).json()["connections"]] == ["main"]

        switched = await api.call(
            "PUT", f"{base}/connections/wf", params={"confirm_switch": "true"}, json=wfirma_body
        )
        assert switched.status_code == 200, switched.text
        assert switched.json()["replaced"] == ["main"]
        stored = (await api.call("GET", base)).json()
        assert [(c["name"], c["provider"]) for c in stored["connections"]] == [("wf", "wfirma")]
        assert stored["connections"][0]["credentials"] == ["client_id", "client_secret"]
        assert stored["channels"] == []
        waiting = (await api.call("GET", f"{base}/status")).json()["sellers"][0]["connections"]
        assert waiting[0]["state"] == "needs_reauth"

        async with httpx.AsyncClient() as browser:  # the seller consents at wFirma
            consent = await browser.get(switched.json()["authorization_url"])
        back = parse_qs(urlsplit(consent.headers["location"]).query)
        callback = {"code": back["code"][0], "state": back["state"][0]}
        mistyped = await api.call(
            "GET",
            "/oauth/wfirma/callback",
            token=None,
            params=callback | {"code": "not-the-code"},
            headers={"Accept": "application/json"},
        )
        assert mistyped.status_code == 400, mistyped.text  # and the state is not spent by it:
        done = await api.call(
            "GET",
            "/oauth/wfirma/callback",
            token=None,
            params=callback,
            headers={"Accept": "application/json"},
        )
        assert done.status_code == 200, done.text
        assert (done.json()["seller_id"], done.json()["connection"]) == (seller, "wf")
        replayed = await api.call("GET", "/oauth/wfirma/callback", token=None, params=callback)
        assert replayed.status_code == 400
        assert "already completed" in replayed.text and "<html>" in replayed.text

        verified = await api.call("POST", f"{base}/connections/wf/verify")
        assert [c["id"] for c in verified.json()["companies"]] == ["1001"]
        series = await api.call("GET", f"{base}/connections/wf/series")
        assert [(s["id"], s["name"]) for s in series.json()] == [("5", "Sklep")]
        mapped = await api.call("PUT", f"{base}/channels/{channel}", json={"target": "5"})
        assert mapped.json()["connection"] == "wf"
        report = (await api.call("GET", "/v1/status")).json()["sellers"]
        assert [c["state"] for s in report if s["id"] == seller for c in s["connections"]] == ["ok"]

    assert api.leaked(API_TOKEN, client_secret, f"tok-a-{uid}") == []
    raw = await raw_secret_rows(sessions)
    assert client_secret not in raw and f"tok-a-{uid}" not in raw


async def test_hostile_ids_values_and_states_get_a_clean_4xx_on_postgresql(
    server_env: dict[str, str], sessions: async_sessionmaker, tmp_path: Path
) -> None:
    """PostgreSQL refuses NUL in text and hmac refuses non-ASCII str: neither may become a 500."""
    nul_paths = [
        ("GET", "/v1/sellers/x%00y"),
        ("GET", "/v1/sellers/x%00y/status"),
        ("GET", "/v1/sellers/x%00y/channels/ovoko"),
        ("PUT", "/v1/sellers/x%00y/channels/ovoko"),
        ("GET", "/v1/sellers/x/connections/a%00b/departments"),
        ("PUT", "/v1/sellers/x%00y/connections/main"),
    ]
    with api_server(server_env, tmp_path / "api.log") as api:
        for method, path in nul_paths:
            body = {"target": "1"} if "channels" in path else fakturownia_body("x")
            answer = await api.call(method, path, json=body if method == "PUT" else None)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["detail"][0]["loc"][0] == "path"
        for path, body in [
            ("/v1/sellers/x/connections/main", fakturownia_body("x", seller_name="a\x00b")),
            ("/v1/sellers/x/channels/ovoko", {"target": "10\x001"}),
        ]:
            answer = await api.call("PUT", path, json=body)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["detail"][0]["loc"][0] == "body"
        for state in ("żółw.ąę", "x.é"):
            refused = await api.call(
                "GET", "/oauth/wfirma/callback", token=None, params={"state": state, "code": "c"}
            )
            assert refused.status_code == 400 and "not valid" in refused.text
    log = (tmp_path / "api.log").read_text()
    assert "Traceback" not in log and "500 Internal Server Error" not in log


def test_the_api_refuses_to_start_without_a_token(secret_key: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "INVOICE_ROUTER_API_TOKEN"}
    done = subprocess.run(
        api_command(free_port()),
        env={**env, "INVOICE_ROUTER_SECRET_KEYS": secret_key},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "INVOICE_ROUTER_API_TOKEN" in done.stderr


async def test_the_api_is_unready_until_the_database_is_migrated(
    server_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    with api_server(server_env, tmp_path / "api.log") as api:
        assert (await api.call("GET", "/healthz", token=None)).json() == {"status": "ok"}
        unready = await api.call("GET", "/readyz", token=None)
        assert unready.status_code == 503
        assert "invoice-router db upgrade" in unready.json()["checks"]["database"]
        upgrade(postgres_url)
        assert (await api.call("GET", "/readyz", token=None)).status_code == 200
