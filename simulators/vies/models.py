"""Configuration objects of the VIES simulator: registered numbers and fault rules.

Plain dataclasses that round-trip through JSON, so tests build them inline and the standalone
process (`--numbers` file, `/__sim/` control API) takes exactly the same shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple, get_args

from simulators.common.config import JsonConfig
from simulators.common.faults import BaseFaultRule

# The codes VIES knows, as `checkVatService.wsdl` and the REST API spell them. Greece is `EL`;
# `XI` is Northern Ireland (goods only).
MEMBER_STATES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
)
# The error codes VIES documents (the test service's list in checkVatTestService.wsdl).
ERROR_CODES = frozenset(
    {
        "INVALID_INPUT",
        "INVALID_REQUESTER_INFO",
        "SERVICE_UNAVAILABLE",
        "MS_UNAVAILABLE",
        "TIMEOUT",
        "VAT_BLOCKED",
        "IP_BLOCKED",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ_TIME",
        "MS_MAX_CONCURRENT_REQ",
        "MS_MAX_CONCURRENT_REQ_TIME",
    }
)
_SEPARATORS = re.compile(r"[\s.\-/]")

FaultAction = Literal["latency", "http_5xx", "vies_error", "drop"]
FAULT_ACTIONS: frozenset[str] = frozenset(get_args(FaultAction))


def split_vat_id(vat_id: str) -> tuple[str, str]:
    """`"GR 123.456.789"` -> `("EL", "123456789")`: VIES's country code and the number."""
    compact = _SEPARATORS.sub("", vat_id).upper()
    country = "EL" if compact[:2] == "GR" else compact[:2]
    if country not in MEMBER_STATES or len(compact) < 4:
        raise ValueError(f"not a VAT id of a VIES member state: {vat_id!r}")
    return country, compact[2:]


@dataclass
class KnownNumber(JsonConfig):
    """A VAT id the simulated registries hold; ids not registered answer `valid: false`.

    `valid=False` stands for a number that was registered and is no longer active.
    `name`/`address` `None` answer `"---"`, as VIES does for states that do not disclose them.
    """

    vat_id: str
    valid: bool = True
    name: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        self.vat_id = "".join(split_vat_id(self.vat_id))


@dataclass
class FaultRule(BaseFaultRule):
    """A scripted misbehaviour of the next matching check(s).

    - `latency`: answer normally after `delay_ms` (past the client's timeout: a timeout);
    - `http_5xx`: the service is down: a gateway's HTML page with `status` (default 503);
    - `vies_error`: VIES's own JSON error `error` (`MS_UNAVAILABLE`, `TIMEOUT`,
      `SERVICE_UNAVAILABLE`, `MS_MAX_CONCURRENT_REQ`, `INVALID_INPUT`, ...) with `status`
      (default: 400 for input errors, else 200, as VIES answers them);
    - `drop`: the connection closes without an answer.

    `country` limits the rule to checks of one member state (`"*"`: all). `path_regex` is
    searched in the API path (`/check-vat-number`, `/ms/DE/vat/123`).
    """

    actions: ClassVar[frozenset[str]] = FAULT_ACTIONS

    action: FaultAction
    country: str = "*"
    error: str = "SERVICE_UNAVAILABLE"
    status: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.country = self.country.upper()
        self.error = self.error.upper()
        if self.action == "vies_error" and self.error not in ERROR_CODES:
            raise ValueError(f"unknown VIES error code: {self.error!r}")
        if self.country != "*" and self.country not in MEMBER_STATES:
            raise ValueError(f"unknown member state: {self.country!r}")


class RequestRecord(NamedTuple):
    """One API call: the VAT id it asked about (`""` when unreadable) and the status answered
    (`None` when the connection was dropped)."""

    method: str
    path: str
    vat_id: str
    status: int | None
