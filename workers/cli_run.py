"""Running a command's coroutine; refusals a user can act on become one-line errors."""

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
