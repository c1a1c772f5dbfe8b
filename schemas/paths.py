"""One notation for pointing at a field of an event, e.g. `data.order.lines[0].vat_rate`.

Dead-letter reasons (schema errors) and invoice.failed violations (preflight, corrections) both
name fields; a seller's tooling should be able to match them, so both are rendered here.
"""

from __future__ import annotations

from collections.abc import Iterable


def field_path(parts: Iterable[str | int]) -> str:
    """Keys joined by dots, indexes in brackets: ("lines", 0, "vat_rate") → lines[0].vat_rate."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
