"""The account webhook: what the simulator POSTs to ``SimAccount.webhook_url``, and when.

Fakturownia documents that an invoice update, such as KSeF assigning its number (``gov_id``),
fires the account's standard webhooks, never for purchase invoices (KSeF.md "Webhooki"; CRUD
under ``/webhooks.json``, README "Webhooki"). It documents neither event kinds nor payloads
(shared/reference/ksef-2026.md §1.9 and §8, open question 1). So the simulator POSTs on every
``gov_status`` change, a superset of the documented trigger, with a shape of its own choosing
(UNCONFIRMED against production)::

    {"kind": "invoice:update", "api_token": "<webhook_token>", "invoice": {<GET /invoices/ID.json>}}

A client must treat it as a reason to re-read the invoice, never as data. Payloads wait in the
account's outbox; ``webhook_pump`` delivers them.
"""

from __future__ import annotations

from typing import Any

from .rendering import render_invoice
from .state import AccountState

WEBHOOK_KIND = "invoice:update"


def enqueue(state: AccountState, doc: dict[str, Any]) -> None:
    """Queue the webhook for ``doc``'s new state when the account has one configured."""
    if not state.config.webhook_url:
        return
    state.webhook_outbox.append(
        {
            "kind": WEBHOOK_KIND,
            "api_token": state.config.webhook_token,
            "invoice": render_invoice(doc),
        }
    )
