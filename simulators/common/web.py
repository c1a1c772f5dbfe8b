"""Small aiohttp answer builders both simulators use."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(payload: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    """JSON as the providers write it: UTF-8 text, non-ASCII characters left as they are."""
    return web.Response(
        status=status,
        text=json.dumps(payload, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )
