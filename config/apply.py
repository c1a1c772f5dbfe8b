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

from config.models import ChannelMapping, ProviderConnection, Seller
from domain.routing import DocumentPolicy
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


class ChannelSpec(_Spec):
    channel: ChannelName
    connection: str
    target: str | None = Field(None, description="Fakturownia department id / wFirma series id")
    auto_generate: bool = True
    document_policy: DocumentPolicy = DocumentPolicy.AUTO
    send_by_email: bool = False


class SellerSpec(_Spec):
    id: str = Field(min_length=1, max_length=200)
    name: str
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


async def apply_config(sessions: async_sessionmaker, config: ConfigFile) -> ApplyReport:
    report = ApplyReport()
    async with sessions() as session, session.begin():
        for spec in config.sellers:
            await _apply_seller(session, spec, report)
    return report


async def _apply_seller(session: AsyncSession, spec: SellerSpec, report: ApplyReport) -> None:
    seller = await session.scalar(
        select(Seller)
        .where(Seller.id == spec.id)
        .options(selectinload(Seller.connections), selectinload(Seller.mappings))
    )
    if seller is None:
        seller = Seller(id=spec.id, name=spec.name, connections=[], mappings=[])
        session.add(seller)
        report.note(f"seller {spec.id}: created")
    elif seller.name != spec.name:
        seller.name = spec.name
        report.note(f"seller {spec.id}: renamed")
    conns = _sync_connections(seller, spec, report)
    await session.flush()
    _sync_mappings(seller, spec, conns, report)


def _sync_connections(
    seller: Seller, spec: SellerSpec, report: ApplyReport
) -> dict[str, ProviderConnection]:
    existing = {c.name: c for c in seller.connections}
    wanted = {c.name: c for c in spec.connections}
    for name in existing.keys() - wanted.keys():
        seller.connections.remove(existing.pop(name))
        report.note(f"seller {spec.id}: connection {name} removed")
    for name, c in wanted.items():
        row = existing.get(name)
        values = {"provider": c.provider.value, "credentials": c.credentials, "options": c.options}
        if row is None:
            row = ProviderConnection(name=name, status="ok", **values)
            seller.connections.append(row)
            existing[name] = row
            report.note(f"seller {spec.id}: connection {name} ({c.provider}) created")
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.status, row.status_detail = "ok", None  # new credentials: try again
            report.note(f"seller {spec.id}: connection {name} updated")
    return existing


def _sync_mappings(
    seller: Seller, spec: SellerSpec, conns: dict[str, ProviderConnection], report: ApplyReport
) -> None:
    existing = {m.channel: m for m in seller.mappings}
    wanted = {c.channel: c for c in spec.channels}
    for channel in existing.keys() - wanted.keys():
        seller.mappings.remove(existing[channel])
        report.note(f"seller {spec.id}: channel {channel} removed")
    for channel, c in wanted.items():
        values = {
            "connection_id": conns[c.connection].id,
            "target": c.target,
            "auto_generate": c.auto_generate,
            "document_policy": c.document_policy.value,
            "send_by_email": c.send_by_email,
        }
        row = existing.get(channel)
        if row is None:
            seller.mappings.append(ChannelMapping(channel=channel, **values))
            report.note(f"seller {spec.id}: channel {channel} mapped")
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.note(f"seller {spec.id}: channel {channel} updated")


async def show_config(sessions: async_sessionmaker) -> dict[str, Any]:
    """The stored configuration without secrets (credential names only)."""
    async with sessions() as session:
        sellers = (
            await session.scalars(
                select(Seller)
                .order_by(Seller.id)
                .options(selectinload(Seller.connections), selectinload(Seller.mappings))
            )
        ).all()
        by_id = {c.id: c.name for s in sellers for c in s.connections}
        return {
            "sellers": [
                {
                    "id": s.id,
                    "name": s.name,
                    "connections": [
                        {
                            "name": c.name,
                            "provider": c.provider,
                            "status": c.status,
                            "credentials": sorted(c.credentials),
                            "options": c.options,
                        }
                        for c in sorted(s.connections, key=lambda c: c.name)
                    ],
                    "channels": [
                        {
                            "channel": m.channel,
                            "connection": by_id.get(m.connection_id),
                            "target": m.target,
                            "auto_generate": m.auto_generate,
                            "document_policy": m.document_policy,
                            "send_by_email": m.send_by_email,
                        }
                        for m in sorted(s.mappings, key=lambda m: m.channel)
                    ],
                }
                for s in sellers
            ]
        }
