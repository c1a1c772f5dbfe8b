"""Why a VAT treatment cannot be decided: a pre-flight refusal, or a VIES answer still missing.

Its own module so the rate tables (`domain/oss_rates.py`) can refuse without importing the
decision; `domain/vat.py` re-exports both exceptions.
"""

from __future__ import annotations

# The codes an order can fail with; each is a FailureCode of `invoice.failed`.
VAT_TREATMENT_AMBIGUOUS = "vat_treatment_ambiguous"  # the data contradict each other
VAT_TREATMENT_MIXED = "vat_treatment_mixed"  # lines need different treatments in one document
VAT_TREATMENT_UNSUPPORTED = "vat_treatment_unsupported"  # a case decided by a person, not here
VAT_RATE_UNKNOWN_FOR_COUNTRY = "vat_rate_unknown_for_country"  # no destination rate for a line
VIES_INVALID = "vies_invalid"  # VIES says the id is invalid, but the order was priced as WDT

REFUSAL_CODES: frozenset[str] = frozenset(
    {
        VAT_TREATMENT_AMBIGUOUS,
        VAT_TREATMENT_MIXED,
        VAT_TREATMENT_UNSUPPORTED,
        VAT_RATE_UNKNOWN_FOR_COUNTRY,
        VIES_INVALID,
    }
)


class TreatmentRefused(Exception):
    """The order cannot be issued as sent: a wrong treatment is a wrong legal document, so it
    fails pre-flight with `code` instead of being guessed."""

    def __init__(self, code: str, message: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown VAT refusal code {code!r}")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class ViesNeeded(Exception):
    """The decision depends on whether `vat_id` is active in VIES: ask, then decide again."""

    def __init__(self, vat_id: str) -> None:
        self.vat_id = vat_id
        # never the number itself in the message: a sole trader's VAT id is personal data
        super().__init__(f"a VIES check of the buyer's {vat_id[:2]} VAT id is needed first")
