"""What the command-line modules share: running a command's coroutine, refusals a user can act
on as one-line errors, and aligned text tables."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def run_or_explain(coro: Coroutine[Any, Any, T]) -> T:
    """Bad input, missing secrets and provider refusals: a message, not a traceback."""
    from config.secrets import SecretsNotConfigured
    from domain.ports import ProviderError

    try:
        return run_sync(coro)
    except (ValueError, SecretsNotConfigured, ProviderError) as exc:
        raise click.ClickException(str(exc)) from exc


def table(rows: list[list[str]], indent: str = "") -> str:
    """Rows as columns padded to their widest cell (the first row: the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )
