"""Request budgets (reference §6): sliding windows of 30 / 15 s, 80 / min and 2 400 / h.

Budgets are kept per (login, integration), the integration being the ``appKey`` or the OAuth
``client_id``, on the simulated clock. Only admitted requests spend budget (UNCONFIRMED); a
refused one answers ``TOTAL REQUESTS LIMIT EXCEEDED`` with HTTP 200 unless the login's
``RateLimits.http_status`` says otherwise (e.g. 429). No ``Retry-After`` (none documented).
"""

from __future__ import annotations

from collections import deque

from .errors import RATE_LIMIT_MESSAGE, TOTAL_REQUESTS_LIMIT_EXCEEDED, ApiError
from .models import RateLimits
from .state import SimStore


def admit(store: SimStore, limits: RateLimits | None, key: tuple[str, ...], moment: float) -> None:
    """Spend one request of the budget, or raise the documented limit error."""
    if limits is None:
        return
    window = store.rate_windows.setdefault(key, deque())
    longest = max(seconds for seconds, _ in limits.windows())
    while window and window[0] <= moment - longest:
        window.popleft()
    for seconds, budget in limits.windows():
        recent = sum(1 for t in window if t > moment - seconds)
        if recent >= budget:
            raise ApiError(
                TOTAL_REQUESTS_LIMIT_EXCEEDED, RATE_LIMIT_MESSAGE, http_status=limits.http_status
            )
    window.append(moment)
