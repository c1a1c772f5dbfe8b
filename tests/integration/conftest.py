"""Fixtures shared by the end-to-end tests: a Fakturownia simulator served from a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment

SELLER_NIP = "5252445767"


@pytest.fixture
def fakturownia(uid: str) -> Iterator[tuple[FakturowniaSimulator, str]]:
    """Accounts `acme-<uid>` (departments 101, 102) and `beta-<uid>` (201); yields (sim, url)."""
    sim = FakturowniaSimulator()
    sim.add_account(
        SimAccount(
            prefix=f"acme-{uid}",
            api_token=f"tok-a-{uid}",
            departments=[
                SimDepartment(id=101, name="Sklep Ovoko", shortcut="OVO", tax_no=SELLER_NIP),
                SimDepartment(id=102, name="Sklep Allegro", shortcut="ALG", tax_no=SELLER_NIP),
            ],
        )
    )
    sim.add_account(
        SimAccount(
            prefix=f"beta-{uid}",
            api_token=f"tok-b-{uid}",
            departments=[SimDepartment(id=201, name="B", tax_no="7010002137")],
        )
    )
    with sim.serve_in_thread() as base_url:
        yield sim, base_url
