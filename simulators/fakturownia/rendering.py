"""Shaping stored documents into API responses.

Stored documents keep everything (including correction snapshots); each endpoint decides what
to show: lists hide positions unless asked, snapshots appear only with
``correction_positions=full``, and ``fields[invoice]`` trims keys.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .positions import SNAPSHOT_KEYS


def render_invoice(
    doc: dict[str, Any],
    *,
    with_positions: bool = True,
    correction_full: bool = False,
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A deep copy safe to hand out (callers may mutate it, and the store lives on)."""
    result = copy.deepcopy(doc)
    if not with_positions:
        result.pop("positions", None)
    elif not correction_full:
        for position in result["positions"]:
            for key in SNAPSHOT_KEYS:
                position.pop(key, None)
    if fields:
        result = {key: result.get(key) for key in fields}
    return result


def parse_fields(raw: str | None) -> list[str] | None:
    """``fields[invoice]=id,number`` → ``["id", "number"]``; absent or blank → ``None``."""
    if not raw:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    return names or None
