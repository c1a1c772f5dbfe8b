"""Turn provider errors into invoice.failed payloads a seller or operator can act on."""

from __future__ import annotations

from domain.ports import (
    ProviderAuthError,
    ProviderError,
    ProviderInDoubt,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderValidationError,
)
from schemas.invoices import Failure, FailureClass, FailureCode, Violation


def failure_from_provider_error(exc: ProviderError, attempts: int) -> Failure:
    code, cls, advice = _classify(exc)
    violations = [
        Violation(field=f"provider.{name}", code="provider_validation", message="; ".join(msgs))
        for name, msgs in getattr(exc, "fields", {}).items()
    ]
    return Failure(
        code=code,
        failure_class=cls,
        message=f"{exc}. {advice}".strip(),
        attempts=attempts,
        violations=violations,
        provider_detail=exc.detail,
    )


_CLASSES: tuple[tuple[type[ProviderError], FailureCode, FailureClass, str], ...] = (
    (
        ProviderAuthError,
        FailureCode.PROVIDER_AUTH_FAILED,
        FailureClass.PERMANENT,
        "Reconnect the invoicing account; waiting orders are issued once it is connected again.",
    ),
    (
        ProviderValidationError,
        FailureCode.PROVIDER_REJECTED,
        FailureClass.PERMANENT,
        "Correct the listed fields (order data or provider settings), then replay.",
    ),
    (
        ProviderInDoubt,
        FailureCode.PROVIDER_IN_DOUBT,
        FailureClass.IN_DOUBT,
        "The document may exist: check the provider for this order before issuing by hand.",
    ),
    (
        ProviderRateLimited,
        FailureCode.PROVIDER_RATE_LIMITED,
        FailureClass.RETRYABLE_EXHAUSTED,
        "The provider kept throttling; replay later.",
    ),
    (
        ProviderUnavailable,
        FailureCode.PROVIDER_UNAVAILABLE,
        FailureClass.RETRYABLE_EXHAUSTED,
        "The provider was unreachable; replay when it is back.",
    ),
)


def _classify(exc: ProviderError) -> tuple[FailureCode, FailureClass, str]:
    for cls, code, failure_class, advice in _CLASSES:
        if isinstance(exc, cls):
            return code, failure_class, advice
    return FailureCode.PROVIDER_REJECTED, FailureClass.PERMANENT, "See the provider detail."
