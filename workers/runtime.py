"""Wires the router's collaborators once per worker process (database, providers, ledger)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.registry import ProviderRegistry
from config.clock import utcnow
from config.db import create_engine, session_factory
from config.ledger import Ledger, Outbox
from config.settings import Settings, secret_box
from config.store import ConfigStore
from domain.ledger import RetrySchedule
from schemas.invoices import Provider
from workers.issuance import IssuanceService, Waits
from workers.publisher import OutboxPublisher, Send, Topics
from workers.router import OrderRouter


def waits_of(settings: Settings) -> Waits:
    seconds = dt.timedelta
    return Waits(
        commit_window={
            Provider.WFIRMA: seconds(seconds=settings.wfirma_commit_window_seconds),
            Provider.FAKTUROWNIA: seconds(seconds=settings.fakturownia_commit_window_seconds),
        },
        create_lease=seconds(seconds=settings.provider_timeout_seconds),
        original=seconds(seconds=settings.original_wait_seconds),
    )


@dataclass
class Runtime:
    engine: AsyncEngine
    providers: ProviderRegistry
    ledger: Ledger
    router: OrderRouter
    publisher: OutboxPublisher

    @classmethod
    def build(cls, settings: Settings, send: Send) -> Runtime:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        store = ConfigStore(sessions, secret_box(settings), ttl=settings.config_cache_seconds)
        providers = ProviderRegistry(settings, sessions)
        ledger = Ledger(sessions, lease_seconds=settings.claim_lease_seconds)
        topics = Topics(
            settings.topic_invoices_issued,
            settings.topic_invoices_failed,
            settings.app_id,
            settings.producer_max_request_bytes,
        )
        issuance = IssuanceService(
            store,
            providers,
            ledger,
            topics,
            RetrySchedule.parse(settings.retry_schedule),
            utcnow,
            waits_of(settings),
        )
        return cls(
            engine,
            providers,
            ledger,
            OrderRouter(ledger, issuance, topics),
            OutboxPublisher(Outbox(sessions), send),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.engine.dispose()
