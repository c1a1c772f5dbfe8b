"""Runtime settings from the environment (prefix `INVOICE_ROUTER_`) or a `.env` file.

`KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` are also read without the prefix, because that is
what the local service scripts print and what the tests receive.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.secrets import SecretBox

DEFAULT_CHANNELS = ("ovoko", "allegro", "amazon", "ebay", "shop")


def _comma_list(value: object) -> object:
    """`a,b,c` in the environment; a tuple when given in code."""
    if isinstance(value, str):
        return tuple(x.strip() for x in value.split(",") if x.strip())
    return value


def _env(name: str) -> AliasChoices:
    return AliasChoices(f"INVOICE_ROUTER_{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INVOICE_ROUTER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None

    database_url: str = Field("sqlite:///invoice-router.db", validation_alias=_env("DATABASE_URL"))

    app_id: str = Field("invoice-router", description="Faust app id; also the consumer group")
    topic_partitions: int = Field(4, ge=1, le=256)
    topic_replication_factor: int = Field(1, ge=1, le=16)
    channels: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)] = Field(
        DEFAULT_CHANNELS,
        min_length=1,
        description="Channel topics created at start; others are discovered",
    )
    topic_invoices_issued: str = "invoices.issued"
    topic_invoices_failed: str = "invoices.failed"
    topic_invoices_clearance: str = "invoices.clearance"
    orders_topic_pattern: str = Field(
        r"^orders\.[a-z0-9][a-z0-9_-]{0,63}$",
        description="Input topics to discover and subscribe to (one per sales channel)",
    )
    topic_discovery_seconds: float = Field(5.0, gt=0)
    config_cache_seconds: float = Field(2.0, ge=0, description="How stale a mapping may be")

    secret_keys: Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_comma_list)] = Field(
        (), description="Fernet keys, newest first; encrypts OAuth tokens at rest"
    )
    wfirma_api_url: str = "https://api2.wfirma.pl"
    wfirma_auth_url: str = "https://wfirma.pl/oauth2/auth"
    wfirma_app_key: SecretStr | None = Field(
        None, description="The integration's appKey (API-key mode), issued by wFirma per app"
    )
    worker_processes: int = Field(
        1, ge=1, description="Worker processes sharing each provider budget (rate limits)"
    )
    max_in_flight: int = Field(
        64, ge=1, le=10_000, description="Orders one worker process handles at once (ADR 0008)"
    )
    wfirma_requests_per_15s: int = Field(30, ge=1)
    wfirma_requests_per_minute: int = Field(80, ge=1)
    wfirma_requests_per_hour: int = Field(2400, ge=1)
    fakturownia_url_template: str = Field(
        "https://{prefix}.fakturownia.pl",
        description="Only the simulator and tests override this; {prefix} is the account prefix",
    )
    provider_timeout_seconds: float = Field(20.0, gt=0)
    vies_url: str = Field(
        "https://ec.europa.eu/taxation_customs/vies/rest-api",
        description="VIES REST API (EU VAT number checks); the simulator and tests override it",
    )
    retry_schedule: str = Field(
        "10s,1m,5m,30m,2h", description="Delays before each retry of a transient failure"
    )
    claim_lease_seconds: float = Field(
        60, gt=0, description="How long a crashed worker's claim blocks a takeover"
    )
    retry_poll_seconds: float = Field(1.0, gt=0)
    clearance_check_gaps: str = Field(
        "15s,1m,5m,15m,1h",
        description="Gaps between KSeF clearance checks of a document; the last one repeats",
    )
    clearance_check_days: float = Field(
        3, gt=0, description="How long a document's clearance is watched before giving up"
    )
    clearance_poll_seconds: float = Field(5.0, gt=0, description="How often due checks run")
    clearance_resend_gaps: str = Field(
        "1m,5m,15m",
        description="After a KSeF server_error: the re-read-then-re-send gaps (one re-send each, "
        "Fakturownia's advice), after which the document is rejected",
    )
    clearance_deadline_near_hours: float = Field(
        4, gt=0, description="Announce offline_deadline_near when fewer hours are left"
    )
    shutdown_grace_seconds: float = Field(
        25,
        gt=0,
        description="A stop (SIGTERM) ends within this: orders still in hand then resume from "
        "the last commit, as after a crash",
    )
    wfirma_commit_window_seconds: float = Field(
        300,
        ge=0,
        description="Longest a wFirma create may take to commit server-side: an in-doubt create "
        "is looked up over this window and created again only after it (no server-side key)",
    )
    fakturownia_commit_window_seconds: float = Field(
        60,
        ge=0,
        description="The same for Fakturownia, whose `oid_unique` also refuses a second create",
    )
    original_wait_seconds: float = Field(
        86400,
        gt=0,
        description="How long a refund waits for its sales document before it fails as "
        "original_document_missing",
    )
    consumer_session_timeout_seconds: float = Field(
        30, gt=0, description="How soon a dead worker's partitions move to a live one"
    )
    consumer_metadata_max_age_seconds: float = Field(
        10,
        gt=0,
        description="How often the consumer refreshes topic metadata. An assignment made while "
        "the broker was still loading a topic leaves that topic unassigned until the group "
        "leader's next refresh (aiokafka does not retry a topic that answered with an error)",
    )
    metrics_port: int | None = Field(None, description="Serve Prometheus /metrics on loopback")
    api_token: SecretStr | None = Field(
        None, description="Bearer token of the HTTP configuration API (`invoice-router api`)"
    )
    console_session_minutes: float = Field(
        480, gt=0, description="How long a web console sign-in lasts (workers/console/)"
    )
    log_level: str = "INFO"
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="The worker's event loop: `uvloop` (C, about a tenth less CPU per order) or "
        "`asyncio`'s own (the fallback; also used where uvloop is not installed)",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per line with correlation fields"
    )
    log_kafka_client_debug: bool = Field(
        False,
        description="At DEBUG, let aiokafka and Faust log at DEBUG too: their lines carry whole "
        "orders (buyers' NIPs and addresses), so they stay at INFO unless this is set",
    )
    metrics_refresh_seconds: float = Field(
        5.0, gt=0, description="How often backlog gauges and consumer lag are recomputed"
    )
    producer_max_request_bytes: int = Field(
        1_048_576,
        ge=16_384,
        description="Largest record the worker's producer sends; a dead letter that would not "
        "fit is published as a reference to its source record instead",
    )


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox([k.get_secret_value() for k in settings.secret_keys])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
