"""VAT codes (the ``vat_codes`` module) and wFirma's per-rate-group VAT arithmetic (§3.4, §3.5).

VAT is rounded once per rate group, never per line. With ``price_type: netto`` the group's net
sum is taxed; with ``brutto`` the group's gross sum is split: net = round(gross / (1 + r)), tax
= gross - net. That is why gross-priced shops must send ``brutto`` to hit their totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from simulators.fakturownia.money import round_half_up

POLAND = 0


@dataclass(frozen=True)
class VatCode:
    id: int
    code: str
    rate: Decimal
    type: str
    declaration_country_id: int = POLAND
    priority: int = 0

    @property
    def label(self) -> str:
        return (
            f"{self.rate.normalize():f}%" if self.code[:1].isdigit() or not self.code else self.code
        )

    def fraction(self) -> Decimal:
        return self.rate / 100


def _pl(vat_id: int, code: str, rate: str, kind: str) -> VatCode:
    return VatCode(vat_id, code, Decimal(rate), kind, POLAND, vat_id - 221)


# 222 = "23" and 223 = "8" are confirmed by several sources; the rest of 222-234 is a single
# integrator's map or the simulator's choice (UNCONFIRMED, reference §3.4).
VAT_CODES: tuple[VatCode, ...] = (
    _pl(222, "23", "23", "standard"),
    _pl(223, "8", "8", "reduced"),
    _pl(224, "5", "5", "reduced"),
    _pl(225, "0", "0", "other"),
    _pl(226, "ZW", "0", "other"),
    _pl(227, "NP", "0", "other"),
    _pl(228, "WDT", "0", "other"),
    _pl(229, "EXP", "0", "other"),
    _pl(230, "NPUE", "0", "other"),
    _pl(231, "VAT_BUYER", "0", "other"),
    _pl(232, "22", "22", "other"),
    _pl(233, "7", "7", "other"),
    _pl(234, "3", "3", "other"),
    # Foreign (OSS) codes have an empty ``code``; ids as one integrator's account had them.
    VatCode(617, "", Decimal("19"), "standard", 146, 1),
    VatCode(618, "", Decimal("7"), "reduced", 146, 2),
    VatCode(687, "", Decimal("25"), "standard", 205, 1),
    VatCode(688, "", Decimal("12"), "reduced", 205, 2),
    # France for OSS tests: the rates are France's (20 / 10 / 5.5); ids and the declaration
    # country id are the simulator's choice (account-specific at wFirma)
    VatCode(640, "", Decimal("20"), "standard", 75, 1),
    VatCode(641, "", Decimal("10"), "reduced", 75, 2),
    VatCode(642, "", Decimal("5.5"), "reduced", 75, 3),
)
BY_ID: dict[int, VatCode] = {v.id: v for v in VAT_CODES}
BY_CODE: dict[str, VatCode] = {v.code: v for v in VAT_CODES if v.code}
DEFAULT = BY_CODE["23"]
DECLARATION_COUNTRIES: tuple[tuple[int, str, str], ...] = (
    (POLAND, "PL", "Polska"),
    (146, "DE", "Niemcy"),
    (205, "SE", "Szwecja"),
    (75, "FR", "Francja"),
)


def from_vat_field(value: object) -> VatCode | None:
    """Resolve a line's plain ``vat``: Polish codes only, case-insensitive (UNCONFIRMED).

    A numeric rate that is not Polish (e.g. ``"25"``) silently becomes 23% as observed live;
    ``None`` means the value is not a VAT code at all.
    """
    text = str(value).strip().upper().removesuffix("%")
    if text in BY_CODE:
        return BY_CODE[text]
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value() and str(int(number)) in BY_CODE:
        return BY_CODE[str(int(number))]
    return DEFAULT


@dataclass(frozen=True)
class GroupTotal:
    vat: VatCode
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_amounts(amount: Decimal, vat: VatCode, gross_prices: bool) -> tuple[Decimal, Decimal]:
    """``(netto, brutto)`` shown on one line; ``amount`` is the line value in the price mode."""
    amount = round_half_up(amount)
    if gross_prices:
        return round_half_up(amount / (1 + vat.fraction())), amount
    return amount, round_half_up(amount * (1 + vat.fraction()))


def group_totals(lines: Iterable[tuple[VatCode, Decimal]], gross_prices: bool) -> list[GroupTotal]:
    """Totals per rate group from ``(vat, line amount)`` pairs, in order of first appearance."""
    sums: dict[int, Decimal] = {}
    codes: dict[int, VatCode] = {}
    for vat, amount in lines:
        sums[vat.id] = sums.get(vat.id, Decimal(0)) + round_half_up(amount)
        codes[vat.id] = vat
    result = []
    for vat_id, total in sums.items():
        vat = codes[vat_id]
        if gross_prices:
            net = round_half_up(total / (1 + vat.fraction()))
            result.append(GroupTotal(vat, net, total - net, total))
        else:
            tax = round_half_up(total * vat.fraction())
            result.append(GroupTotal(vat, total, tax, total + tax))
    return result
