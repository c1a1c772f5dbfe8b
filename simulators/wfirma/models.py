"""Configuration objects for the wFirma simulator: logins, companies, OAuth apps and faults.

Plain dataclasses, like the Fakturownia simulator's, so tests build them inline and the
standalone process (config file, ``/__sim/`` control API) round-trips the same shapes as JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, get_args

from simulators.common.config import FromDict, JsonConfig
from simulators.common.faults import BaseFaultRule

FaultAction = Literal[
    "latency",
    "http_5xx",
    "status_code",
    "hang_after_commit",
    "drop_after_commit",
    "revoke_refresh_token",
    "expire_access_token",
    "ksef_accept",
    "ksef_reject",
    "ksef_server_error",
    "ksef_never",
    "ksef_unauthorized",
]
FAULT_ACTIONS: frozenset[str] = frozenset(get_args(FaultAction))
# Per-document KSeF outcomes: applied to the documents `invoices/add` sends to KSeF, never at
# the gateway (simulators/wfirma/ksef.py).
KSEF_ACTIONS: frozenset[str] = frozenset(a for a in FAULT_ACTIONS if a.startswith("ksef_"))

SeriesReset = Literal["yearly", "monthy", "monthly", "daily", "none"]
SERIES_RESETS: frozenset[str] = frozenset(get_args(SeriesReset))

# The setup guide's list (adapters/wfirma/oauth.py SCOPES): what an app registers by default.
SCOPES_MINIMAL: tuple[str, ...] = (
    "contractors-read",
    "contractors-write",
    "invoices-read",
    "invoices-write",
    "series-read",
    "user_companies-read",
)
DAY_S = 86_400


@dataclass
class SimSeries(FromDict):
    """A numbering series (reference §3.6); ``type`` is the document type it numbers by default.

    ``template`` uses wFirma's tokens ``[numer]``, ``[rok]``, ``[miesiąc]``, ``[dzień]``; ``reset``
    keeps wFirma's own spelling ``monthy`` (``monthly`` is accepted too).
    """

    id: int
    name: str
    template: str = "FV [numer]/[rok]"
    type: str = "normal"
    reset: SeriesReset = "yearly"
    initnumber: int = 1

    def __post_init__(self) -> None:
        if "[numer]" not in self.template:
            raise ValueError(f"series {self.id}: template needs the [numer] token")
        if self.reset not in SERIES_RESETS:
            raise ValueError(f"series {self.id}: invalid reset {self.reset!r}")


@dataclass
class SimBankAccount(FromDict):
    """A company bank account, listed by ``company_accounts/find`` (reference §5)."""

    id: int
    name: str
    number: str
    bank_name: str = ""
    currency: str = "PLN"


@dataclass
class SimCompany(FromDict):
    """One company (set of books) a login can act for.

    ``read_only`` makes every write answer ``ACCESS DENIED`` (a user without rights to issue).
    The ``ksef_*`` knobs follow reference §7: with ``ksef_enabled`` every KSeF-bound document
    gets its KSeF number ``ksef_delay_seconds`` after creation (unless a ``ksef_*`` fault rule
    scripts another outcome); ``ksef_authorized=False`` (no KSeF-authorised user shared for API
    connections) makes ``invoices/add`` of such documents fail with the "Brak autoryzacji w
    KSeF 2.0" error.
    """

    id: int
    name: str
    nip: str = ""
    altname: str = ""
    street: str = ""
    zip: str = ""
    city: str = ""
    country: str = "PL"
    vat_payer: bool = True
    series: list[SimSeries] = field(default_factory=list)
    bank_accounts: list[SimBankAccount] = field(default_factory=list)
    read_only: bool = False
    ksef_enabled: bool = False
    ksef_authorized: bool = True
    ksef_delay_seconds: float = 2.0

    def __post_init__(self) -> None:
        self.series = [
            s if isinstance(s, SimSeries) else SimSeries.from_dict(s) for s in self.series
        ]
        self.bank_accounts = [
            a if isinstance(a, SimBankAccount) else SimBankAccount.from_dict(a)
            for a in self.bank_accounts
        ]


@dataclass
class SimApiKey(FromDict):
    """An API-key triple (reference §1.1): all three headers must match on every request."""

    access_key: str
    secret_key: str
    app_key: str


@dataclass
class RateLimits(FromDict):
    """Sliding-window request budgets (reference §6: 30 / 15 s, 80 / min, 2 400 / h in 2022).

    ``http_status`` is the knob for the UNCONFIRMED transport status of the answer: 200 (the
    body-first default) or e.g. 429.
    """

    per_15s: int = 30
    per_minute: int = 80
    per_hour: int = 2400
    http_status: int = 200

    def windows(self) -> tuple[tuple[float, int], ...]:
        return ((15.0, self.per_15s), (60.0, self.per_minute), (3600.0, self.per_hour))


@dataclass
class SimLogin(JsonConfig):
    """A wFirma user: its companies, API keys and the behaviour of a missing ``company_id``.

    With several companies and no ``company_id``: ``company_id_required=True`` answers
    ``COMPANY ID REQUIRED`` (the documented rule); ``False`` runs the call in the company last
    selected in the web panel (``selected_company_id``, default the first), as observed (§5).
    ``rate_limits=None`` disables the request budget. ``ksef_authorized=False``: this user has
    no KSeF authorisation of its own (§7: it is per wFirma user), so in every company its
    KSeF-bound ``invoices/add`` fails as with the company's ``ksef_authorized=False``.
    """

    login: str
    companies: list[SimCompany] = field(default_factory=list)
    api_keys: list[SimApiKey] = field(default_factory=list)
    company_id_required: bool = True
    selected_company_id: int | None = None
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    ksef_authorized: bool = True

    def __post_init__(self) -> None:
        if not self.login or "/" in self.login:
            raise ValueError(f"invalid login: {self.login!r}")
        self.companies = [
            c if isinstance(c, SimCompany) else SimCompany.from_dict(c) for c in self.companies
        ]
        self.api_keys = [
            k if isinstance(k, SimApiKey) else SimApiKey.from_dict(k) for k in self.api_keys
        ]
        if isinstance(self.rate_limits, dict):
            self.rate_limits = RateLimits.from_dict(self.rate_limits)
        ids = [c.id for c in self.companies]
        if len(set(ids)) != len(ids):
            raise ValueError(f"login {self.login}: duplicate company ids")
        if self.selected_company_id is not None and self.selected_company_id not in ids:
            raise ValueError(f"login {self.login}: selected company is not one of its companies")

    def company(self, company_id: int) -> SimCompany | None:
        return next((c for c in self.companies if c.id == company_id), None)


@dataclass
class SimOAuthApp(JsonConfig):
    """A verified OAuth 2.0 application (reference §1.2) bound to the login that authorises it.

    ``scopes`` are the scopes registered with the app; an authorisation may ask for a subset.
    Lifetimes are UNCONFIRMED upstream, hence configurable: ``access_token_ttl`` is what the
    token endpoint reports as ``expires_in``. ``auto_approve=False`` makes the consent page
    answer ``error=access_denied`` (the user clicked "deny").
    """

    client_id: str
    client_secret: str
    redirect_uri: str
    login: str
    scopes: list[str] = field(default_factory=lambda: list(SCOPES_MINIMAL))
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * DAY_S
    code_ttl: int = 600
    auto_approve: bool = True


@dataclass
class FaultRule(BaseFaultRule):
    """A scripted misbehaviour for requests of one login whose method and path match.

    ``path_regex`` is searched in the request path (``/invoices/add``, ``/oauth2/token``).
    ``times`` counts matches left (``-1``: forever). Per action: ``latency`` waits ``delay_ms``
    then answers normally; ``http_5xx`` answers HTML with ``status`` (default 502);
    ``status_code`` answers the envelope ``{"status": {"code": code}}`` with HTTP ``status``
    (default 200), e.g. ``FATAL``, ``OUT OF SERVICE``, ``SNAPSHOT LOCK``; ``hang_after_commit``
    does the work then stalls ``seconds``; ``drop_after_commit`` does the work then cuts the
    connection; ``revoke_refresh_token`` / ``expire_access_token`` invalidate the login's OAuth
    tokens before the request is handled.

    ``ksef_*`` actions script the KSeF outcome of the next KSeF-bound document(s) added whose
    ``id_external`` matches ``id_external_regex``; they never touch other requests, so
    ``method`` and ``path_regex`` do not apply to them:
    ``ksef_accept`` numbers it, ``ksef_reject`` ends in ``error`` with ``messages``,
    ``ksef_server_error`` shows ``server_error`` with ``messages`` for ``seconds`` and then
    ``ok``, ``ksef_never`` leaves it waiting forever, and ``ksef_unauthorized`` refuses the
    ``add`` with the "Brak autoryzacji w KSeF 2.0" error (nothing stored). The first phase comes
    after ``ksef_delay_seconds`` (default: the company's).
    """

    actions: ClassVar[frozenset[str]] = FAULT_ACTIONS

    action: FaultAction
    status: int | None = None
    code: str = "FATAL"
    seconds: float = 30.0
    messages: list[str] = field(default_factory=list)
    id_external_regex: str = ".*"
    ksef_delay_seconds: float | None = None


class RequestRecord(NamedTuple):
    """One handled call: HTTP ``status`` (``None`` when dropped) and the body ``code``."""

    method: str
    path: str
    status: int | None
    code: str | None
    company_id: int | None


class TokenRequest(NamedTuple):
    """One call to the token endpoint; ``error`` is the OAuth error code or ``None``."""

    grant_type: str
    client_id: str
    error: str | None
    at: str


@dataclass(frozen=True)
class SentEmail:
    """An e-mail the simulator pretended to queue (``invoices/send`` or ``auto_send``)."""

    invoice_id: int
    fullnumber: str
    to: str
    subject: str = ""
    body: str = ""
    page: str = "invoice"
    leaflet: bool = False
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
