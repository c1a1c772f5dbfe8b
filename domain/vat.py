"""The VAT treatment of an order, decided before any provider call (issue 13; docs/vat.md).

Pure: no I/O and no clock. The connector's `vat_rate` is what the marketplace charged; the
treatment decides what the document may say. Where they differ the applied rate wins and the
difference stays visible (`RateLine.overridden`, `notes`); where the data cannot decide, the
order is refused with a precise code rather than issued as a wrong legal document, which in
KSeF can only be corrected, never deleted. A WDT or a reverse charge needs a positive VIES
answer first (`ViesNeeded`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from domain.eu import EU_MEMBER_STATES, POLAND
from domain.oss_rates import Category, destination_rate
from domain.taxid import InvalidTaxId, TaxIdKind, buyer_tax_id, vies_spelling
from domain.vat_errors import (
    REFUSAL_CODES,
    VAT_TREATMENT_AMBIGUOUS,
    VAT_TREATMENT_MIXED,
    VAT_TREATMENT_UNSUPPORTED,
    VIES_INVALID,
    TreatmentRefused,
    ViesNeeded,
)
from domain.vies import ViesResult
from schemas.common import VatRate
from schemas.orders import Order

__all__ = [
    "EU_MEMBER_STATES",
    "REFUSAL_CODES",
    "SHIPPING_LINE_ID",
    "RateLine",
    "TaxProfile",
    "TreatmentDecision",
    "TreatmentRefused",
    "VatTreatment",
    "ViesNeeded",
    "ViesPolicy",
    "ViesResult",
    "decide_treatment",
    "ship_to_country",
    "vies_subject",
]

SHIPPING_LINE_ID = "shipping"

# Outside the member list yet inside the EU VAT territory (Monaco, through France): exporting
# there at 0 % would be wrong, and treating it as France is a person's call.
_UNSUPPORTED_DESTINATIONS = {"MC": "Monaco belongs to the EU VAT territory through France"}


class VatTreatment(StrEnum):
    DOMESTIC = "domestic"
    INTRA_EU_SUPPLY = "intra_eu_supply"  # WDT
    EXPORT = "export"
    EU_DISTANCE_SALE = "eu_distance_sale"  # OSS (destination VAT) or Polish VAT below threshold
    MARGIN_USED_GOODS = "margin_used_goods"  # art. 120, no VAT shown
    REVERSE_CHARGE_SERVICES = "reverse_charge_services"


class ViesPolicy(StrEnum):
    PARK = "park"  # default: wait and retry when VIES cannot answer
    DOMESTIC = "domestic"  # issue with Polish VAT instead


@dataclass(frozen=True)
class TaxProfile:
    """The seller's tax settings, with the channel's defaults merged in."""

    intra_eu_registered: bool = False  # VAT-UE registered: may do WDT
    oss_registered: bool = False  # OSS registered or over the EU-wide 10,000 EUR threshold
    vies_unavailable: ViesPolicy = ViesPolicy.PARK
    margin_scheme_default: bool = False  # channel default: every goods line under the margin scheme
    split_payment_goods_default: bool = False  # channel default: lines are Annex 15 goods


@dataclass(frozen=True)
class RateLine:
    """One line (or the shipping) as decided."""

    line_id: str  # SHIPPING_LINE_ID for the shipping
    treatment: VatTreatment
    rate: str  # "23","8","5","0","zw","np","oo","oss:<percent>","margin"
    percent: Decimal  # the percentage applied (0 for 0/np/zw/oo/margin)
    country: str  # whose VAT: "PL", the destination (OSS) or the buyer's state (reverse charge)
    sent_rate: str  # the connector's vat_rate as received
    overridden: bool  # sent_rate differs from the applied one (visible in the event)


@dataclass(frozen=True)
class TreatmentDecision:
    treatment: VatTreatment  # document-level: one per document, mixing is refused
    lines: tuple[RateLine, ...]  # the order's lines in order, then the shipping if charged
    destination: str  # ship-to country (ISO 3166-1 alpha-2)
    buyer_vat_id: str | None  # with its country prefix, for WDT and reverse charge
    vies: ViesResult | None  # the answer the decision rests on, if any
    annotation: str | None  # the legally required wording
    legal_basis: str | None
    notes: tuple[str, ...]  # why rates differ from what the connector sent


_ANNOTATION = {
    VatTreatment.INTRA_EU_SUPPLY: "wewnątrzwspólnotowa dostawa towarów (WDT), stawka 0 %",
    VatTreatment.EXPORT: "eksport towarów, stawka 0 %",
    # the statutory wording, dash included (art. 106e ust. 1 pkt 22 lit. b)
    VatTreatment.MARGIN_USED_GOODS: "procedura marży – towary używane",  # noqa: RUF001
    VatTreatment.REVERSE_CHARGE_SERVICES: "odwrotne obciążenie",
}
_LEGAL_BASIS = {
    VatTreatment.INTRA_EU_SUPPLY: "art. 41 ust. 3 w zw. z art. 42 ust. 1 ustawy o VAT",
    VatTreatment.EXPORT: "art. 41 ust. 4 ustawy o VAT",
    VatTreatment.MARGIN_USED_GOODS: "art. 120 ust. 4 ustawy o VAT",
    VatTreatment.REVERSE_CHARGE_SERVICES: "art. 28b ustawy o VAT",
}
_OSS_BASIS = "art. 22 ust. 1 pkt 1a w zw. z art. 130a-130d ustawy o VAT (procedura OSS)"
_BELOW_OSS_BASIS = "art. 22a ustawy o VAT (sprzedaż na odległość poniżej progu)"


@dataclass(frozen=True)
class _Item:
    """A line or the shipping as the decision sees it."""

    line_id: str
    sent: VatRate
    goods: bool
    margin: bool
    category: Category = "standard"


@dataclass(frozen=True)
class _Buyer:
    kind: str  # "none" | "pl" | "eu" (another member state) | "xi" | "other"
    vat_id: str | None = None  # "eu": compact, with the VIES prefix
    country: str | None = None  # "eu": the member state (ISO) that issued it


@dataclass(frozen=True)
class _Order:
    order: Order
    profile: TaxProfile
    destination: str
    buyer: _Buyer
    lines: tuple[_Item, ...]
    shipping: _Item | None

    @property
    def items(self) -> tuple[_Item, ...]:
        return self.lines + ((self.shipping,) if self.shipping else ())


def ship_to_country(order: Order) -> str:
    """Where the goods go: as sent, else the buyer's address, else Poland."""
    if order.ship_to_country:
        return order.ship_to_country
    address = order.buyer.address
    return address.country if address else POLAND


def vies_subject(order: Order, profile: TaxProfile) -> str | None:
    """The VAT id to check in VIES before deciding, if the decision depends on one.

    Exactly the id `decide_treatment(order, profile, None)` would raise `ViesNeeded` for, so
    the two can never disagree.
    """
    try:
        decide_treatment(order, profile, None)
    except ViesNeeded as needed:
        return needed.vat_id
    except TreatmentRefused:
        return None
    return None


def decide_treatment(
    order: Order, profile: TaxProfile, vies: ViesResult | None, *, vies_down: bool = False
) -> TreatmentDecision:
    """The document's treatment and each line's applied rate; see docs/vat.md for the table.

    `vies` is the answer for `vies_subject(order, profile)`; `vies_down` says VIES could not
    answer, which the seller's `vies_unavailable` policy turns into Polish VAT or a wait.
    Raises `TreatmentRefused` (the order fails) or `ViesNeeded` (ask VIES, then decide again).
    """
    o = _facts(order, profile)
    if any(item.margin for item in o.lines):
        return _margin(o)
    if o.buyer.kind == "xi":
        raise TreatmentRefused(
            VAT_TREATMENT_UNSUPPORTED,
            "the buyer's VAT id is from Northern Ireland (XI): its goods rules are not decided "
            "automatically",
        )
    goods = any(item.goods for item in o.lines)
    services = not all(item.goods for item in o.lines)
    if goods and services:
        return _goods_and_services(o, vies, vies_down)
    if services:
        return _services(o, vies, vies_down)
    return _goods(o, vies, vies_down)


def _facts(order: Order, profile: TaxProfile) -> _Order:
    destination = ship_to_country(order)
    if destination in _UNSUPPORTED_DESTINATIONS:
        raise TreatmentRefused(
            VAT_TREATMENT_UNSUPPORTED,
            f"goods shipped to {destination}: {_UNSUPPORTED_DESTINATIONS[destination]}",
        )
    lines = tuple(
        _Item(
            line_id=line.line_id,
            sent=line.vat_rate,
            goods=line.kind == "goods",
            margin=line.scheme == "margin"
            or (line.scheme is None and line.kind == "goods" and profile.margin_scheme_default),
            category=line.category,
        )
        for line in order.lines
    )
    shipping = order.shipping
    return _Order(
        order=order,
        profile=profile,
        destination=destination,
        buyer=_buyer(order),
        lines=lines,
        # as on the document: a free shipping is no line (domain.documents.sales_lines)
        shipping=_Item(SHIPPING_LINE_ID, shipping.vat_rate, goods=True, margin=False)
        if shipping is not None and shipping.price_gross
        else None,
    )


def _buyer(order: Order) -> _Buyer:
    """The buyer's tax id read exactly as pre-flight and the document read it
    (`domain.taxid.buyer_tax_id`): a bare number is the buyer's country's id."""
    try:
        tax_id = buyer_tax_id(order)
    except InvalidTaxId as exc:  # pre-flight refuses it first; the decision stays total
        raise TreatmentRefused(VAT_TREATMENT_AMBIGUOUS, exc.message) from exc
    if tax_id is None:
        return _Buyer("none")
    if tax_id.kind is TaxIdKind.NIP:
        return _Buyer("pl")
    if tax_id.kind is TaxIdKind.OTHER:
        return _Buyer("other")
    if tax_id.country == "XI":
        return _Buyer("xi")
    return _Buyer("eu", tax_id.value, tax_id.country)


# -- the treatments ---------------------------------------------------------------------------


def _margin(o: _Order) -> TreatmentDecision:
    if any(not item.goods for item in o.lines if item.margin):
        raise TreatmentRefused(
            VAT_TREATMENT_AMBIGUOUS,
            "a service line is marked for the margin scheme, which art. 120 gives to goods only",
        )
    plain = [item.line_id for item in o.lines if not item.margin]
    if plain:
        raise TreatmentRefused(
            VAT_TREATMENT_MIXED,
            f"lines {', '.join(plain)} are not under the margin scheme while others are: a margin "
            "invoice cannot carry ordinary VAT lines; split the order or mark every line",
        )
    if o.destination not in EU_MEMBER_STATES:
        raise TreatmentRefused(
            VAT_TREATMENT_UNSUPPORTED,
            f"margin-scheme goods shipped to {o.destination}, outside the EU: export at 0 % or "
            "the margin scheme is the seller's choice",
        )
    notes = ["the margin scheme: the invoice shows no VAT (art. 120 ust. 4)"]
    if o.destination != POLAND:
        notes.append(
            f"second-hand goods under the margin scheme stay taxed in Poland on the margin, "
            f"also when shipped to {o.destination}"
        )
    t = VatTreatment.MARGIN_USED_GOODS
    lines = [_fixed(item, t, "margin") for item in o.items]
    return _decision(o, t, lines, why="margin scheme", notes=notes)


def _goods(o: _Order, vies: ViesResult | None, vies_down: bool) -> TreatmentDecision:
    buyer = o.buyer
    if o.destination == POLAND:
        notes = []
        if buyer.kind == "eu":
            _no_zero(
                o,
                VAT_TREATMENT_AMBIGUOUS,
                f"the buyer has a {buyer.country} VAT id but the goods stay in Poland, where "
                "rate 0 has no basis: is the ship-to country missing?",
            )
            notes.append(
                f"the buyer's {buyer.country} VAT id does not make this a WDT: the goods stay "
                "in Poland"
            )
        return _as_sent(o, VatTreatment.DOMESTIC, notes)
    if o.destination not in EU_MEMBER_STATES:
        t = VatTreatment.EXPORT
        return _decision(o, t, [_fixed(item, t, "0") for item in o.items], why="export")
    if buyer.kind == "eu":
        return _to_eu_business(o, vies, vies_down)
    if buyer.kind == "pl":
        _no_zero(
            o,
            VAT_TREATMENT_AMBIGUOUS,
            f"a buyer with a Polish NIP cannot receive a WDT, yet rate 0 was sent for goods "
            f"shipped to {o.destination}",
        )
        return _as_sent(
            o,
            VatTreatment.DOMESTIC,
            [f"the buyer's Polish NIP: taxed in Poland although shipped to {o.destination}"],
        )
    notes = []
    if buyer.kind == "other":
        notes.append("the buyer's tax id is no EU VAT id: the buyer is treated as a consumer")
    elif o.order.buyer.is_company:
        notes.append("a company without an EU VAT id is treated as a consumer")
    return _distance_sale(o, notes)


def _to_eu_business(o: _Order, vies: ViesResult | None, vies_down: bool) -> TreatmentDecision:
    buyer = o.buyer
    assert buyer.vat_id is not None
    if buyer.country != o.destination:
        raise TreatmentRefused(
            VAT_TREATMENT_AMBIGUOUS,
            f"the buyer's VAT id is from {buyer.country} but the goods go to {o.destination}: a "
            "WDT to a buyer registered in another state (triangulation, a chain) is decided by "
            "a person",
        )
    if not o.profile.intra_eu_registered:
        _no_zero(
            o,
            VAT_TREATMENT_AMBIGUOUS,
            "rate 0 sent for a WDT, but the seller is not registered for intra-EU trade (VAT-UE)",
        )
        return _as_sent(
            o,
            VatTreatment.DOMESTIC,
            ["the seller is not registered for intra-EU trade (VAT-UE): no WDT, Polish VAT"],
        )
    answer = _answer(vies, buyer.vat_id, vies_down, o.profile)
    if answer is None:  # VIES down, and the seller's policy issues with Polish VAT
        _no_zero(
            o,
            VAT_TREATMENT_AMBIGUOUS,
            "rate 0 sent for a WDT that VIES could not confirm; the seller's policy issues with "
            "Polish VAT, where rate 0 has no basis",
        )
        return _as_sent(
            o,
            VatTreatment.DOMESTIC,
            [
                "VIES could not answer and the seller's policy is to issue with Polish VAT: "
                "no WDT without a positive VIES check"
            ],
        )
    if not answer.valid:
        return _distance_sale(
            o,
            ["VIES says the buyer's VAT id is not valid: the buyer is treated as a consumer"],
            invalid=answer,
        )
    t = VatTreatment.INTRA_EU_SUPPLY
    lines = [_fixed(item, t, "0") for item in o.items]
    return _decision(o, t, lines, vies=answer, buyer_vat_id=buyer.vat_id, why="WDT")


def _distance_sale(
    o: _Order, notes: list[str], invalid: ViesResult | None = None
) -> TreatmentDecision:
    t = VatTreatment.EU_DISTANCE_SALE
    if not o.profile.oss_registered:
        _no_zero(
            o,
            VIES_INVALID if invalid else VAT_TREATMENT_AMBIGUOUS,
            f"rate 0 sent for goods sold to a consumer in {o.destination}; below the OSS "
            "threshold Polish VAT applies"
            + (": VIES says the buyer's VAT id is not valid, so no WDT" if invalid else ""),
        )
        notes = [*notes, "the seller is not in OSS (below the EU-wide threshold): Polish VAT"]
        return _as_sent(o, t, notes, vies=invalid, legal_basis=_BELOW_OSS_BASIS)
    country = o.destination
    lines = [_oss(item, destination_rate(country, item.category), country) for item in o.lines]
    if o.shipping is not None:
        # the shipping follows the goods; at several rates, the highest (never too little VAT)
        top = max(line.percent for line in lines)
        lines.append(_oss(o.shipping, top, country))
        if len({line.percent for line in lines}) > 1:
            notes = [*notes, f"the shipping bears the goods' highest rate, {top} %"]
    return _decision(o, t, lines, vies=invalid, why=f"{country} VAT through OSS", notes=notes)


def _services(o: _Order, vies: ViesResult | None, vies_down: bool) -> TreatmentDecision:
    """Services: the buyer decides, not the ship-to (art. 28b business, art. 28c consumer)."""
    buyer = o.buyer
    abroad = (o.order.buyer.address.country if o.order.buyer.address else o.destination) or POLAND
    if buyer.kind == "eu":
        assert buyer.vat_id is not None and buyer.country is not None
        answer = _answer(vies, buyer.vat_id, vies_down, o.profile)
        if answer is not None and answer.valid:
            t = VatTreatment.REVERSE_CHARGE_SERVICES
            lines = [_fixed(item, t, "np", country=buyer.country) for item in o.items]
            return _decision(
                o, t, lines, vies=answer, buyer_vat_id=buyer.vat_id, why="reverse charge"
            )
        why = (
            "VIES could not answer and the seller's policy is to issue with Polish VAT"
            if answer is None
            else "VIES says the buyer's VAT id is not valid: the buyer is treated as a consumer"
        )
        _no_reverse_charge(o, VIES_INVALID if answer else VAT_TREATMENT_AMBIGUOUS, why)
        return _as_sent(
            o, VatTreatment.DOMESTIC, [f"{why}; services to consumers are taxed in Poland"], answer
        )
    if o.order.buyer.is_company and abroad not in EU_MEMBER_STATES:
        raise TreatmentRefused(
            VAT_TREATMENT_UNSUPPORTED,
            f"services to a business in {abroad}, outside the EU, are taxed where the buyer "
            "is (art. 28b) and are not decided automatically",
        )
    notes = []
    if o.order.buyer.is_company and abroad != POLAND:
        notes.append("a company without an EU VAT id is treated as a consumer (art. 28c)")
    return _as_sent(o, VatTreatment.DOMESTIC, notes)


def _goods_and_services(o: _Order, vies: ViesResult | None, vies_down: bool) -> TreatmentDecision:
    """One document, one treatment: goods and services together only where both are taxed
    in Poland at the rates sent."""
    if o.buyer.kind == "eu":
        raise TreatmentRefused(
            VAT_TREATMENT_MIXED,
            "goods and services to a business with an EU VAT id: WDT for the goods and reverse "
            "charge for the services need separate documents",
        )
    decision = _goods(o, vies, vies_down)
    polish = (VatTreatment.DOMESTIC, VatTreatment.EU_DISTANCE_SALE)
    if decision.treatment in polish and all(line.country == POLAND for line in decision.lines):
        return decision
    raise TreatmentRefused(
        VAT_TREATMENT_MIXED,
        f"goods and services in one order as {decision.treatment}: the goods' treatment does "
        "not apply to the services; split the order",
    )


# -- helpers ----------------------------------------------------------------------------------


def _answer(
    vies: ViesResult | None, vat_id: str, vies_down: bool, profile: TaxProfile
) -> ViesResult | None:
    """The VIES answer for `vat_id`; None when VIES is down and the policy says go domestic."""
    if vies is not None and vies_spelling(vies.vat_id) == vat_id:
        return vies
    if vies is None and vies_down and profile.vies_unavailable is ViesPolicy.DOMESTIC:
        return None
    raise ViesNeeded(vat_id)  # none yet, an answer about another id, or the policy parks


def _no_zero(o: _Order, code: str, why: str) -> None:
    """Polish rates as sent cannot include 0 % on a cross-border order: refuse instead."""
    zero = [item.line_id for item in o.items if item.sent is VatRate.R0]
    if zero:
        raise TreatmentRefused(code, f"{why} (lines: {', '.join(zero)})")


def _no_reverse_charge(o: _Order, code: str, why: str) -> None:
    untaxed = [
        item.line_id for item in o.items if item.sent in (VatRate.R0, VatRate.NP, VatRate.OO)
    ]
    if untaxed:
        raise TreatmentRefused(
            code,
            f"{why}, yet lines {', '.join(untaxed)} were sent as not taxed in Poland",
        )


def _fixed(item: _Item, t: VatTreatment, rate: str, country: str = POLAND) -> RateLine:
    return RateLine(
        item.line_id, t, rate, Decimal(0), country, item.sent.value, item.sent.value != rate
    )


def _oss(item: _Item, percent: Decimal, country: str) -> RateLine:
    rate = f"oss:{_percent_text(percent)}"
    return RateLine(
        item.line_id,
        VatTreatment.EU_DISTANCE_SALE,
        rate,
        percent,
        country,
        item.sent.value,
        item.sent.value != rate,
    )


def _percent_text(percent: Decimal) -> str:
    text = format(percent, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _as_sent(
    o: _Order,
    t: VatTreatment,
    notes: Sequence[str],
    vies: ViesResult | None = None,
    legal_basis: str | None = None,
) -> TreatmentDecision:
    lines = [
        RateLine(
            item.line_id, t, item.sent.value, item.sent.percent, POLAND, item.sent.value, False
        )
        for item in o.items
    ]
    return TreatmentDecision(
        treatment=t,
        lines=tuple(lines),
        destination=o.destination,
        buyer_vat_id=None,
        vies=vies,
        annotation=None,
        legal_basis=legal_basis,
        notes=tuple(notes),
    )


def _decision(
    o: _Order,
    t: VatTreatment,
    lines: Iterable[RateLine],
    *,
    vies: ViesResult | None = None,
    buyer_vat_id: str | None = None,
    why: str | None = None,
    notes: Sequence[str] = (),
) -> TreatmentDecision:
    lines = tuple(lines)
    return TreatmentDecision(
        treatment=t,
        lines=lines,
        destination=o.destination,
        buyer_vat_id=buyer_vat_id,
        vies=vies,
        annotation=_ANNOTATION.get(t),
        legal_basis=_OSS_BASIS if t is VatTreatment.EU_DISTANCE_SALE else _LEGAL_BASIS.get(t),
        notes=(*notes, *_override_notes(lines, why)) if why else tuple(notes),
    )


def _override_notes(lines: tuple[RateLine, ...], why: str) -> list[str]:
    """One note per (sent, applied) pair, naming its lines: never a silent override."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        if line.overridden:
            pairs.setdefault((line.sent_rate, line.rate), []).append(line.line_id)
    return [
        f"{', '.join(ids)}: the connector's rate {sent} replaced by {rate} ({why})"
        for (sent, rate), ids in pairs.items()
    ]
