"""The HTTP configuration API: seller onboarding (workers/sellers/) for a platform's UI.

`/v1` needs the bearer token INVOICE_ROUTER_API_TOKEN (compared in constant time); the wFirma
OAuth callback is protected by its signed, single-use `state` instead, because wFirma's redirect
carries no header of ours. Credentials go in and never come out: responses name credentials
only, validation errors never echo the input, and the access log drops query strings (the
callback's `code`). `python -m workers.api` regenerates docs/openapi.json (`--check` to test).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.db import alembic_config, create_engine, session_factory
from config.secrets import SecretBox
from config.settings import Settings, secret_box
from workers import sellers as svc
from workers.api_errors import install_error_handlers
from workers.api_ksef import ksef
from workers.api_logging import NoQueryInAccessLog as _NoQueryInAccessLog
from workers.api_oauth import oauth
from workers.api_params import Channel, ConnectionName, Ctx, SellerId
from workers.api_tax import tax
from workers.api_webhooks import webhooks
from workers.console import mount as mount_console

API_VERSION = "1.0.0"
OPENAPI_FILE = FilePath(__file__).resolve().parents[1] / "docs" / "openapi.json"
MIN_TOKEN_LENGTH = 16
READY_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


class ApiNotConfigured(RuntimeError):
    pass


class Problem(BaseModel):
    detail: str


class SwitchProblem(Problem):
    connections: list[str] = Field(description="Connections the switch would delete")
    channels: list[str] = Field(description="Channel mappings the switch would delete")


class AuthorizationUrl(BaseModel):
    authorization_url: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


ConnectionRequest = Annotated[
    svc.FakturowniaConnect | svc.WfirmaConnect, Field(discriminator="provider")
]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong bearer token"},
    404: {"model": Problem, "description": "Unknown seller, connection or channel"},
}
_bearer = HTTPBearer(auto_error=False, description="INVOICE_ROUTER_API_TOKEN")


async def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, request.app.state.api_token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


v1 = APIRouter(prefix="/v1", dependencies=[Depends(_authenticated)], responses=ERRORS)
v1.include_router(ksef)  # /v1/ksef: documents on their way through KSeF (workers/api_ksef.py)
v1.include_router(tax)  # /v1/sellers/{id}/tax: the seller's tax profile (workers/api_tax.py)
public = APIRouter()


# --- sellers and connections -----------------------------------------------------------------


@v1.get("/sellers", tags=["sellers"])
async def list_sellers(ctx: Ctx) -> list[svc.SellerView]:
    return await svc.list_sellers(ctx.settings, ctx.sessions)


@v1.get("/sellers/{seller_id}", tags=["sellers"])
async def get_seller(ctx: Ctx, seller_id: SellerId) -> svc.SellerView:
    return await svc.get_seller(ctx.settings, ctx.sessions, seller_id)


@v1.put(
    "/sellers/{seller_id}/connections/{connection}",
    tags=["connections"],
    responses={
        400: {"model": Problem, "description": "The provider refused the credentials"},
        409: {"model": SwitchProblem, "description": "Provider switch not confirmed"},
    },
)
async def connect(
    ctx: Ctx,
    seller_id: SellerId,
    connection: ConnectionName,
    body: ConnectionRequest,
    confirm_switch: Annotated[
        bool, Query(description="Replace the seller's connections at another provider")
    ] = False,
) -> svc.FakturowniaConnected | svc.WfirmaConnected:
    """Connect Fakturownia (verified by listing its departments before it is stored) or wFirma
    (stored; answers the consent URL the seller must open). Creates the seller if new."""
    if isinstance(body, svc.FakturowniaConnect):
        return await svc.connect_fakturownia(
            ctx.settings, ctx.sessions, seller_id, connection, body, confirm_switch=confirm_switch
        )
    return await svc.connect_wfirma(
        ctx.settings, ctx.sessions, seller_id, connection, body, confirm_switch=confirm_switch
    )


@v1.post(
    "/sellers/{seller_id}/connections/{connection}/verify",
    tags=["connections"],
    responses={400: {"model": Problem, "description": "The provider refused or is unreachable"}},
)
async def verify(ctx: Ctx, seller_id: SellerId, connection: ConnectionName) -> svc.Verification:
    """A real call with the stored credentials; the outcome becomes the connection's state."""
    return await svc.verify_connection(ctx.settings, ctx.sessions, seller_id, connection)


@v1.get("/sellers/{seller_id}/connections/{connection}/authorization-url", tags=["connections"])
async def authorization_url(
    ctx: Ctx, seller_id: SellerId, connection: ConnectionName
) -> AuthorizationUrl:
    """A fresh wFirma consent URL (to reconnect a connection that needs re-authorization)."""
    url = await svc.wfirma_authorization_url(ctx.settings, ctx.sessions, seller_id, connection)
    return AuthorizationUrl(authorization_url=url)


@v1.get("/sellers/{seller_id}/connections/{connection}/departments", tags=["connections"])
async def departments(
    ctx: Ctx, seller_id: SellerId, connection: ConnectionName
) -> list[svc.DepartmentView]:
    """Mapping targets: Fakturownia departments, or wFirma numbering series."""
    return await svc.list_departments(ctx.settings, ctx.sessions, seller_id, connection)


@v1.get("/sellers/{seller_id}/connections/{connection}/series", tags=["connections"])
async def series(
    ctx: Ctx, seller_id: SellerId, connection: ConnectionName
) -> list[svc.DepartmentView]:
    """wFirma numbering series (needs the `series-read` scope, see extra_scopes)."""
    return await svc.list_departments(ctx.settings, ctx.sessions, seller_id, connection)


@v1.get("/sellers/{seller_id}/connections/{connection}/companies", tags=["connections"])
async def companies(
    ctx: Ctx, seller_id: SellerId, connection: ConnectionName
) -> list[svc.CompanyView]:
    """The companies a wFirma login can act for (to choose company_id)."""
    return await svc.list_companies(ctx.settings, ctx.sessions, seller_id, connection)


# --- channel mappings ------------------------------------------------------------------------


@v1.get("/sellers/{seller_id}/channels", tags=["channels"])
async def list_channels(ctx: Ctx, seller_id: SellerId) -> list[svc.ChannelView]:
    return await svc.list_channels(ctx.settings, ctx.sessions, seller_id)


@v1.get("/sellers/{seller_id}/channels/{channel}", tags=["channels"])
async def get_channel(ctx: Ctx, seller_id: SellerId, channel: Channel) -> svc.ChannelView:
    return await svc.get_channel(ctx.settings, ctx.sessions, seller_id, channel)


@v1.put("/sellers/{seller_id}/channels/{channel}", tags=["channels"])
async def set_channel(
    ctx: Ctx, seller_id: SellerId, channel: Channel, body: svc.ChannelSettings
) -> svc.ChannelView:
    """Map a channel (or replace its mapping); workers apply it within seconds."""
    return await svc.set_channel(ctx.settings, ctx.sessions, seller_id, channel, body)


@v1.post("/sellers/{seller_id}/channels/{channel}/enable", tags=["channels"])
async def enable_channel(ctx: Ctx, seller_id: SellerId, channel: Channel) -> svc.ChannelView:
    """Issue documents automatically for this channel's orders."""
    return await svc.set_auto_generate(ctx.settings, ctx.sessions, seller_id, channel, True)


@v1.post("/sellers/{seller_id}/channels/{channel}/disable", tags=["channels"])
async def disable_channel(ctx: Ctx, seller_id: SellerId, channel: Channel) -> svc.ChannelView:
    """Stop issuing for this channel; its orders are recorded as skipped."""
    return await svc.set_auto_generate(ctx.settings, ctx.sessions, seller_id, channel, False)


@v1.delete(
    "/sellers/{seller_id}/channels/{channel}",
    tags=["channels"],
    status_code=status.HTTP_204_NO_CONTENT,
)
async def remove_channel(ctx: Ctx, seller_id: SellerId, channel: Channel) -> None:
    await svc.remove_channel(ctx.settings, ctx.sessions, seller_id, channel)


# --- status ----------------------------------------------------------------------------------


@v1.get("/status", tags=["status"])
async def status_all(ctx: Ctx) -> svc.StatusReport:
    """Every seller's connections and, per channel, the last hour's outcomes."""
    return await svc.status(ctx.settings, ctx.sessions)


@v1.get("/sellers/{seller_id}/status", tags=["status"])
async def status_of(ctx: Ctx, seller_id: SellerId) -> svc.StatusReport:
    return await svc.status(ctx.settings, ctx.sessions, seller_id)


# --- public: probes (the OAuth callback is in workers/api_oauth.py) --------------------------


@public.get("/healthz", tags=["probes"])
async def healthz() -> dict[str, str]:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@public.get(
    "/readyz",
    tags=["probes"],
    responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    """The database answers at the migration head, and the broker answers metadata."""
    app = request.app
    checks = {
        "database": await _database_check(app.state.engine, app.state.migration_head),
        "broker": await _broker_check(app.state.settings),
    }
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(ready=ready, checks=checks)


async def _database_check(engine: AsyncEngine, head: str | None) -> str:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:
        return (
            f"unreachable or not migrated ({type(exc).__name__}): run `invoice-router db upgrade`"
        )
    if current != head:
        return f"at migration {current}, head is {head}: run `invoice-router db upgrade`"
    return "ok"


async def _broker_check(settings: Settings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    from adapters.kafka_admin import client_options

    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=5000)
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await admin.start()
            await admin.list_topics()
    except Exception as exc:
        return f"no metadata from {settings.kafka_bootstrap_servers} ({type(exc).__name__})"
    finally:
        await admin.close()
    return "ok"


# --- the application -------------------------------------------------------------------------


def _api_token(settings: Settings) -> bytes:
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ApiNotConfigured(
            "the configuration API needs INVOICE_ROUTER_API_TOKEN, a random bearer token of at "
            f"least {MIN_TOKEN_LENGTH} characters (e.g. `invoice-router secrets new-key`)"
        )
    return token.encode()


def _migration_head(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()


def create_app(settings: Settings) -> FastAPI:
    """The API over `settings`; refuses to exist without its bearer token and secret keys."""
    token = _api_token(settings)
    secret_box(settings)  # fail now, not on the first request, when no key is configured

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine, app.state.sessions = engine, session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="invoice-router configuration API",
        version=API_VERSION,
        description=(__doc__ or "").split("\n\n")[0],
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings, app.state.api_token = settings, token
    app.state.migration_head = _migration_head(settings)
    install_error_handlers(app)
    app.include_router(v1)
    app.include_router(oauth)
    app.include_router(public)
    app.include_router(webhooks)
    mount_console(app, settings)  # /console: the web console (workers/console/)
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API with uvicorn until SIGTERM/SIGINT."""
    import uvicorn

    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level=settings.log_level.lower()
    )
    logging.getLogger("uvicorn.access").addFilter(_NoQueryInAccessLog())
    uvicorn.Server(config).run()


def render_openapi() -> str:
    """The OpenAPI document as committed in docs/openapi.json (settings do not change it)."""
    settings = Settings(
        api_token="x" * MIN_TOKEN_LENGTH,
        secret_keys=(SecretBox.new_key(),),
        database_url="sqlite://",
    )
    return json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    rendered = render_openapi()
    if "--check" in argv:
        current = OPENAPI_FILE.read_text(encoding="utf-8") if OPENAPI_FILE.exists() else ""
        if current != rendered:
            print(f"stale: {OPENAPI_FILE.name}; run `python -m workers.api`", file=sys.stderr)
            return 1
        return 0
    OPENAPI_FILE.write_text(rendered, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
