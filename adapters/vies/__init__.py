"""VIES, the EU's VAT number check (issue 13): the port, its REST client and its daily cache.

The worker depends on `ViesChecker` (`async check(vat_id) -> ViesResult`, raising
`ViesUnavailable`); production wires `CachedViesChecker(ViesClient(base_url=...), sessions)`.
"""

from adapters.vies.cached import CachedViesChecker
from adapters.vies.client import DEFAULT_URL, ViesClient
from adapters.vies.port import ViesChecker, ViesUnavailable
from adapters.vies.vatid import normalise_vat_id
from domain.vies import ViesResult

__all__ = [
    "DEFAULT_URL",
    "CachedViesChecker",
    "ViesChecker",
    "ViesClient",
    "ViesResult",
    "ViesUnavailable",
    "normalise_vat_id",
]
