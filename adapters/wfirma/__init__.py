"""wFirma adapter (API2, API-key or OAuth 2.0 auth). See shared/reference/wfirma-api.md and the
simulator in simulators/wfirma/."""

from adapters.wfirma.auth import AccessTokens, ApiKeyAuth, OAuthAuth, WfirmaAuth
from adapters.wfirma.mapping import WfirmaOptions
from adapters.wfirma.provider import WfirmaCompany, WfirmaProvider
from adapters.wfirma.rate_limit import RateLimiter

__all__ = [
    "AccessTokens",
    "ApiKeyAuth",
    "OAuthAuth",
    "RateLimiter",
    "WfirmaAuth",
    "WfirmaCompany",
    "WfirmaOptions",
    "WfirmaProvider",
]
