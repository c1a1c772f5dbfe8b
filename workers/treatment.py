"""The VAT treatment of an order, decided before any provider call (issue 13).

route + order + VIES → a decision for the document, a refusal (the order fails pre-flight with
the refusal's code) or a wait for VIES. VIES answers are cached per id per day by the checker
(adapters/vies); a VIES outage parks the order under the seller's `park` policy, or issues with
Polish VAT under `domestic` (domain/vat.py decides which), never a WDT without a positive check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters.vies.port import ViesChecker, ViesUnavailable
from domain.vat import TaxProfile, TreatmentRefused, ViesNeeded, decide_treatment
from domain.vat_document import Decided, split_payment_due
from domain.vies import ViesResult
from schemas.invoices import FailureCode
from schemas.orders import Order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    code: FailureCode
    message: str


@dataclass(frozen=True)
class WaitForVies:
    """VIES could not answer and the seller's policy is to wait: retry without spending the
    order's retries (an outage of VIES is not the order's fault)."""

    detail: str


class TreatmentService:
    def __init__(self, vies: ViesChecker | None) -> None:
        self._vies = vies

    async def decide(self, order: Order, profile: TaxProfile) -> Decided | Refused | WaitForVies:
        down = ""
        try:
            try:  # most orders need no VIES answer: decided in one pass
                decision = decide_treatment(order, profile, None)
            except ViesNeeded as needed:  # the id `vies_subject` names, without a second pass
                answer, down = await self._ask(needed.vat_id)
                decision = decide_treatment(order, profile, answer, vies_down=bool(down))
        except TreatmentRefused as exc:
            return Refused(_code(exc.code), exc.message)
        except ViesNeeded:
            return WaitForVies(down or "VIES gave no answer")
        if decision.vies is not None and not decision.vies.valid:
            log.info("order %s: VIES says the buyer's VAT id is not active", order.order_id)
        return Decided(decision, split_payment_due(order, profile))

    async def _ask(self, vat_id: str) -> tuple[ViesResult | None, str]:
        """VIES's answer, or why there is none."""
        if self._vies is None:
            return None, "no VIES checker is configured"
        try:
            return await self._vies.check(vat_id), ""
        except ViesUnavailable as exc:
            return None, f"VIES cannot answer now: {exc}"


def _code(code: str) -> FailureCode:
    try:
        return FailureCode(code)
    except ValueError:  # a refusal code newer than the contract: still a precise refusal
        return FailureCode.VAT_TREATMENT_AMBIGUOUS
