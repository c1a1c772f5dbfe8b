"""How the configuration API refuses: JSON problems that never carry what the client sent.

FastAPI's own 422 lists each error's `input` and `ctx`, and a validator's message may quote
the rejected value (e.g. an account link with a token pasted into it): the input may be a
secret, so errors keep field, message and type only, with the input masked in the message.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from workers import sellers as svc
from workers.onboarding import OnboardingError

MASK = "<input>"
# a shorter bare value is no secret, and masking every "http" in a message would mangle it
_MIN_BARE = 6


def without_input(message: str, value: object) -> str:
    """`message` with `value` (quoted or bare, as given, stripped or lowercased) masked."""
    if not isinstance(value, str) or not value:
        return message
    message = message.replace(repr(value), MASK)
    for form in sorted({value, value.strip(), value.strip().lower()}, key=len, reverse=True):
        if len(form) >= _MIN_BARE:
            message = message.replace(form, MASK)
    return message


def field_errors(exc: RequestValidationError) -> JSONResponse:
    """Field names and messages only: the input (which may hold a secret) is never echoed."""
    errors = [
        {"loc": list(e["loc"]), "msg": without_input(e["msg"], e.get("input")), "type": e["type"]}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def problem(code: int, exc: Exception, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": str(exc), **extra}, status_code=code)


def _answer(code: int) -> Any:
    """A handler answering `code` with the exception's message (safe to show by contract)."""

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return problem(code, exc)

    return handler


def install_error_handlers(app: FastAPI) -> None:
    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return field_errors(exc)

    async def switch(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, svc.SwitchNotConfirmed)
        names = [c.name for c in exc.switch.connections]
        return problem(409, exc, connections=names, channels=list(exc.switch.channels))

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"loc": ["body"], "msg": str(exc), "type": "invalid_request"}]},
            status_code=422,
        )

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(svc.SwitchNotConfirmed, switch)
    app.add_exception_handler(svc.InvalidRequest, invalid)
    app.add_exception_handler(svc.NotFound, _answer(404))
    app.add_exception_handler(svc.ProviderCheckFailed, _answer(400))
    app.add_exception_handler(OnboardingError, _answer(400))
