"""What seller onboarding accepts and returns: inputs validated the same way for the CLI and the
HTTP API, and views that name credentials but never carry their values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from adapters.fakturownia import AccountLinkError, normalise_account
from config.apply import ChannelVatSpec, TaxSpec
from domain.routing import ConnectionStatus, DocumentPolicy
from schemas.invoices import Provider

# --- inputs (validated the same way for the CLI and the HTTP API) ------------------------------


def no_nul(text: str) -> str:
    """PostgreSQL refuses NUL in text (SQLite stores it): refused up front on both."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        for text in plain if isinstance(plain, list) else [plain]:
            if isinstance(text, str):
                no_nul(text)
        return value


class FakturowniaConnect(_Input):
    provider: Literal["fakturownia"] = "fakturownia"
    seller_name: str | None = Field(None, min_length=1, max_length=256)
    account: str = Field(description="The account link, https://<account>.fakturownia.pl")
    api_token: SecretStr = Field(min_length=1, description="Settings → Account → Integration")
    receipts_enabled: bool = False
    send_by_email: bool = Field(False, description="Default for channels mapped to it")

    @field_validator("account")
    @classmethod
    def _account(cls, link: str) -> str:
        try:
            return normalise_account(link)
        except AccountLinkError as exc:
            raise ValueError(str(exc)) from exc


class WfirmaConnect(_Input):
    provider: Literal["wfirma"] = "wfirma"
    seller_name: str | None = Field(None, min_length=1, max_length=256)
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr = Field(min_length=1)
    company_id: int | None = Field(None, gt=0, description="Needed when the login has several")
    redirect_uri: str = Field(description="The https redirect URI registered with the wFirma app")
    extra_scopes: list[str] = Field(
        default_factory=list, description="e.g. series-read, to list numbering series"
    )
    receipts_enabled: bool = False
    send_by_email: bool = Field(False, description="Default for channels mapped to it")

    @field_validator("redirect_uri")
    @classmethod
    def _https(cls, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("the redirect URI must be an https URL")
        return uri

    @field_validator("extra_scopes")
    @classmethod
    def _scopes(cls, scopes: list[str]) -> list[str]:
        bad = [s for s in scopes if not s.endswith(("-read", "-write")) or " " in s]
        if bad:
            raise ValueError(f"not wFirma scopes: {', '.join(bad)} (expected e.g. series-read)")
        return scopes


class ChannelSettings(_Input):
    connection: str | None = Field(
        None, min_length=1, max_length=100, description="Default: the seller's only connection"
    )
    target: str | None = Field(
        None, min_length=1, max_length=100, description="Fakturownia department / wFirma series id"
    )
    auto_generate: bool = True
    document_policy: DocumentPolicy = DocumentPolicy.AUTO
    send_by_email: bool | None = Field(None, description="Default: the connection's default")
    vat: ChannelVatSpec | None = Field(
        None, description="The channel's VAT defaults (docs/vat.md); default: unchanged"
    )


# --- views (never a credential value) ------------------------------------------------------


class ConnectionView(BaseModel):
    name: str
    provider: Provider
    status: ConnectionStatus
    credentials: list[str] = Field(description="Names of the stored credentials, never values")
    options: dict[str, Any]


class ChannelView(BaseModel):
    channel: str
    connection: str | None
    target: str | None
    auto_generate: bool
    document_policy: DocumentPolicy
    send_by_email: bool
    vat: ChannelVatSpec = Field(default_factory=ChannelVatSpec)


class SellerView(BaseModel):
    id: str
    name: str
    tax: TaxSpec = Field(default_factory=TaxSpec, description="Tax profile (docs/vat.md)")
    connections: list[ConnectionView]
    channels: list[ChannelView]


class DepartmentView(BaseModel):
    """A mapping target: a Fakturownia department or a wFirma numbering series."""

    id: str
    name: str
    shortcut: str | None = None
    tax_no: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class CompanyView(BaseModel):
    id: str
    name: str
    nip: str | None = None


class FakturowniaConnected(BaseModel):
    connection: ConnectionView
    departments: list[DepartmentView]
    replaced: list[str] = Field(description="Connections deleted by a confirmed provider switch")


class WfirmaConnected(BaseModel):
    connection: ConnectionView
    authorization_url: str = Field(description="Where the seller consents; valid 15 minutes")
    replaced: list[str]


class Authorized(BaseModel):
    seller_id: str
    connection: str


class Verification(BaseModel):
    connection: str
    provider: Provider
    status: ConnectionStatus
    departments: list[DepartmentView] = Field(default_factory=list)
    companies: list[CompanyView] = Field(default_factory=list)


class ConnectionState(BaseModel):
    name: str
    provider: Provider
    state: ConnectionStatus
    detail: str | None


class ChannelCounts(BaseModel):
    issued: int
    failed: int
    parked: int
    skipped: int


class ChannelStatus(BaseModel):
    channel: str
    mapping: ChannelView | None = Field(description="None: orders arrive but nothing is mapped")
    last_hour: ChannelCounts


class KsefCounts(BaseModel):
    """Documents not (yet) legally issued: waiting for a KSeF number, or refused by KSeF."""

    pending: int = 0
    offline: int = Field(0, description="Issued offline: must reach KSeF by a legal deadline")
    rejected: int = Field(0, description="Refused by KSeF: never issued; a person must act")


class SellerStatus(BaseModel):
    id: str
    name: str
    connections: list[ConnectionState]
    channels: list[ChannelStatus]
    ksef: KsefCounts = Field(default_factory=KsefCounts)


class StatusReport(BaseModel):
    at: dt.datetime
    sellers: list[SellerStatus]
