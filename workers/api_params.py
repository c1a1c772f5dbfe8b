"""What the configuration API's routes take: the request context and validated path ids.

Path ids reach SQL as they are: PostgreSQL refuses a NUL character in text (SQLite stores it),
so an id carrying one is refused as invalid input up front, like a body field carrying one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.settings import Settings
from schemas.common import ChannelName
from workers.sellers.models import no_nul


@dataclass(frozen=True)
class Context:
    settings: Settings
    sessions: async_sessionmaker


def _context(request: Request) -> Context:
    return Context(request.app.state.settings, request.app.state.sessions)


Ctx = Annotated[Context, Depends(_context)]
SellerId = Annotated[str, Path(min_length=1, max_length=200), AfterValidator(no_nul)]
ConnectionName = Annotated[str, Path(min_length=1, max_length=100), AfterValidator(no_nul)]
Channel = Annotated[ChannelName, Path(description="Sales channel, e.g. ovoko")]
