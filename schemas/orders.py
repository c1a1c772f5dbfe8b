"""Order events published by marketplace connectors on `orders.<channel>` (key: order id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import (
    ChannelName,
    CountryCode,
    CurrencyCode,
    GtuCode,
    Identifier,
    Money,
    Quantity,
    Timestamp,
    VatRate,
)
from schemas.envelope import CloudEvent

ORDER_COMPLETED = "order.completed"
ORDER_REFUNDED = "order.refunded"


class _Strict(BaseModel):
    # Unknown keys are refused: a misspelled field must not silently become "absent".
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Address(_Strict):
    street: Annotated[str, Field(min_length=1, max_length=200)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    country: CountryCode


class Buyer(_Strict):
    is_company: bool
    company_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    first_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    last_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    tax_id: Annotated[str, Field(min_length=2, max_length=30)] | None = Field(
        default=None, description="Polish NIP (10 digits, optional PL prefix) or an EU VAT id"
    )
    email: Annotated[str, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _named(self) -> Buyer:
        if self.is_company and not self.company_name:
            raise ValueError("a company buyer needs company_name")
        if (
            not self.is_company
            and not (self.first_name and self.last_name)
            and not self.company_name
        ):
            raise ValueError("a private buyer needs first_name and last_name")
        return self


class OrderLine(_Strict):
    line_id: Identifier
    sku: Annotated[str, Field(max_length=100)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=256)]
    quantity: Quantity
    unit: Annotated[str, Field(min_length=1, max_length=20)] = "szt"
    unit_price_gross: Money
    vat_rate: VatRate
    gtu: GtuCode | None = None
    # What the VAT decision needs (docs/vat.md); absent in v1 events, hence the defaults.
    kind: Literal["goods", "service"] = Field(
        default="goods", description="Goods or a service: reverse charge is for services only"
    )
    scheme: Literal["standard", "margin"] | None = Field(
        default=None,
        description="margin: second-hand goods under the VAT margin scheme (art. 120); "
        "absent: the channel's default",
    )
    split_payment_goods: bool | None = Field(
        default=None,
        description="Annex 15 goods (split payment over 15,000 PLN); absent: the channel's default",
    )
    category: Literal["standard", "reduced"] = Field(
        default="standard",
        description="Which destination rate applies under OSS; 'reduced' only resolves where "
        "the destination has a single reduced rate",
    )


class Shipping(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=256)] = "Dostawa"
    price_gross: Money
    vat_rate: VatRate


class PaymentMethod(StrEnum):
    CARD = "card"
    TRANSFER = "transfer"
    BLIK = "blik"
    PAYU = "payu"
    PAYPAL = "paypal"
    CASH = "cash"
    CASH_ON_DELIVERY = "cash_on_delivery"
    MARKETPLACE = "marketplace"
    OTHER = "other"


class Payment(_Strict):
    method: PaymentMethod
    paid_at: Timestamp | None = None
    paid_amount: Money


class Order(_Strict):
    order_id: Identifier
    number: Identifier | None = None
    placed_at: Timestamp
    currency: CurrencyCode
    total_gross: Money | None = Field(
        default=None, description="When stated, must equal lines plus shipping to the grosz"
    )
    buyer: Buyer
    ship_to_country: CountryCode | None = Field(
        default=None,
        description="Where the goods go (decides WDT, export, OSS); absent: the buyer's "
        "address country, else PL",
    )
    wants_invoice: bool = False
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=1000)]
    shipping: Shipping | None = None
    payment: Payment


class RefundLine(_Strict):
    line_id: Identifier
    quantity: Quantity
    amount_gross: Money


class Refund(_Strict):
    refund_id: Identifier
    lines: Annotated[list[RefundLine], Field(max_length=1000)] = Field(default_factory=list)
    shipping_refunded: Money | None = Field(
        default=None, description="Gross shipping amount refunded, if any"
    )
    reason: Annotated[str, Field(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _not_empty(self) -> Refund:
        if not self.lines and not self.shipping_refunded:
            raise ValueError("a refund needs at least one line or a shipping amount")
        return self


class OrderCompletedData(_Strict):
    seller_id: Identifier
    channel: ChannelName
    order: Order


class OrderRefundedData(_Strict):
    seller_id: Identifier
    channel: ChannelName
    order: Order = Field(description="The order as sold, so a correction needs no other state")
    refund: Refund


class OrderCompleted(CloudEvent[OrderCompletedData]):
    type: Literal["order.completed"]
    dataschema: Literal["urn:invoice-router:schema:order.completed:v1"]


class OrderRefunded(CloudEvent[OrderRefundedData]):
    type: Literal["order.refunded"]
    dataschema: Literal["urn:invoice-router:schema:order.refunded:v1"]


OrderEvent = Annotated[OrderCompleted | OrderRefunded, Field(discriminator="type")]
