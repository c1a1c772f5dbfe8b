"""The refusals seller onboarding raises, shared by every operation and mapped to exit codes
(workers/sellers_cli.py) and HTTP statuses (workers/api.py); their messages are safe to show.
"""

from __future__ import annotations

from pydantic import ValidationError

from domain.ports import ProviderAuthError, ProviderError
from domain.sellers import ProviderSwitch


class SellerServiceError(Exception):
    """A refusal the caller can act on; the message is safe to show (no secrets)."""


class NotFound(SellerServiceError):
    pass


class InvalidRequest(SellerServiceError):
    pass


class ProviderCheckFailed(SellerServiceError):
    """The provider refused or could not be reached; nothing was stored. `auth`: it refused
    the credentials (the seller must reconnect), rather than being unavailable."""

    def __init__(self, exc: ProviderError) -> None:
        super().__init__(f"{exc} ({exc.detail})" if exc.detail else str(exc))
        self.auth = isinstance(exc, ProviderAuthError)


class SwitchNotConfirmed(SellerServiceError):
    def __init__(self, switch: ProviderSwitch) -> None:
        super().__init__(switch.describe())
        self.switch = switch


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors(include_input=False)[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)
