"""Client cards: the documented auto-matching that creates a card for every unmatched buyer.

Adapters that do not send ``client_id`` pile up duplicate cards when buyer data drifts; the
simulator reproduces that so the effect is visible in tests.
"""

from __future__ import annotations

from typing import Any

from .errors import MISSING, ErrorMap, add_error
from .state import AccountState, IdSequence

_CARD_FROM_BUYER = {
    "name": "buyer_name",
    "first_name": "buyer_first_name",
    "last_name": "buyer_last_name",
    "tax_no": "buyer_tax_no",
    "tax_no_kind": "buyer_tax_no_kind",
    "street": "buyer_street",
    "post_code": "buyer_post_code",
    "city": "buyer_city",
    "country": "buyer_country",
    "email": "buyer_email",
    "phone": "buyer_phone",
    "note": "buyer_note",
}


def _match_key(card: dict[str, Any]) -> tuple[Any, ...]:
    """Companies match on name, NIP and e-mail; persons on first and last name instead of name."""
    email = (card.get("email") or "").lower()
    if card["company"]:
        return (True, card.get("name"), card.get("tax_no"), email)
    return (False, card.get("first_name"), card.get("last_name"), card.get("tax_no"), email)


def _card_from(buyer: dict[str, Any]) -> dict[str, Any]:
    card = {key: buyer.get(field) for key, field in _CARD_FROM_BUYER.items()}
    card["company"] = buyer["buyer_company"]
    return card


def _apply_card(buyer: dict[str, Any], card: dict[str, Any]) -> None:
    """Fill buyer fields the request left empty from the stored card."""
    for key, field in _CARD_FROM_BUYER.items():
        if buyer.get(field) is None and card.get(key) is not None:
            buyer[field] = card[key]


def _create(state: AccountState, ids: IdSequence, buyer: dict[str, Any]) -> int:
    card = {"id": ids.next(), **_card_from(buyer)}
    state.clients[card["id"]] = card
    return card["id"]


def prefill_from_client(
    state: AccountState, buyer: dict[str, Any], client_id: int | None, errors: ErrorMap
) -> None:
    """Before validation: an existing ``client_id`` supplies missing buyer data."""
    if client_id in (None, -1):
        return
    card = state.clients.get(client_id)
    if card is None:
        add_error(errors, "client_id", MISSING)
        return
    _apply_card(buyer, card)


def commit_client(
    state: AccountState,
    ids: IdSequence,
    buyer: dict[str, Any],
    client_id: int | None,
    override: bool,
) -> int:
    """After validation: pick or create the card so a rejected request never leaves one behind.

    ``-1`` forces a new card; ``buyer_override`` rewrites the chosen card with the sent data.
    """
    if client_id == -1:
        return _create(state, ids, buyer)
    if client_id is not None:
        if override:
            card = state.clients[client_id]
            card.update({k: v for k, v in _card_from(buyer).items() if v is not None})
        return client_id
    key = _match_key(_card_from(buyer))
    found = next((c for c in state.clients.values() if _match_key(c) == key), None)
    return found["id"] if found is not None else _create(state, ids, buyer)
