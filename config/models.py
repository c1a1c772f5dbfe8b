"""SQLAlchemy 2 models of the configuration store. Migrations live in config/migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


class Seller(Base):
    __tablename__ = "sellers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    # domain.vat.TaxProfile fields (config/tax_profile.py); empty: domestic VAT only
    tax_profile: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    updated_at: Mapped[dt.datetime] = _now()

    connections: Mapped[list[ProviderConnection]] = relationship(
        back_populates="seller", cascade="all, delete-orphan"
    )
    mappings: Mapped[list[ChannelMapping]] = relationship(
        back_populates="seller", cascade="all, delete-orphan"
    )


class ProviderConnection(Base):
    """A seller's account at an invoicing provider.

    `sealed_credentials` is a Fernet token of the JSON credentials (config/credentials.py): the
    plain values exist only in a worker's memory, never in the database or its backups.
    """

    __tablename__ = "provider_connections"
    __table_args__ = (UniqueConstraint("seller_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(32))
    sealed_credentials: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(32), default="ok")
    status_detail: Mapped[str | None] = mapped_column(String(1000), default=None)
    updated_at: Mapped[dt.datetime] = _now()

    seller: Mapped[Seller] = relationship(back_populates="connections")


class OAuthToken(Base):
    """A connection's OAuth grant, encrypted at rest (config/secrets.py).

    `version` increases with every refresh; `lease_until`/`lease_owner` let exactly one worker
    process refresh at a time (a refresh token is single-use: a second refresh with it fails
    with invalid_grant).
    """

    __tablename__ = "oauth_tokens"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("provider_connections.id", ondelete="CASCADE"), primary_key=True
    )
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    updated_at: Mapped[dt.datetime] = _now()


class OAuthStateUse(Base):
    """A consumed OAuth `state` nonce: a signed state completes one authorization, never two.

    Rows older than the state's lifetime can go: an expired state is refused by its signature.
    """

    __tablename__ = "oauth_state_uses"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class Issuance(Base):
    """The idempotency ledger: one row per legal document an order can produce.

    Keyed by (seller, channel, order, slot, refund id) where slot is `sale` or `correction`:
    whether the sale became an invoice or a receipt is recorded (`document_kind`), not keyed,
    so a configuration change between redeliveries can never yield a second sales document.
    Transitions are compare-and-set on (`state`, `lease_owner`); see docs/adr/0006.
    """

    __tablename__ = "issuances"
    __table_args__ = (
        UniqueConstraint(
            "seller_id", "channel", "order_id", "slot", "refund_id", name="uq_issuance_key"
        ),
        Index("ix_issuance_due", "state", "next_attempt_at"),
        Index("ix_issuance_order", "seller_id", "channel", "order_id"),
        Index("ix_issuance_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(200))
    slot: Mapped[str] = mapped_column(String(16))
    refund_id: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)  # compare-and-set on transitions
    document_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    park_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    connection_id: Mapped[int | None] = mapped_column(Integer, default=None)
    source_topic: Mapped[str] = mapped_column(String(300))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(Integer)
    source_event_id: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    source_headers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    event_value: Mapped[bytes] = mapped_column(LargeBinary)
    result_event: Mapped[str | None] = mapped_column(Text, default=None)
    provider_document_id: Mapped[str | None] = mapped_column(String(100), default=None)
    failure_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # an in-doubt create may still commit at the provider until then: no blind re-create before
    recreate_after: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    # when the entry first parked waiting for its original (bounds that wait)
    waiting_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = _now()


class ClearanceCheck(Base):
    """A document's way through KSeF, while the worker watches it (ADR 0004).

    Written in the transaction that records the document as issued; checked by any worker's
    scheduler under a lease (compare-and-set on `version`), like the ledger's claims.
    `next_check_at` is null once nothing more is expected (a final status, or given up).
    """

    __tablename__ = "clearance_checks"
    __table_args__ = (Index("ix_clearance_due", "next_check_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuance_id: Mapped[int] = mapped_column(
        ForeignKey("issuances.id", ondelete="CASCADE"), unique=True
    )
    seller_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(200))
    refund_id: Mapped[str | None] = mapped_column(String(200), default=None)
    source_event_id: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[int] = mapped_column(Integer)
    document_kind: Mapped[str] = mapped_column(String(16))
    provider_document_id: Mapped[str] = mapped_column(String(100))
    document_number: Mapped[str] = mapped_column(String(100))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32))
    provider_status: Mapped[str | None] = mapped_column(String(64), default=None)
    ksef_number: Mapped[str | None] = mapped_column(String(100), default=None)
    verification_link: Mapped[str | None] = mapped_column(String(1000), default=None)
    offline_deadline: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    announced: Mapped[list[Any]] = mapped_column(JSON, default=list)  # statuses already published
    # the channel e-mails documents: a company's invoice goes out once cleared, exactly once
    email_on_clearance: Mapped[bool] = mapped_column(Boolean, default=False)
    emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    resends: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = _now()


class OutboxMessage(Base):
    """A record to publish, written in the same transaction as the ledger transition it reports,
    so an outcome can never be lost between the database and Kafka."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(300))
    key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    value: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    headers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None, index=True
    )
    # set when the broker refused the record for good (too large, invalid topic): the row is
    # set aside so it never blocks the rows behind it; ops see it and may re-queue it
    quarantined_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class ChannelMapping(Base):
    """Per (seller, channel): which connection and department/series, and whether to issue."""

    __tablename__ = "channel_mappings"

    seller_id: Mapped[str] = mapped_column(
        ForeignKey("sellers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("provider_connections.id", ondelete="CASCADE")
    )
    target: Mapped[str | None] = mapped_column(String(100), default=None)
    auto_generate: Mapped[bool] = mapped_column(Boolean, default=True)
    document_policy: Mapped[str] = mapped_column(String(32), default="auto")
    send_by_email: Mapped[bool] = mapped_column(Boolean, default=False)
    # per-channel VAT defaults merged over the seller's tax profile (config/tax_profile.py)
    vat_defaults: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    updated_at: Mapped[dt.datetime] = _now()

    seller: Mapped[Seller] = relationship(back_populates="mappings")
    connection: Mapped[ProviderConnection] = relationship()


class ReplayAudit(Base):
    """One row per `invoice-router dlq replay` run (dry runs too): who replayed what, and when.

    The row is written before anything is published (`status` = `started`) and completed at the
    end, so a run that died half-way still shows which records it had re-published.
    """

    __tablename__ = "replay_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="started")
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[list[Any]] = mapped_column(JSON, default=list)


class WebhookSecret(Base):
    """A connection's webhook secret, as its SHA-256 only: the secret itself is shown once when
    generated and is never stored, so the database cannot hand it out (config/webhook_secrets.py).

    A table of its own, not the connection's options or sealed credentials: `config apply`
    rewrites those from YAML and would silently drop a generated secret.
    """

    __tablename__ = "webhook_secrets"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("provider_connections.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[dt.datetime] = _now()  # when the current secret replaced the last


class ConfigGeneration(Base):
    """One number the database bumps (triggers, migration 0012) on every change to sellers,
    connections or channel mappings: workers re-read their cached configuration only when it
    moved (config/store.py)."""

    __tablename__ = "config_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class ViesCheck(Base):
    """A definite VIES answer for a VAT id, kept for the Polish day it was given (issue 13).

    One row per id per day: the cache every worker reads (config/vies_cache.py), and the record
    of the check an intra-EU supply relied on. "VIES unavailable" is never stored.
    """

    __tablename__ = "vies_checks"

    vat_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # prefixed: DE123456789
    check_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # Polish calendar day
    valid: Mapped[bool] = mapped_column(Boolean)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    name: Mapped[str | None] = mapped_column(Text, default=None)
    request_id: Mapped[str | None] = mapped_column(String(100), default=None)  # consultation no.
