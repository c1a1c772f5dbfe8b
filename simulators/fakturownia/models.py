"""Configuration objects for the simulator: accounts, departments and fault rules.

They are plain dataclasses so tests can build them inline, and they round-trip through JSON so
the standalone process (accounts file, ``/__sim/`` control API) uses exactly the same shapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, get_args

from simulators.common.config import JsonConfig
from simulators.common.faults import BaseFaultRule

FaultAction = Literal[
    "latency",
    "http_5xx",
    "http_429",
    "hang_after_commit",
    "drop_after_commit",
    "revoke_token",
]
FAULT_ACTIONS: frozenset[str] = frozenset(get_args(FaultAction))

GovAutoSendMode = Literal["pl_companies", "all_companies", "all"]
GOV_AUTO_SEND_MODES: frozenset[str] = frozenset(get_args(GovAutoSendMode))

KsefOutcome = Literal["ok", "send_error", "server_error"]
KSEF_OUTCOMES: frozenset[str] = frozenset(get_args(KsefOutcome))


@dataclass
class SimDepartment(JsonConfig):
    """A seller company ("dział"); its data fills ``seller_*`` when an invoice names it."""

    id: int
    name: str
    shortcut: str = ""
    tax_no: str = ""
    tax_no_kind: str = ""
    street: str = ""
    post_code: str = ""
    city: str = ""
    country: str = "PL"
    person: str = ""
    email: str = ""
    phone: str = ""
    www: str = ""
    bank: str = ""
    bank_account: str = ""
    bank_account_currency: str = "PLN"
    main: bool = False
    invoice_pattern: str | None = None


@dataclass
class SimAccount(JsonConfig):
    """One Fakturownia account (subdomain) with the settings that change API behaviour.

    ``ksef_delay_seconds`` and ``ksef_outcome`` are simulator knobs: how long KSeF "processing"
    lasts and how it ends, so adapters can be tested against slow or failing KSeF (per-document
    scripts: ``KsefRule``). ``offline24_for_backdated`` models Fakturownia treating an
    ``issue_date`` before today as OFFLINE24 (KSeF.md "Automatyczne wykrywanie trybu OFFLINE24");
    it is opt-in because existing suites issue with pinned past dates.
    ``webhook_url`` stands for an account webhook (README "Webhooki"): KSeF status changes are
    POSTed there with ``webhook_token`` as ``api_token`` (see ``webhooks``).
    """

    prefix: str
    api_token: str
    departments: list[SimDepartment] = field(default_factory=list)
    ksef_enabled: bool = False
    gov_auto_send_mode: GovAutoSendMode | None = None
    validate_invoices_for_gov: bool = True
    ksef_delay_seconds: float = 1.0
    ksef_outcome: KsefOutcome = "ok"
    offline24_for_backdated: bool = False
    webhook_url: str | None = None
    webhook_token: str = ""

    def __post_init__(self) -> None:
        if not self.prefix or "/" in self.prefix:
            raise ValueError(f"invalid account prefix: {self.prefix!r}")
        if self.gov_auto_send_mode is not None and (
            self.gov_auto_send_mode not in GOV_AUTO_SEND_MODES
        ):
            raise ValueError(f"invalid gov_auto_send_mode: {self.gov_auto_send_mode!r}")
        if self.ksef_outcome not in KSEF_OUTCOMES:
            raise ValueError(f"invalid ksef_outcome: {self.ksef_outcome!r}")
        self.departments = [
            d if isinstance(d, SimDepartment) else SimDepartment.from_dict(d)
            for d in self.departments
        ]

    def department(self, department_id: int) -> SimDepartment | None:
        return next((d for d in self.departments if d.id == department_id), None)

    def default_department(self) -> SimDepartment | None:
        """The account's own company data: the ``main`` department, else the first one."""
        return next((d for d in self.departments if d.main), None) or next(
            iter(self.departments), None
        )


@dataclass
class FaultRule(BaseFaultRule):
    """A scripted misbehaviour for requests whose method and account-relative path match.

    ``path_regex`` is searched (``re.search``) in the path below the account, e.g.
    ``/invoices.json``. ``times`` counts matches left; ``-1`` means forever.
    """

    actions: ClassVar[frozenset[str]] = FAULT_ACTIONS

    action: FaultAction
    status: int = 502
    retry_after: int | None = None
    seconds: float = 30.0


class RequestRecord(NamedTuple):
    """One handled API call; ``status`` is ``None`` when the connection was dropped."""

    method: str
    path: str
    status: int | None


class KsefSend(NamedTuple):
    """One send of a document to KSeF (create with ``gov_save_and_send``, auto-send, update or
    ``send_to_ksef``), whatever came of it; ``status_before`` is ``gov_status`` at that moment."""

    invoice_id: int
    oid: str | None
    status_before: str | None
    at: str


class WebhookDelivery(NamedTuple):
    """One webhook POST; ``status`` is ``None`` when the receiver could not be reached."""

    url: str
    invoice_id: int
    gov_status: str | None
    status: int | None


@dataclass(frozen=True)
class SentEmail:
    """An e-mail the simulator pretended to send (``send_by_email``)."""

    invoice_id: int
    number: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    with_pdf: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "to": list(self.to), "cc": list(self.cc)}
