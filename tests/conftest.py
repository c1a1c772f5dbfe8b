"""Session fixtures for real services: Kafka, PostgreSQL and the provider simulators."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import services


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with services.kafka_bootstrap() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with services.postgres_url() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, migrated-by-the-test database per test, dropped afterwards."""
    name = f"ir_test_{uuid.uuid4().hex[:10]}"
    url = services.throwaway_database(postgres_server_url, name)
    yield url
    services.drop_database(postgres_server_url, name)


@pytest.fixture
def uid() -> str:
    """A short unique suffix for topic, group and seller names on a shared broker."""
    return uuid.uuid4().hex[:8]
