"""Reading lenient request envelopes and writing strict numbered responses (reference §2.3).

Integrators send several shapes that all work live: numbered ``{"0": {"invoice": ...}}``,
un-numbered ``{"invoice": ...}``, an ``api`` root, and JSON arrays. Responses always use the
official numbered form without the ``api`` root, because that is what clients parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import OK


def unwrap_api(body: Any) -> dict[str, Any]:
    """Drop the optional ``api`` root; non-object bodies count as empty."""
    if isinstance(body, dict) and isinstance(body.get("api"), dict):
        return body["api"]
    return body if isinstance(body, dict) else {}


def items(node: Any, singular: str) -> list[Any]:
    """The records of a plural branch in any accepted shape, in key order."""
    if node is None:
        return []
    if isinstance(node, list):
        return [entry for element in node for entry in _entries(element, singular)]
    if not isinstance(node, dict):
        return []
    found: list[Any] = []
    if singular in node:
        value = node[singular]
        found.extend(value if isinstance(value, list) else [value])
    for key in sorted((k for k in node if k.isdigit()), key=int):
        found.extend(_entries(node[key], singular))
    return found


def _entries(element: Any, singular: str) -> list[Any]:
    if isinstance(element, dict) and singular in element:
        value = element[singular]
        return value if isinstance(value, list) else [value]
    return [element]


def records(body: dict[str, Any], module: str, singular: str) -> list[dict[str, Any]]:
    """Record dicts under ``module`` (e.g. ``invoices`` → ``invoice``); non-dicts are dropped."""
    branch = body.get(module)
    return [r for r in items(branch, singular) if isinstance(r, dict)]


def parameters(body: dict[str, Any], module: str) -> dict[str, Any]:
    """The ``parameters`` branch beside the records (find conditions, send options...)."""
    branch = body.get(module)
    found = branch.get("parameters") if isinstance(branch, dict) else None
    if isinstance(found, list):  # parameters sent as an array of {"parameter": ...}
        return {"parameter": items(found, "parameter")}
    return found if isinstance(found, dict) else {}


def named_parameters(params: dict[str, Any]) -> dict[str, str]:
    """``parameter`` name/value pairs (send/download options) as a plain mapping."""
    result: dict[str, str] = {}
    for entry in items(params, "parameter"):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            value = entry.get("value")
            result[entry["name"]] = "" if value is None else str(value)
    return result


def numbered(singular: str, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"0": {singular: row}, "1": ...}``: lists are objects keyed by position, never arrays."""
    return {str(i): {singular: row} for i, row in enumerate(rows)}


def envelope(
    module: str,
    singular: str,
    rows: Iterable[dict[str, Any]],
    *,
    code: str = OK,
    message: str | None = None,
    page_info: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A module response: numbered records, optional ``parameters``, and ``status``."""
    branch = numbered(singular, rows)
    if page_info is not None:
        branch["parameters"] = page_info
    status: dict[str, str] = {"code": code}
    if message:
        status["message"] = message
    return {module: branch, "status": status}


def status_only(code: str = OK, message: str | None = None) -> dict[str, Any]:
    status: dict[str, str] = {"code": code}
    if message:
        status["message"] = message
    return {"status": status}


def relation_id(record: dict[str, Any], name: str) -> Any:
    """A relation given as ``name: {"id": X}`` or as flat ``name_id: X`` (§2.8 accepts both)."""
    nested = record.get(name)
    if isinstance(nested, dict) and nested.get("id") not in (None, ""):
        return nested["id"]
    flat = record.get(f"{name}_id")
    return None if flat in (None, "") else flat
