"""Split payment (MPP, art. 108a ust. 1a): strictly over 15,000 PLN gross, Annex 15 goods only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.split_payment import MPP_ANNOTATION, requires_split_payment


@pytest.mark.parametrize(
    ("gross", "annex15", "expected"),
    [
        ("15000.00", True, False),
        ("15000.01", True, True),
        ("16000.00", True, True),
        ("14999.99", True, False),
        ("16000.00", False, False),
        ("15000.01", False, False),
    ],
)
def test_threshold(gross: str, annex15: bool, expected: bool) -> None:
    assert requires_split_payment(Decimal(gross), annex15) is expected


def test_the_annotation_is_the_statutory_wording() -> None:
    assert MPP_ANNOTATION == "mechanizm podzielonej płatności"
