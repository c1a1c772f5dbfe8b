"""VAT ids as VIES takes them: a member-state code and the number apart.

VIES writes Greece `EL` (its VAT prefix), not the ISO `GR`; both are accepted and `EL` is what
is asked, cached and returned, so one buyer has one cache entry.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-/]")
_VIES_CODE = {"GR": "EL"}


def split_vat_id(vat_id: str) -> tuple[str, str]:
    """`"de 123.456-789"` -> `("DE", "123456789")`; ValueError without a country prefix."""
    compact = _SEPARATORS.sub("", vat_id).upper()
    if len(compact) < 3 or not compact[:2].isalpha() or not compact[:2].isascii():
        raise ValueError(f"a VAT id needs its country prefix: {vat_id!r}")
    prefix = compact[:2]
    return _VIES_CODE.get(prefix, prefix), compact[2:]


def normalise_vat_id(vat_id: str) -> str:
    """The one spelling of a VAT id used for asking, caching and answering: `EL123456789`."""
    country, number = split_vat_id(vat_id)
    return country + number
