"""Seller onboarding as a service: connect a provider, verify it, map channels, report status.

Thin orchestration over config/ (the configuration store, `config apply`'s upserts, the ledger)
and adapters/ (the same provider clients the worker builds), shared by the CLI and the HTTP API
(workers/api.py). A Fakturownia connection is verified with a real call before it is stored; a
wFirma one is stored waiting for the seller's OAuth consent. Writes go straight to the database
and workers pick them up within INVOICE_ROUTER_CONFIG_CACHE_SECONDS, without a restart.
Credentials are sealed at rest and never leave this package: views carry their names only.

One module per responsibility; this one re-exports the public names, so callers keep importing
`from workers.sellers import ...`.
"""

from workers.sellers.channels import (
    get_channel,
    list_channels,
    remove_channel,
    set_auto_generate,
    set_channel,
)
from workers.sellers.connect import (
    AWAITING_CONSENT,
    SELLER_ID_MAX,
    Settle,
    complete_wfirma,
    connect_fakturownia,
    connect_wfirma,
    wfirma_authorization_url,
)
from workers.sellers.errors import (
    InvalidRequest,
    NotFound,
    ProviderCheckFailed,
    SellerServiceError,
    SwitchNotConfirmed,
)
from workers.sellers.lookup import get_seller, list_sellers
from workers.sellers.models import (
    Authorized,
    ChannelCounts,
    ChannelSettings,
    ChannelStatus,
    ChannelView,
    CompanyView,
    ConnectionState,
    ConnectionView,
    DepartmentView,
    FakturowniaConnect,
    FakturowniaConnected,
    KsefCounts,
    SellerStatus,
    SellerView,
    StatusReport,
    Verification,
    WfirmaConnect,
    WfirmaConnected,
)
from workers.sellers.provider import list_companies, list_departments, verify_connection
from workers.sellers.report import STATUS_WINDOW, LedgerCounts, status

__all__ = [
    "AWAITING_CONSENT",
    "SELLER_ID_MAX",
    "STATUS_WINDOW",
    "Authorized",
    "ChannelCounts",
    "ChannelSettings",
    "ChannelStatus",
    "ChannelView",
    "CompanyView",
    "ConnectionState",
    "ConnectionView",
    "DepartmentView",
    "FakturowniaConnect",
    "FakturowniaConnected",
    "InvalidRequest",
    "KsefCounts",
    "LedgerCounts",
    "NotFound",
    "ProviderCheckFailed",
    "SellerServiceError",
    "SellerStatus",
    "SellerView",
    "Settle",
    "StatusReport",
    "SwitchNotConfirmed",
    "Verification",
    "WfirmaConnect",
    "WfirmaConnected",
    "complete_wfirma",
    "connect_fakturownia",
    "connect_wfirma",
    "get_channel",
    "get_seller",
    "list_channels",
    "list_companies",
    "list_departments",
    "list_sellers",
    "remove_channel",
    "set_auto_generate",
    "set_channel",
    "status",
    "verify_connection",
    "wfirma_authorization_url",
]
