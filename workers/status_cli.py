"""`invoice-router status [SELLER]`: per seller, its connections, channels and KSeF backlog."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from config.settings import get_settings
from workers.cli_support import table


def _report(seller_id: str | None) -> Any:
    """The sellers service's status report; its refusals become one-line errors."""
    from config.db import sessions_for
    from config.secrets import SecretsNotConfigured
    from workers.sellers import SellerServiceError, status

    settings = get_settings()

    async def run() -> Any:
        async with sessions_for(settings.database_url) as sessions:
            return await status(settings, sessions, seller_id)

    try:
        return asyncio.run(run())
    except (SellerServiceError, ValueError, SecretsNotConfigured) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("status")
@click.argument("seller_id", metavar="[SELLER]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
def status_command(seller_id: str | None, as_json: bool) -> None:
    """Connections' state, per channel the mapping and the last hour's outcomes, and the
    documents pending, offline or rejected in KSeF."""
    report = _report(seller_id)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    for s in report.sellers:
        click.echo(f"{s.id}  {s.name}")
        for c in s.connections:
            detail = f": {c.detail}" if c.detail else ""
            click.echo(f"  connection {c.name} ({c.provider.value}): {c.state.value}{detail}")
        rows = [
            ["channel", "connection", "target", "auto", "issued", "failed", "parked", "skipped"]
        ]
        for ch in s.channels:
            m, n = ch.mapping, ch.last_hour
            rows.append(
                [
                    ch.channel,
                    (m.connection or "-") if m else "(not mapped)",
                    (m.target or "-") if m else "-",
                    ("on" if m.auto_generate else "off") if m else "-",
                    *(str(v) for v in (n.issued, n.failed, n.parked, n.skipped)),
                ]
            )
        if s.channels:
            click.echo("  last hour:")
            click.echo(table(rows, indent="  "))
        k = s.ksef
        click.echo(f"  KSeF: {k.pending} pending, {k.offline} offline, {k.rejected} rejected")
    if not report.sellers:
        click.echo("no sellers configured")
