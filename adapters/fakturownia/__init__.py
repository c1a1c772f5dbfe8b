"""Fakturownia adapter (REST API, token auth). See docs/adr and the simulator in simulators/."""

from adapters.fakturownia.account import AccountLinkError, normalise_account
from adapters.fakturownia.provider import FakturowniaProvider

__all__ = ["AccountLinkError", "FakturowniaProvider", "normalise_account"]
