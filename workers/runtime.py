"""Wires the router's collaborators once per worker process (database, providers, ledger)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.registry import ProviderRegistry
from adapters.vies import CachedViesChecker, ViesClient
from config.clearance import ClearanceStore
from config.clock import utcnow
from config.db import create_engine, session_factory
from config.ledger import Ledger, Outbox
from config.settings import Settings, secret_box
from config.store import ConfigStore
from domain.clearance import CheckPolicy
from domain.ledger import RetrySchedule
from schemas.invoices import Provider
from workers.clearance import ClearanceTracker
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
        first_clearance_check=seconds(seconds=policy_of(settings).gaps[0]),
        original=seconds(seconds=settings.original_wait_seconds),
    )


def policy_of(settings: Settings) -> CheckPolicy:
    return CheckPolicy(
        gaps=RetrySchedule.parse(settings.clearance_check_gaps).delays,
        give_up_after=dt.timedelta(days=settings.clearance_check_days),
        deadline_near=dt.timedelta(hours=settings.clearance_deadline_near_hours),
        resend_gaps=(resends := RetrySchedule.parse(settings.clearance_resend_gaps).delays),
        max_resends=len(resends),
    )


@dataclass
class Runtime:
    engine: AsyncEngine
    providers: ProviderRegistry
    ledger: Ledger
    router: OrderRouter
    publisher: OutboxPublisher
    clearance: ClearanceTracker
    vies: ViesClient | None = None

    @classmethod
    def build(cls, settings: Settings, send: Send) -> Runtime:
        # orders hold a connection only per statement batch, not while the provider works
        engine = create_engine(settings.database_url, pool_size=min(settings.max_in_flight, 16) + 4)
        sessions = session_factory(engine)
        store = ConfigStore(sessions, secret_box(settings), ttl=settings.config_cache_seconds)
        providers = ProviderRegistry(settings, sessions)
        ledger = Ledger(sessions, lease_seconds=settings.claim_lease_seconds)
        topics = Topics(
            settings.topic_invoices_issued,
            settings.topic_invoices_failed,
            settings.app_id,
            settings.producer_max_request_bytes,
            settings.topic_invoices_clearance,
        )
        vies = ViesClient(base_url=settings.vies_url, timeout=settings.provider_timeout_seconds)
        issuance = IssuanceService(
            store,
            providers,
            ledger,
            topics,
            RetrySchedule.parse(settings.retry_schedule),
            utcnow,
            waits_of(settings),
            vies=CachedViesChecker(vies, sessions),  # the VAT decision's VIES checks (issue 13)
        )
        clearance = ClearanceTracker(
            ClearanceStore(
                sessions, lease_seconds=settings.claim_lease_seconds, owner=ledger.owner
            ),
            store,
            providers,
            topics,
            policy_of(settings),
            utcnow,
        )
        return cls(
            engine,
            providers,
            ledger,
            OrderRouter(ledger, issuance, topics),
            OutboxPublisher(Outbox(sessions), send),
            clearance,
            vies,
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
        if self.vies is not None:
            await self.vies.aclose()
        await self.engine.dispose()
