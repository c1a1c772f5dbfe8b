"""Declarative configuration: `invoice-router config apply FILE.yaml`.

For every seller in the file, the file is the truth: its connections and channel mappings are
created, updated or removed to match. Sellers absent from the file are left alone. Applying
the same file twice changes nothing. Secrets are written as `${ENV_VAR}` and expanded here,
so configuration files can be committed without credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from config.credentials import read_credentials, write_credentials
from config.models import ChannelMapping, ProviderConnection, Seller
from config.secrets import SecretBox
from domain.routing import DocumentPolicy
from domain.vat import ViesPolicy
from schemas.common import ChannelName
from schemas.invoices import Provider

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionSpec(_Spec):
    name: str = Field(min_length=1, max_length=100)
    provider: Provider
    credentials: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class TaxSpec(_Spec):
    """The seller's tax profile (docs/vat.md): what the VAT decision may do for its orders."""

    intra_eu_registered: bool = Field(False, description="VAT-UE registered: may issue WDT")
    oss_registered: bool = Field(
        False, description="OSS registered or over the EU-wide 10,000 EUR distance-sales threshold"
    )
    vies_unavailable: ViesPolicy = Field(
        ViesPolicy.PARK, description="When VIES cannot answer: park (wait) or domestic VAT"
    )


class ChannelVatSpec(_Spec):
    """A channel's VAT defaults, for lines that do not say (docs/vat.md)."""

    margin_scheme_default: bool = Field(
        False, description="Every goods line under the margin scheme (e.g. a dismantler)"
    )
    split_payment_goods_default: bool = Field(
        False, description="Goods lines are Annex 15 goods (car parts): split payment over 15,000"
    )


def stored_json(spec: _Spec) -> dict[str, Any]:
    """A tax spec as its JSON column holds it: only what differs from the defaults."""
    return spec.model_dump(mode="json", exclude_defaults=True)


class ChannelSpec(_Spec):
    channel: ChannelName
    connection: str
    target: str | None = Field(None, description="Fakturownia department id / wFirma series id")
    auto_generate: bool = True
    document_policy: DocumentPolicy = DocumentPolicy.AUTO
    send_by_email: bool = False
    vat: ChannelVatSpec = Field(default_factory=ChannelVatSpec)


class SellerSpec(_Spec):
    id: str = Field(min_length=1, max_length=200)
    name: str
    tax: TaxSpec = Field(default_factory=TaxSpec)
    connections: list[ConnectionSpec] = Field(default_factory=list)
    channels: list[ChannelSpec] = Field(default_factory=list)


class ConfigFile(_Spec):
    sellers: list[SellerSpec]


ConnectionCheck = Callable[[ConnectionSpec], ConnectionSpec]
"""Validates and normalises one connection (e.g. an account link) before it is stored."""


@dataclass
class ApplyReport:
    changes: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.changes.append(what)


class ConfigError(ValueError):
    pass


def expand_env(value: Any, env: dict[str, str] | None = None) -> Any:
    """`${VAR}` in the parsed values (never in comments), recursively."""
    env = dict(os.environ) if env is None else env
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"environment variable {name} is referenced but not set")
        return env[name]

    return _ENV_REF.sub(sub, value)


def load_config(text: str, check: ConnectionCheck | None = None) -> ConfigFile:
    parsed = ConfigFile.model_validate(expand_env(yaml.safe_load(text)))
    for seller in parsed.sellers:
        names = {c.name for c in seller.connections}
        for ch in seller.channels:
            if ch.connection not in names:
                raise ConfigError(
                    f"seller {seller.id}: channel {ch.channel} uses unknown connection "
                    f"{ch.connection!r}"
                )
        if check:
            seller.connections = [check(c) for c in seller.connections]
    return parsed


async def apply_config(
    sessions: async_sessionmaker, config: ConfigFile, box: SecretBox
) -> ApplyReport:
    report = ApplyReport()
    async with sessions() as session, session.begin():
        for spec in config.sellers:
            await _apply_seller(session, spec, report, box)
    return report


async def load_seller(session: AsyncSession, seller_id: str) -> Seller | None:
    """A seller with its connections and mappings loaded (async sessions cannot lazy-load)."""
    return await session.scalar(
        select(Seller)
        .where(Seller.id == seller_id)
        .options(selectinload(Seller.connections), selectinload(Seller.mappings))
    )


async def _apply_seller(
    session: AsyncSession, spec: SellerSpec, report: ApplyReport, box: SecretBox
) -> None:
    seller = await load_seller(session, spec.id)
    tax = stored_json(spec.tax)
    if seller is None:
        seller = Seller(id=spec.id, name=spec.name, tax_profile=tax, connections=[], mappings=[])
        session.add(seller)
        report.note(f"seller {spec.id}: created")
    elif seller.name != spec.name:
        seller.name = spec.name
        report.note(f"seller {spec.id}: renamed")
    if seller.tax_profile != tax:
        seller.tax_profile = tax
        report.note(f"seller {spec.id}: tax profile updated")
    conns = _sync_connections(seller, spec, report, box)
    await session.flush()
    _sync_mappings(seller, spec, conns, report)


def upsert_connection(
    seller: Seller, spec: ConnectionSpec, box: SecretBox
) -> tuple[ProviderConnection, str | None]:
    """Create or update one connection of `seller`; the change made (`created`, `updated`) or
    None. New credentials or options reset the connection's state to `ok`: try again."""
    row = next((c for c in seller.connections if c.name == spec.name), None)
    values = {"provider": spec.provider.value, "options": spec.options}
    if row is None:
        row = ProviderConnection(name=spec.name, status="ok", **values)
        write_credentials(row, box, spec.credentials)
        seller.connections.append(row)
        return row, "created"
    changed = [k for k, v in values.items() if getattr(row, k) != v]
    for k in changed:
        setattr(row, k, values[k])
    if write_credentials(row, box, spec.credentials) or changed:
        row.status, row.status_detail = "ok", None
        return row, "updated"
    return row, None


def _sync_connections(
    seller: Seller, spec: SellerSpec, report: ApplyReport, box: SecretBox
) -> dict[str, ProviderConnection]:
    wanted = {c.name for c in spec.connections}
    for row in [c for c in seller.connections if c.name not in wanted]:
        seller.connections.remove(row)
        report.note(f"seller {spec.id}: connection {row.name} removed")
    conns = {}
    for c in spec.connections:
        conns[c.name], change = upsert_connection(seller, c, box)
        if change == "created":
            report.note(f"seller {spec.id}: connection {c.name} ({c.provider}) created")
        elif change:
            report.note(f"seller {spec.id}: connection {c.name} updated")
    return conns


def upsert_mapping(seller: Seller, spec: ChannelSpec, connection_id: int) -> str | None:
    """Create or update one channel mapping of `seller`; `mapped`, `updated` or None."""
    values = {
        "connection_id": connection_id,
        "target": spec.target,
        "auto_generate": spec.auto_generate,
        "document_policy": spec.document_policy.value,
        "send_by_email": spec.send_by_email,
        "vat_defaults": stored_json(spec.vat),
    }
    row = next((m for m in seller.mappings if m.channel == spec.channel), None)
    if row is None:
        seller.mappings.append(ChannelMapping(channel=spec.channel, **values))
        return "mapped"
    if all(getattr(row, k) == v for k, v in values.items()):
        return None
    for k, v in values.items():
        setattr(row, k, v)
    return "updated"


def _sync_mappings(
    seller: Seller, spec: SellerSpec, conns: dict[str, ProviderConnection], report: ApplyReport
) -> None:
    wanted = {c.channel for c in spec.channels}
    for row in [m for m in seller.mappings if m.channel not in wanted]:
        seller.mappings.remove(row)
        report.note(f"seller {spec.id}: channel {row.channel} removed")
    for c in spec.channels:
        change = upsert_mapping(seller, c, conns[c.connection].id)
        if change:
            report.note(f"seller {spec.id}: channel {c.channel} {change}")


def seller_view(seller: Seller, box: SecretBox) -> dict[str, Any]:
    """One seller's stored configuration without secrets (credential names only)."""
    by_id = {c.id: c.name for c in seller.connections}
    return {
        "id": seller.id,
        "name": seller.name,
        "tax": TaxSpec.model_validate(seller.tax_profile or {}).model_dump(mode="json"),
        "connections": [
            {
                "name": c.name,
                "provider": c.provider,
                "status": c.status,
                "credentials": sorted(read_credentials(c, box)),
                "options": c.options,
            }
            for c in sorted(seller.connections, key=lambda c: c.name)
        ],
        "channels": [
            {
                "channel": m.channel,
                "connection": by_id.get(m.connection_id),
                "target": m.target,
                "auto_generate": m.auto_generate,
                "document_policy": m.document_policy,
                "send_by_email": m.send_by_email,
                "vat": ChannelVatSpec.model_validate(m.vat_defaults or {}).model_dump(),
            }
            for m in sorted(seller.mappings, key=lambda m: m.channel)
        ],
    }


async def show_config(sessions: async_sessionmaker, box: SecretBox) -> dict[str, Any]:
    """The stored configuration without secrets (credential names only)."""
    async with sessions() as session:
        sellers = (
            await session.scalars(
                select(Seller)
                .order_by(Seller.id)
                .options(selectinload(Seller.connections), selectinload(Seller.mappings))
            )
        ).all()
        return {"sellers": [seller_view(s, box) for s in sellers]}
