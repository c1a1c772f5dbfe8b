"""Seller onboarding rules, free of I/O: what a provider switch deletes, how outcomes are counted.

A seller invoices through one provider. Connecting another provider therefore replaces the old
connections, the channel mappings that use them and their OAuth tokens, which stops invoicing on
those channels until they are mapped again: it must be asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.ledger import State


@dataclass(frozen=True)
class ExistingConnection:
    name: str
    provider: str
    channels: tuple[str, ...] = ()
    has_tokens: bool = False


@dataclass(frozen=True)
class ProviderSwitch:
    """What connecting `provider` would delete from a seller that uses another one."""

    seller_id: str
    provider: str
    connections: tuple[ExistingConnection, ...]

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(sorted(ch for c in self.connections for ch in c.channels))

    def describe(self) -> str:
        names = ", ".join(f"{c.name} ({c.provider})" for c in self.connections)
        parts = [f"connection(s) {names}"]
        if self.channels:
            parts.append(f"the mapping(s) of channel(s) {', '.join(self.channels)}")
        tokens = [c.name for c in self.connections if c.has_tokens]
        if tokens:
            parts.append(f"the OAuth tokens of {', '.join(tokens)}")
        return (
            f"seller {self.seller_id} invoices through another provider: connecting "
            f"{self.provider} would delete {'; '.join(parts)}. Confirm the switch to proceed "
            "(confirm_switch / --confirm-switch)"
        )


def provider_switch(
    seller_id: str, provider: str, existing: Iterable[ExistingConnection]
) -> ProviderSwitch | None:
    """The switch connecting `provider` implies, or None when the seller stays on it."""
    others = tuple(sorted((c for c in existing if c.provider != provider), key=lambda c: c.name))
    return ProviderSwitch(seller_id, provider, others) if others else None


# Ledger states as a seller reads them: `claimed` is in progress and not counted.
OUTCOME_OF_STATE = {
    State.ISSUED: "issued",
    State.FAILED: "failed",
    State.UNRESOLVED: "failed",  # published invoice.failed (channel_not_configured)
    State.PARKED: "parked",
    State.IN_DOUBT: "parked",  # waiting for reconciliation by the scheduler
    State.SKIPPED: "skipped",
}
OUTCOMES = ("issued", "failed", "parked", "skipped")


def count_outcomes(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(ledger state, count) rows summed per outcome; every outcome is present."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for state, n in rows:
        outcome = OUTCOME_OF_STATE.get(State(state))
        if outcome:
            counts[outcome] += n
    return counts
