"""Provider clients share one TLS context: a client per seller must not cost a CA bundle each."""

from __future__ import annotations

import gc
from pathlib import Path

from adapters.fakturownia.provider import FakturowniaProvider


def resident_bytes() -> int:
    """This process's resident memory (the CA bundle lives in OpenSSL, out of Python's sight)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def client(name: str) -> FakturowniaProvider:
    return FakturowniaProvider(base_url=f"https://{name}.fakturownia.pl", api_token=name)


async def test_a_hundred_seller_clients_do_not_load_a_hundred_ca_bundles() -> None:
    await client("warm").aclose()  # the shared context, once
    gc.collect()
    before = resident_bytes()
    clients = [client(f"s{i}") for i in range(100)]
    grown = resident_bytes() - before
    for c in clients:
        await c.aclose()
    assert grown < 20 * 1024 * 1024, f"{grown / 1e6:.1f} MB for 100 clients"
