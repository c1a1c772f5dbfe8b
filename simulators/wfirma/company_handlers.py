"""Read-only modules around the books: companies, memberships, series, VAT codes, accounts.

``companies`` describes only the company a request runs for (doc.wfirma.pl, module
``companies``: "pobranie informacji o firmie dla której wykonywane jest niniejsze zapytanie"),
so it is company-scoped like the books; ``companies/find`` is undocumented and answers the same
single company. The companies of a login come from the user-scoped ``user_companies/find``
(named by the ``COMPANY ID REQUIRED`` description), one membership per company with the
company nested, as in the docs' user_companies/get schema (docs/adr/0009).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .api_types import Call, Env, Reply
from .envelope import envelope, parameters
from .errors import NOT_FOUND, ApiError
from .finding import find
from .models import SimCompany
from .vat import DECLARATION_COUNTRIES, VAT_CODES, VatCode

Row = dict[str, Any]
PACK_EXPIRY = "2099-12-31"  # the subscription never lapses in the simulator
USER_ID_BASE = 2_200_001


def _company_row(company: SimCompany) -> Row:
    return {
        "id": str(company.id),
        "name": company.name,
        "altname": company.altname,
        "nip": company.nip,
        "vat_payer": "1" if company.vat_payer else "0",
        "tax": "taxregister",
        "is_registered": "1",
        "is_authorized": "1" if company.ksef_authorized else "0",
        "edeclarations_verified": "0",
    }


def _visible_companies(env: Env) -> list[SimCompany]:
    companies = [state.config for state in env.login.companies.values()]
    selected = env.login.selected_company_id
    return sorted(companies, key=lambda c: c.id != selected)


def companies_find(env: Env, call: Call) -> Reply:
    """Undocumented: answers like ``get``, the one company the request runs for (UNCONFIRMED;
    the one client using it asks for ``limit: 1`` and takes that company)."""
    return _listing(call, "companies", "company", [_company_row(env.books.config)])


def companies_get(env: Env, call: Call) -> Reply:
    """The company the request runs for; another company's id is not found (UNCONFIRMED)."""
    if call.required_id() != env.books.config.id:
        raise ApiError(NOT_FOUND)
    return Reply(envelope("companies", "company", [_company_row(env.books.config)]))


def _membership_rows(env: Env) -> list[Row]:
    """The login's memberships in the documented user_companies/get shape."""
    rows = []
    for company in _visible_companies(env):
        membership = env.login.memberships.setdefault(company.id, env.store.membership_ids.next())
        rows.append(
            {
                "id": str(membership),
                "right": "user" if company.read_only else "admin",
                "user": {"id": _user_id(env)},
                "warehouse": {"id": "0"},
                "company": _company_row(company),
                "company_pack": {
                    "id": str(membership),
                    "pack": "pack_trade",
                    "months": "12",
                    "expiration_date": PACK_EXPIRY,
                    "status": "active",
                },
            }
        )
    return rows


def _user_id(env: Env) -> str:
    """A stable id for the login's user (its position among the simulated logins)."""
    return str(USER_ID_BASE + list(env.store.logins).index(env.login.config.login))


def user_companies_find(env: Env, call: Call) -> Reply:
    return _listing(call, "user_companies", "user_company", _membership_rows(env))


def user_companies_get(env: Env, call: Call) -> Reply:
    """By membership id (``user_company.id``), not by company id, as the docs stress."""
    wanted = str(call.required_id())
    row = next((r for r in _membership_rows(env) if r["id"] == wanted), None)
    if row is None:
        raise ApiError(NOT_FOUND)
    return Reply(envelope("user_companies", "user_company", [row]))


def series_rows(env: Env) -> list[Row]:
    return [
        {
            "id": str(s.id),
            "name": s.name,
            "template": s.template,
            "type": s.type,
            "reset": s.reset,
            "initnumber": str(s.initnumber),
        }
        for s in env.books.config.series
    ]


def _vat_row(code: VatCode) -> Row:
    return {
        "id": str(code.id),
        "code": code.code,
        "label": code.label,
        "rate": f"{code.rate:.2f}",
        "type": code.type,
        "priority": str(code.priority),
        # Observed quirk (§2.8): this id is a number, unlike almost everything else.
        "declaration_country": {"id": code.declaration_country_id},
    }


def _country_rows() -> list[Row]:
    return [{"id": str(i), "code": code, "name": name} for i, code, name in DECLARATION_COUNTRIES]


def _account_rows(env: Env) -> list[Row]:
    return [
        {
            "id": str(a.id),
            "name": a.name,
            "bank_name": a.bank_name,
            "number": a.number,
            "currency": a.currency,
        }
        for a in env.books.config.bank_accounts
    ]


def _listing(
    call: Call, module: str, singular: str, rows: list[Row], fields: tuple[str, ...] = ()
) -> Reply:
    """``find`` over ``rows``; ``fields`` name the columns when there may be no row to show."""
    sample = rows[0] if rows else dict.fromkeys(("id", *fields), "")
    page = find(rows, parameters(call.body, module), singular, sample)
    return Reply(envelope(module, singular, page.rows, page_info=page.info))


def _finder(
    module: str, singular: str, rows: Callable[[Env], list[Row]], fields: tuple[str, ...] = ()
) -> Callable[[Env, Call], Reply]:
    def handler(env: Env, call: Call) -> Reply:
        return _listing(call, module, singular, rows(env), fields)

    return handler


def _getter(
    module: str, singular: str, rows: Callable[[Env], list[Row]]
) -> Callable[[Env, Call], Reply]:
    def handler(env: Env, call: Call) -> Reply:
        wanted = str(call.required_id())
        row = next((r for r in rows(env) if r["id"] == wanted), None)
        if row is None:
            raise ApiError(NOT_FOUND)
        return Reply(envelope(module, singular, [row]))

    return handler


SERIES_FIELDS = ("name", "template", "type", "reset", "initnumber")
ACCOUNT_FIELDS = ("name", "bank_name", "number", "currency")
series_find = _finder("series", "series", series_rows, SERIES_FIELDS)
series_get = _getter("series", "series", series_rows)
vat_codes_find = _finder("vat_codes", "vat_code", lambda env: [_vat_row(c) for c in VAT_CODES])
vat_codes_get = _getter("vat_codes", "vat_code", lambda env: [_vat_row(c) for c in VAT_CODES])
declaration_countries_find = _finder(
    "declaration_countries", "declaration_country", lambda env: _country_rows()
)
company_accounts_find = _finder(
    "company_accounts", "company_account", _account_rows, ACCOUNT_FIELDS
)
