"""Value types shared by every contract.

Money travels as decimal strings so no producer or consumer ever rounds through a float.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

# ASCII digits and fullmatch: `\d` would accept other scripts' digits, `$` a trailing newline.
_MONEY_RE = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$")
_QUANTITY_RE = re.compile(r"^-?[0-9]{1,9}(\.[0-9]{1,4})?$")


def _decimal_string(pattern: re.Pattern[str], what: str):
    match = pattern.fullmatch

    def parse(value: object) -> Decimal:
        if type(value) is str and match(value):  # every valid order's amounts: first
            return Decimal(value)
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise ValueError(
                f'{what} must be a decimal string such as "12.30", not {type(value).__name__}'
            )
        if not match(value):
            raise ValueError(
                f"{what} {value!r} is not a decimal string with at most the allowed decimals"
            )
        return Decimal(value)

    return parse


CENT = Decimal("0.01")


def _format_decimal(value: Decimal) -> str:
    return format(value, "f")


def _format_money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(_MONEY_RE, "amount")),
    PlainSerializer(_format_money, return_type=str),
    # Replaces (not merges into) Decimal's schema, whose `anyOf: [number, string]` would advertise
    # floats to code generators in other languages; both modes then say "decimal string".
    WithJsonSchema({"type": "string", "pattern": _MONEY_RE.pattern}),
]
"""An amount in the order's currency, at most 2 decimals (grosz precision)."""

Quantity = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(_QUANTITY_RE, "quantity")),
    PlainSerializer(_format_decimal, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _QUANTITY_RE.pattern}),
]
"""A quantity as a decimal string (fractional units such as kg are allowed)."""


# pycountry's data is static and an order names a handful of codes (its currency, countries):
# each code is looked up once; the patterns bound the keys (26³ + 26² at most).
@cache
def _is_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


@cache
def _is_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def _currency(code: str) -> str:
    if not _is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def _country(code: str) -> str:
    if not _is_country(code):
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$"), AfterValidator(_country)]
Timestamp = AwareDatetime
"""RFC 3339 time with an explicit offset; naive times are rejected."""

Identifier = Annotated[str, Field(min_length=1, max_length=200)]
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class VatRate(StrEnum):
    """Polish VAT codes. Never defaulted: every line and the shipping must state one."""

    R23 = "23"
    R8 = "8"
    R5 = "5"
    R0 = "0"
    ZW = "zw"  # exempt (zwolniony)
    NP = "np"  # outside the scope of Polish VAT (nie podlega)
    OO = "oo"  # reverse charge (odwrotne obciążenie)

    @property
    def percent(self) -> Decimal:
        """The rate as a percentage; codes that carry no VAT count as 0."""
        return _PERCENT[self]


_PERCENT = {r: Decimal(r.value) if r.value.isdigit() else Decimal(0) for r in VatRate}


class GtuCode(StrEnum):
    """JPK_V7 goods and services groups (GTU_01 … GTU_13)."""

    GTU_01 = "GTU_01"
    GTU_02 = "GTU_02"
    GTU_03 = "GTU_03"
    GTU_04 = "GTU_04"
    GTU_05 = "GTU_05"
    GTU_06 = "GTU_06"
    GTU_07 = "GTU_07"
    GTU_08 = "GTU_08"
    GTU_09 = "GTU_09"
    GTU_10 = "GTU_10"
    GTU_11 = "GTU_11"
    GTU_12 = "GTU_12"
    GTU_13 = "GTU_13"
