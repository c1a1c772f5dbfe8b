"""Buyer tax id classification and checksum validation (python-stdnum).

A wrong NIP on a B2B invoice is a legal defect the seller must correct later; catching it
before the provider call turns it into an actionable failure instead. Marketplaces often send a
foreign buyer's VAT id without its country prefix, so a bare number is read as an id of the
buyer's country, not always as a NIP: a German company's "136695976" is DE136695976. Pre-flight,
the document and the VAT decision all read the buyer's id through `buyer_tax_id`, so what
pre-flight accepts is exactly what the decision and the invoice see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.pl import nip

from domain.eu import EU_MEMBER_STATES, POLAND
from schemas.orders import Order

# Violation codes of `invoice.failed` (failure code `invalid_tax_id`).
TAX_ID_CHECKSUM = "tax_id_checksum"  # the check digits do not match
TAX_ID_FORMAT = "tax_id_format"  # wrong length or characters for the state it is read as

_VAT_PREFIX = {"GR": "EL"}  # VAT ids (and VIES) write Greece as EL
_PREFIX_COUNTRY = {"EL": "GR"}
# Prefixes that decide by themselves: member states (Greece either way), Northern Ireland.
_PREFIXES = EU_MEMBER_STATES | {"EL", "XI"}
_MIN_OTHER = 4


class TaxIdKind(StrEnum):
    NIP = "nip"  # Polish NIP, stored without the PL prefix
    EU_VAT = "eu_vat"  # another member state's (or XI) VAT id, with its VAT prefix (Greece EL)
    OTHER = "other"  # a non-EU tax number: no checksum we can verify


@dataclass(frozen=True)
class TaxId:
    kind: TaxIdKind
    value: str

    @property
    def country(self) -> str | None:
        """The state that issued the id (ISO code, GR for EL, XI as such); None when unknown."""
        if self.kind is TaxIdKind.NIP:
            return POLAND
        if self.kind is TaxIdKind.EU_VAT:
            return _PREFIX_COUNTRY.get(self.value[:2], self.value[:2])
        return None


class InvalidTaxId(ValueError):
    """Messages never repeat the number: for sole traders it is personal data."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def compact(raw: str) -> str:
    """Upper case, separators (spaces, dots, dashes, ...) removed."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def vies_spelling(vat_id: str) -> str:
    """A prefixed VAT id as VIES writes it, so answers spelt `GR...` match ids spelt `EL...`."""
    number = compact(vat_id)
    return _VAT_PREFIX.get(number[:2], number[:2]) + number[2:]


def tax_id_countries(order: Order) -> tuple[str, ...]:
    """The states whose id a number without a country prefix may be, the buyer's own first.

    The buyer's address is its seat, whose state issued its id (without an address, where the
    goods go stands in); the ship-to state is a second reading (a buyer registered there).
    Poland comes last for a buyer in the EU or of unknown seat: a foreign company registered for
    Polish VAT gives its NIP, and a bare NIP is what the order contract has always accepted.
    A buyer seated outside the EU gets no NIP reading: its number is kept as sent.
    """
    address = order.buyer.address
    own = address.country if address else order.ship_to_country or POLAND
    candidates = [own, order.ship_to_country]
    if address is None or own in EU_MEMBER_STATES:
        candidates.append(POLAND)
    return tuple(dict.fromkeys(c for c in candidates if c))


def buyer_tax_id(order: Order) -> TaxId | None:
    """The buyer's tax id read in the context of its order; raises InvalidTaxId."""
    raw = order.buyer.tax_id
    return _classified(raw, tax_id_countries(order)) if raw else None


def classify_tax_id(raw: str, countries: Sequence[str] = (POLAND,)) -> TaxId:
    """Normalise and validate a buyer tax id, or raise InvalidTaxId with a precise reason.

    A member state's prefix (PL, EL/GR, XI included) decides by itself. A bare number is read as
    an id of each member state in `countries` in turn (see `tax_id_countries`); when none fits,
    it is refused as the first one's, or kept as an opaque foreign tax number when that first
    country is outside the EU or the number starts with another state's letters (NO..., CHE...).
    Without `countries`, a bare number is a Polish NIP.
    """
    number = compact(raw)
    prefix = number[:2]
    if prefix in _PREFIXES:
        country = _PREFIX_COUNTRY.get(prefix, prefix)
        try:
            return _read(country, number[2:])
        except ValidationError as exc:
            raise _invalid(country, exc, bare=False) from exc
    for country in countries:
        if country in EU_MEMBER_STATES:
            try:
                return _read(country, number)
            except ValidationError:
                continue
    own = countries[0] if countries else POLAND
    if own in EU_MEMBER_STATES and not prefix.isalpha():
        try:
            _read(own, number)
        except ValidationError as exc:
            raise _invalid(own, exc, bare=True, nip_too=POLAND in countries) from exc
    if len(number) < _MIN_OTHER:
        raise InvalidTaxId(TAX_ID_FORMAT, "the buyer's tax id is too short to be a tax number")
    return TaxId(TaxIdKind.OTHER, number)


# Pre-flight, the document and the VAT decision each read the same order's id (module doc),
# and a seller's buyers repeat: the checksum runs once per (id, countries). A pure function of
# its arguments; a refusal (InvalidTaxId) is not cached and is raised again each time.
_classified = lru_cache(maxsize=1024)(classify_tax_id)


def _read(country: str, number: str) -> TaxId:
    """`number` (without prefix) as `country`'s id; raises stdnum's ValidationError."""
    if country == POLAND:
        return TaxId(TaxIdKind.NIP, nip.validate(number))
    vat_id = eu_vat.validate(_VAT_PREFIX.get(country, country) + number)
    return TaxId(TaxIdKind.EU_VAT, vies_spelling(vat_id))


def _invalid(
    country: str, exc: ValidationError, *, bare: bool, nip_too: bool = False
) -> InvalidTaxId:
    code = TAX_ID_CHECKSUM if isinstance(exc, InvalidChecksum) else TAX_ID_FORMAT
    name = "Polish NIP" if country == POLAND else f"{country} VAT id"
    if bare and country != POLAND:
        return InvalidTaxId(
            code,
            f"the buyer's tax id has no country prefix, so it is read as a {name} (the buyer's "
            f"address, else the ship-to country): it is not a valid one ({exc.message})"
            + (", nor a valid Polish NIP" if nip_too else "")
            + "; send another state's id with its country prefix",
        )
    return InvalidTaxId(code, f"the buyer's tax id is not a valid {name} ({exc.message})")
