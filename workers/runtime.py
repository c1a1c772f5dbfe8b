"""Wires the router's collaborators once per worker process (database, providers, publisher)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.registry import ProviderRegistry
from config.db import create_engine, session_factory
from config.settings import Settings
from config.store import ConfigStore
from workers.publisher import OutcomePublisher, SendAndWait
from workers.router import OrderRouter


@dataclass
class Runtime:
    engine: AsyncEngine
    providers: ProviderRegistry
    router: OrderRouter
    publisher: OutcomePublisher

    @classmethod
    def build(cls, settings: Settings, send: SendAndWait) -> Runtime:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        store = ConfigStore(sessions, ttl=settings.config_cache_seconds)
        providers = ProviderRegistry(settings, sessions)
        return cls(
            engine,
            providers,
            OrderRouter(store, providers),
            OutcomePublisher(
                send,
                consumer_group=settings.app_id,
                issued_topic=settings.topic_invoices_issued,
                failed_topic=settings.topic_invoices_failed,
            ),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.engine.dispose()
