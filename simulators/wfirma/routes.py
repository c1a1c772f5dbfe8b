"""URL layout ``/{module}/{action}[/{id}]`` (reference §0) and what each action requires.

Each action is a read or a write; with OAuth that needs the ``{module}-read`` or
``{module}-write`` scope (§1.2 rule). Which scope covers ``send`` and ``download`` is
UNCONFIRMED: the simulator files ``send`` under write (as [W-5] assumes) and ``download``
under read. Company-scoped modules need a resolved ``company_id``; user-scoped ones do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import company_handlers as companies
from . import contractors, invoice_handlers
from .api_types import Handler

Access = Literal["read", "write"]


@dataclass(frozen=True)
class Action:
    handler: Handler
    access: Access
    company_scoped: bool = True


def _read(handler: Handler, company_scoped: bool = True) -> Action:
    return Action(handler, "read", company_scoped)


def _write(handler: Handler) -> Action:
    return Action(handler, "write")


MODULES: dict[str, dict[str, Action]] = {
    "invoices": {
        "add": _write(invoice_handlers.add),
        "get": _read(invoice_handlers.get),
        "find": _read(invoice_handlers.find_action),
        "send": _write(invoice_handlers.send),
        "download": _read(invoice_handlers.download),
        "delete": _write(invoice_handlers.delete),
        "fiscalize": _write(invoice_handlers.fiscalize),
        "unfiscalize": _write(invoice_handlers.unfiscalize),
    },
    "contractors": {
        "add": _write(contractors.add),
        "get": _read(contractors.get),
        "find": _read(contractors.find_action),
        "edit": _write(contractors.edit),
        "delete": _write(contractors.delete),
    },
    # `companies` describes the company the call runs for; the login's companies come from
    # user-scoped `user_companies` (doc.wfirma.pl modules companies, user_companies).
    "companies": {
        "find": _read(companies.companies_find),
        "get": _read(companies.companies_get),
    },
    "user_companies": {
        "find": _read(companies.user_companies_find, company_scoped=False),
        "get": _read(companies.user_companies_get, company_scoped=False),
    },
    "series": {"find": _read(companies.series_find), "get": _read(companies.series_get)},
    "vat_codes": {"find": _read(companies.vat_codes_find), "get": _read(companies.vat_codes_get)},
    "declaration_countries": {
        "find": _read(companies.declaration_countries_find, company_scoped=False)
    },
    "company_accounts": {"find": _read(companies.company_accounts_find)},
}


@dataclass(frozen=True)
class Target:
    module: str
    action: str
    object_id: str | None


def parse_path(path: str) -> Target | None:
    """``/invoices/get/123`` → Target (action ``""`` when missing); ``None`` for other shapes."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or len(parts) > 3:
        return None
    action = parts[1] if len(parts) > 1 else ""
    return Target(parts[0], action, parts[2] if len(parts) == 3 else None)


def required_scope(module: str, action: Action) -> str:
    return f"{module}-{action.access}"
