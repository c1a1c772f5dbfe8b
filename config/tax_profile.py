"""The seller's tax profile as stored (JSON on `sellers` and `channel_mappings`, migration
0010) and as the VAT decision reads it (domain.vat.TaxProfile).

Seller keys: `intra_eu_registered`, `oss_registered`, `vies_unavailable` (`park`|`domestic`).
Channel keys: `margin_scheme_default`, `split_payment_goods_default` (a channel may also
override the seller's keys). Unknown keys are refused where they are written (config/apply.py,
the API), so a misspelling never silently means "off".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from domain.vat import TaxProfile, ViesPolicy

SELLER_KEYS = ("intra_eu_registered", "oss_registered", "vies_unavailable")
CHANNEL_KEYS = ("margin_scheme_default", "split_payment_goods_default")
KEYS = frozenset(f.name for f in fields(TaxProfile))


def check_keys(raw: Mapping[str, Any], allowed: tuple[str, ...] | frozenset[str]) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ValueError(f"unknown tax setting(s) {', '.join(unknown)}; known: {sorted(allowed)}")


def tax_profile(seller: Mapping[str, Any] | None, channel: Mapping[str, Any] | None) -> TaxProfile:
    """The profile a channel's orders are decided with: the channel's keys over the seller's."""
    merged = {**(seller or {}), **(channel or {})}
    values: dict[str, Any] = {k: bool(v) for k, v in merged.items() if k in KEYS}
    if "vies_unavailable" in merged:
        values["vies_unavailable"] = ViesPolicy(str(merged["vies_unavailable"]))
    return TaxProfile(**values)


def stored(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A profile as written to the database: known keys only, plain JSON values."""
    check_keys(profile, KEYS)
    return {
        k: (ViesPolicy(str(v)).value if k == "vies_unavailable" else bool(v))
        for k, v in profile.items()
    }
