"""HTML forms into the service layer's pydantic models, and their refusals into field errors.

A checkbox is absent from a form when unticked, and an empty text field means "not given": both
become what the JSON API would receive for the same intent. Messages never echo the input
(workers/api_errors.py), since a field may hold a token or a secret.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from workers.api_errors import without_input

M = TypeVar("M", bound=BaseModel)


async def fields(request: Request) -> dict[str, str]:
    """The submitted text fields, without the CSRF token and without empty values."""
    form = await request.form()
    return {
        k: v.strip() if k not in SECRET_FIELDS else v
        for k, v in form.items()
        if isinstance(v, str) and k != "csrf" and v.strip()
    }


SECRET_FIELDS = frozenset({"api_token", "client_secret", "token"})


def ticked(form: dict[str, str], name: str) -> bool:
    return form.get(name) in {"on", "true", "1"}


def errors_of(exc: ValidationError) -> dict[str, str]:
    """Field name to message, the input masked; errors of the model as a whole under `form`."""
    found: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        message = err["msg"].removeprefix("Value error, ")
        found.setdefault(name, without_input(message, err.get("input")))
    return found


def parse(model: type[M], data: dict[str, Any]) -> M | dict[str, str]:
    """The validated model, or its field errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return errors_of(exc)


def safe_values(form: dict[str, str]) -> dict[str, str]:
    """What a re-rendered form may show again: never a secret."""
    return {k: v for k, v in form.items() if k not in SECRET_FIELDS}
