"""The README's new-user walkthrough, run exactly as written (the shell block between its
`walkthrough` markers), against the test broker and database."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.harness import REPO

pytestmark = pytest.mark.integration
BLOCK = re.compile(r"<!-- walkthrough:begin -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", re.S)


def walkthrough() -> str:
    found = BLOCK.search((REPO / "README.md").read_text())
    assert found, "README.md lost its walkthrough block"
    return found.group(1)


def isolated_env(kafka_bootstrap: str, postgres_url: str, uid: str) -> dict[str, str]:
    """The shared broker holds other tests' topics: consume only `orders.ovoko`, under an app id
    and output topics of this run's own (the block itself sets none of these)."""
    _, port = kafka_bootstrap.rsplit(":", 1)
    return {
        **os.environ,
        "KAFKA_PORT": port,  # `scripts/kafka-local start` finds the running broker
        "DATABASE_URL": postgres_url,
        "INVOICE_ROUTER_APP_ID": f"walkthrough-{uid}",
        "INVOICE_ROUTER_CHANNELS": "ovoko",
        "INVOICE_ROUTER_ORDERS_TOPIC_PATTERN": r"^orders\.ovoko$",
        "INVOICE_ROUTER_TOPIC_INVOICES_ISSUED": f"invoices.issued.{uid}",
        "INVOICE_ROUTER_TOPIC_INVOICES_FAILED": f"invoices.failed.{uid}",
        "INVOICE_ROUTER_CONFIG_CACHE_SECONDS": "0.5",
    }


def test_the_readme_walkthrough_works_as_written(
    kafka_bootstrap: str, postgres_url: str, uid: str
) -> None:
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -euo pipefail\n" + walkthrough()
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env=isolated_env(kafka_bootstrap, postgres_url, uid),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    worker_log = Path(REPO / "worker.log").read_text(errors="replace")[-3000:]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + worker_log
    out = done.stdout
    assert "connection main verified and stored" in out and "101" in out
    issued = [json.loads(line) for line in out.splitlines() if line.startswith('{"topic"')]
    assert [e["value"]["type"] for e in issued] == ["invoice.issued"]
    document = issued[0]["value"]["data"]["document"]
    assert (document["kind"], document["totals"]["gross"]) == ("invoice", "310.48")
    # (a broker used before may hold earlier sample orders of this seller: at least ours)
    status = re.search(r"^\s*ovoko\s+main\s+101\s+on\s+(\d+)\s+(\d+)", out, re.M)
    assert status and int(status[1]) >= 1 and status[2] == "0", out
    assert re.search(
        r'^invoice_router_documents_total\{[^}]*result="issued"[^}]*\} [1-9]', out, re.M
    ), out
