"""A faithful local stand-in for VIES, the EU's VAT number check (its REST API), with a
registry of numbers and fault injection. See ``ViesSimulator``."""

from .models import FaultRule, KnownNumber, RequestRecord
from .simulator import ViesSimulator

__all__ = ["FaultRule", "KnownNumber", "RequestRecord", "ViesSimulator"]
