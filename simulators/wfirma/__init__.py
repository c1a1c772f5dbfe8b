"""Local simulator of wFirma API2 and its OAuth 2.0 pages (see shared/reference/wfirma-api.md).

Used in-process by tests (``WfirmaSimulator.serve`` / ``serve_in_thread``) and as a standalone
process for demos (``python -m simulators.wfirma``). Behaviour the vendor does not document
follows the reference's simulator suggestions; each such choice is marked UNCONFIRMED where it
is implemented.

One server answers both production hosts, so an adapter needs two base URLs, both set to the
simulator's ``http://127.0.0.1:PORT``:

====================================================  =====================================
production                                            simulator
====================================================  =====================================
``https://wfirma.pl/oauth2/auth`` (consent page)      ``{base}/oauth2/auth`` (302 redirect)
``https://api2.wfirma.pl/oauth2/token``               ``{base}/oauth2/token``
``https://api2.wfirma.pl/{module}/{action}[/{id}]``   ``{base}/{module}/{action}[/{id}]``
====================================================  =====================================

``/__sim/...`` is the simulator's own control API (see ``control.py``).
"""

from .models import (
    FaultRule,
    RateLimits,
    RequestRecord,
    SentEmail,
    SimApiKey,
    SimBankAccount,
    SimCompany,
    SimLogin,
    SimOAuthApp,
    SimSeries,
    TokenRequest,
)
from .simulator import WfirmaSimulator

__all__ = [
    "FaultRule",
    "RateLimits",
    "RequestRecord",
    "SentEmail",
    "SimApiKey",
    "SimBankAccount",
    "SimCompany",
    "SimLogin",
    "SimOAuthApp",
    "SimSeries",
    "TokenRequest",
    "WfirmaSimulator",
]
