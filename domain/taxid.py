"""Buyer tax id classification and checksum validation (python-stdnum).

A wrong NIP on a B2B invoice is a legal defect the seller must correct later; catching it
before the provider call turns it into an actionable failure instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.pl import nip


class TaxIdKind(StrEnum):
    NIP = "nip"  # Polish NIP, stored without the PL prefix
    EU_VAT = "eu_vat"  # another member state's VAT id, with its country prefix
    OTHER = "other"  # a non-EU tax number: no checksum we can verify


@dataclass(frozen=True)
class TaxId:
    kind: TaxIdKind
    value: str


class InvalidTaxId(ValueError):
    """Messages never repeat the number: for sole traders it is personal data."""


def classify_tax_id(raw: str) -> TaxId:
    """Normalise and validate a buyer tax id, or raise InvalidTaxId with a precise reason."""
    compact = "".join(ch for ch in raw.upper() if ch.isalnum())
    if compact.isdigit() or compact.startswith("PL"):
        digits = compact.removeprefix("PL")
        try:
            return TaxId(TaxIdKind.NIP, nip.validate(digits))
        except ValidationError as exc:
            raise InvalidTaxId(
                f"the buyer's tax id is not a valid Polish NIP ({exc.message})"
            ) from exc
    if compact[:2].lower() in eu_vat.MEMBER_STATES or compact[:2] == "EL":
        try:
            return TaxId(TaxIdKind.EU_VAT, eu_vat.validate(compact))
        except ValidationError as exc:
            raise InvalidTaxId(
                f"the buyer's tax id is not a valid EU VAT id ({exc.message})"
            ) from exc
    if len(compact) < 4:
        raise InvalidTaxId("the buyer's tax id is too short to be a tax number")
    return TaxId(TaxIdKind.OTHER, compact)
