"""Standalone simulator: ``python -m simulators.fakturownia --port 8081 [--accounts file]``.

Prints one readiness line (scripts wait for it) and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from simulators.common.standalone import parser, read_json, serve_until_stopped

from .models import SimAccount
from .simulator import FakturowniaSimulator

READY_LINE = "fakturownia-simulator listening on {url}"


def load_accounts(path: Path) -> list[SimAccount]:
    """Read a JSON list of accounts, or an object with an ``accounts`` list."""
    data: Any = read_json(path)
    items = data.get("accounts", []) if isinstance(data, dict) else data
    return [SimAccount.from_dict(item) for item in items]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = parser("Local Fakturownia REST API simulator", port=8081)
    args.add_argument("--accounts", type=Path, help="JSON file with accounts to preload")
    return args.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sim = FakturowniaSimulator()
    for account in load_accounts(args.accounts) if args.accounts else []:
        sim.add_account(account)
    await serve_until_stopped(sim, args.host, args.port, READY_LINE)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
