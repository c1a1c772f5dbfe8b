"""Start-up check that `INVOICE_ROUTER_SECRET_KEYS` can be used and opens the stored secrets.

A valid key that is not the one that sealed the credentials used to surface only on the first
order, as an internal error per order. At start it is one operator problem with one fix: name
the connections (never their secrets) and the setting to correct.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from config.models import OAuthToken, ProviderConnection
from config.secrets import SecretBox, SecretsNotConfigured
from config.settings import Settings, secret_box
from workers.exit_codes import ExitCode
from workers.startup.refusal import Refusal

log = logging.getLogger(__name__)
SETTING = "INVOICE_ROUTER_SECRET_KEYS"
LISTED = 10  # connections named in the refusal line; the rest are counted


def check_keys(settings: Settings) -> SecretBox:
    """The box of the configured keys; refuse when there is none or one is malformed."""
    try:
        return secret_box(settings)
    except SecretsNotConfigured as exc:
        raise Refusal(ExitCode.CONFIGURATION, str(exc)) from None


def _opens(box: SecretBox, sealed: Iterable[str]) -> bool:
    try:
        for token in sealed:
            box.decrypt(token)
    except SecretsNotConfigured:
        return False
    return True


async def unreadable_connections(engine: AsyncEngine, box: SecretBox) -> tuple[list[str], int]:
    """Connections (`seller/name #id`) whose credentials or OAuth grant the keys cannot open,
    and how many connections hold any secret at all."""
    async with engine.connect() as conn:
        connections = (
            await conn.execute(
                select(
                    ProviderConnection.id,
                    ProviderConnection.seller_id,
                    ProviderConnection.name,
                    ProviderConnection.sealed_credentials,
                )
            )
        ).all()
        grants = (
            await conn.execute(
                select(OAuthToken.connection_id, OAuthToken.access_token, OAuthToken.refresh_token)
            )
        ).all()
    sealed: dict[int, list[str]] = {}
    for row in connections:
        if row.sealed_credentials:
            sealed.setdefault(row.id, []).append(row.sealed_credentials)
    for grant in grants:
        sealed.setdefault(grant.connection_id, []).extend([grant.access_token, grant.refresh_token])
    names = {row.id: f"{row.seller_id}/{row.name} #{row.id}" for row in connections}
    failed = [
        names.get(cid, f"#{cid}")
        for cid, tokens in sorted(sealed.items())
        if not _opens(box, tokens)
    ]
    return failed, len(sealed)


async def check_stored_secrets(engine: AsyncEngine, box: SecretBox) -> None:
    """Refuse when the keys open none of the stored secrets (the key is wrong: nothing could be
    issued). When only some do not open, start: the others' orders flow, the unreadable
    connections' orders are parked by issuance, and each is named in an ERROR line here."""
    failed, total = await unreadable_connections(engine, box)
    if not failed:
        return
    if len(failed) == total:
        shown = ", ".join(failed[:LISTED]) + (
            f" and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
        )
        raise Refusal(
            ExitCode.SECRETS,
            f"{SETTING} opens none of the {total} connection(s) with stored credentials "
            f"({shown}): set it to the key that sealed them (keep older keys after the newest "
            "until `invoice-router secrets rotate` has run)",
        )
    for name in failed:
        log.error(
            "connection %s: its stored credentials cannot be decrypted with %s (was the key "
            "that sealed them removed?); its orders wait until that key is added back and the "
            "workers restarted, or the connection is stored again",
            name,
            SETTING,
        )
