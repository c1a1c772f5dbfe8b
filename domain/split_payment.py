"""When an invoice must carry "mechanizm podzielonej płatności" (MPP, art. 108a ust. 1a).

The obligation applies when the invoice's total gross amount due *exceeds* 15,000 PLN and it
includes goods or services of Annex 15 (car parts and accessories among them). Foreign-currency
invoices are compared after conversion at the rate used on the invoice (the caller converts).
"""

from __future__ import annotations

from decimal import Decimal

MPP_THRESHOLD_PLN = Decimal("15000.00")
MPP_ANNOTATION = "mechanizm podzielonej płatności"


def requires_split_payment(gross_pln: Decimal, has_annex15: bool) -> bool:
    """Strictly over the threshold: 15,000.00 PLN does not require it, 15,000.01 does."""
    return has_annex15 and gross_pln > MPP_THRESHOLD_PLN
