"""Local simulator of the Fakturownia REST API (see shared/reference/fakturownia-api.md).

Used in-process by tests and as a standalone process for demos; behaviour not documented by
the vendor follows the reference's "Simulator contract" (§10) choices.
"""

from .ksef_rules import KsefRule
from .models import (
    FaultRule,
    KsefSend,
    RequestRecord,
    SentEmail,
    SimAccount,
    SimDepartment,
    WebhookDelivery,
)
from .simulator import FakturowniaSimulator

__all__ = [
    "FakturowniaSimulator",
    "FaultRule",
    "KsefRule",
    "KsefSend",
    "RequestRecord",
    "SentEmail",
    "SimAccount",
    "SimDepartment",
    "WebhookDelivery",
]
