"""Checks both simulators' serving share: in a thread, and as a standalone process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def served_in_thread(sim: Any) -> Iterator[str]:
    """``sim.serve_in_thread`` on a free port: yields its ``http://127.0.0.1:PORT`` and, once
    the block is left, checks that nothing listens there any more."""
    with sim.serve_in_thread("127.0.0.1", 0) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        yield url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__sim/health")


@contextmanager
def standalone(module: str, *args: str, ready: str) -> Iterator[str]:
    """``python -m module --port 0 *args``: waits for its readiness line (``{ready} listening on
    URL``) and yields the URL; leaving the block sends SIGTERM and expects a clean exit."""
    command = [sys.executable, "-m", module, "--port", "0", *args]
    with subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            match = re.fullmatch(
                rf"{re.escape(ready)} listening on (http://127\.0\.0\.1:\d+)", line
            )
            assert match, line
            yield match.group(1)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def company_invoice(department_id: int = 101, **overrides: Any) -> dict[str, Any]:
    """A KSeF-compliant B2B Fakturownia invoice body (without the envelope)."""
    invoice: dict[str, Any] = {
        "kind": "vat",
        "department_id": department_id,
        "buyer_company": True,
        "buyer_name": "Hurtownia Sp. z o.o.",
        "buyer_tax_no": "1234563218",
        "buyer_street": "ul. Długa 5",
        "buyer_post_code": "30-001",
        "buyer_city": "Kraków",
        "buyer_country": "PL",
        "buyer_email": "biuro@hurtownia.example",
        "positions": [{"name": "Widget", "quantity": 1, "tax": 23, "total_price_gross": 100}],
    }
    invoice.update(overrides)
    return invoice


def person_invoice(department_id: int = 101, **overrides: Any) -> dict[str, Any]:
    """A private buyer: no company name or NIP, first and last name instead."""
    person = {
        "buyer_company": False,
        "buyer_name": None,
        "buyer_tax_no": None,
        "buyer_first_name": "Jan",
        "buyer_last_name": "Kowalski",
        "buyer_email": "jan@example.test",
    }
    return company_invoice(department_id, **{**person, **overrides})
