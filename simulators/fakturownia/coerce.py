"""Lenient coercion of request values, mirroring how Rails params treat "1"/"yes"/true etc."""

from __future__ import annotations

from datetime import date

_TRUE = frozenset({"1", "true", "yes", "t", "on", "y"})


def is_truthy(value: object) -> bool:
    """Booleans arrive as true/false, 1/0, "1"/"0", "yes" or "true"; anything else is false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def text_or_none(value: object) -> str | None:
    """Normalise optional text fields: numbers become strings, blanks become ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_day(value: object) -> date:
    """Parse ``YYYY-MM-DD``; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return date.fromisoformat(value.strip())


def is_valid_sell_date(value: str) -> bool:
    """``sell_date`` may be a day (``YYYY-MM-DD``) or a whole month (``YYYY-MM``)."""
    candidate = value if len(value) != 7 else f"{value}-01"
    try:
        date.fromisoformat(candidate)
    except ValueError:
        return False
    return True


def parse_int(value: object) -> int | None:
    """Parse ids and counters that may arrive as numbers or numeric strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
