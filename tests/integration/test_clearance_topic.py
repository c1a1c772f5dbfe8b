"""A starting worker creates `invoices.clearance` with the other output topics: broker
auto-creation is off, so a clearance event sent to a missing topic would fail (ADR 0004)."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka_admin import ensure_base_topics
from config.settings import Settings

pytestmark = pytest.mark.integration


async def test_base_topics_include_the_clearance_topic(kafka_bootstrap: str, uid: str) -> None:
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_invoices_issued=f"invoices.issued-{uid}",
        topic_invoices_failed=f"invoices.failed-{uid}",
        topic_invoices_clearance=f"invoices.clearance-{uid}",
        channels=(f"shop-{uid}",),
        topic_partitions=2,
    )
    created = await ensure_base_topics(settings)
    assert f"invoices.clearance-{uid}" in created

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([f"invoices.clearance-{uid}"])
    finally:
        await admin.close()
    assert described["error_code"] == 0
    assert len(described["partitions"]) == 2
    assert await ensure_base_topics(settings) == []  # idempotent on every start
