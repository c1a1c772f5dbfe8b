"""URL layout: which account a request targets and which handler serves the rest of the path.

Accounts are addressed by path prefix (``/acme/invoices.json``, handy with one local port) or,
like production, by host (``acme.fakturownia.pl``) when the path starts with a resource name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import department_handlers, invoice_handlers, ksef_handlers, public_handlers
from .api_types import Handler

HOST_SUFFIX = ".fakturownia.pl"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool = False


def _route(method: str, path: str, handler: Handler, public: bool = False) -> Route:
    return Route(method, re.compile(f"^{path}$"), handler, public)


ROUTES: tuple[Route, ...] = (
    _route("POST", r"/invoices\.json", invoice_handlers.create),
    _route("GET", r"/invoices\.json", invoice_handlers.index),
    _route("GET", r"/invoices/(?P<id>\d+)\.json", invoice_handlers.show),
    _route("PUT", r"/invoices/(?P<id>\d+)\.json", ksef_handlers.update),
    _route("GET", r"/invoices/(?P<id>\d+)/attachment", ksef_handlers.attachment),
    _route("GET", r"/invoices/(?P<id>\d+)\.pdf", invoice_handlers.pdf),
    _route("POST", r"/invoices/(?P<id>\d+)/send_by_email\.json", invoice_handlers.email),
    _route("GET", r"/departments\.json", department_handlers.index),
    _route("GET", r"/departments/(?P<id>\d+)\.json", department_handlers.show),
    _route("GET", r"/invoice/(?P<token>[A-Za-z0-9]+)\.pdf", public_handlers.view_pdf, True),
    _route("GET", r"/invoice/(?P<token>[A-Za-z0-9]+)", public_handlers.view, True),
    _route(
        "GET",
        r"/gov_files/(?P<token>[A-Za-z0-9]+)/(?P<kind>gov|gov_upo)\.xml",
        ksef_handlers.gov_file,
        True,
    ),
)
_RESOURCE_ROOTS = re.compile(r"^(invoices|departments|invoice|clients|products|gov_files)(\.\w+)?$")


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        match = route.pattern.match(path)
        if match and route.method == method:
            return route, match.groupdict()
    return None


@dataclass(frozen=True)
class AccountTarget:
    """The account a request addresses and how; ``base_url`` is what the client sees."""

    prefix: str | None
    path: str
    base_url: str


def resolve_account(path: str, host: str, scheme: str) -> AccountTarget:
    """Split ``/prefix/rest`` or fall back to the ``{prefix}.fakturownia.pl`` Host header."""
    first, _, rest = path.lstrip("/").partition("/")
    origin = f"{scheme}://{host}"
    if first and not _RESOURCE_ROOTS.match(first):
        return AccountTarget(first, f"/{rest}", f"{origin}/{first}")
    hostname = host.rsplit(":", 1)[0].lower()
    prefix = hostname.removesuffix(HOST_SUFFIX) if hostname.endswith(HOST_SUFFIX) else None
    return AccountTarget(prefix or None, path, origin)
