"""Standalone simulator: ``python -m simulators.fakturownia --port 8081 [--accounts file]``.

Prints one readiness line (scripts wait for it) and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from .models import SimAccount
from .simulator import FakturowniaSimulator

READY_LINE = "fakturownia-simulator listening on {url}"


def load_accounts(path: Path) -> list[SimAccount]:
    """Read a JSON list of accounts, or an object with an ``accounts`` list."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("accounts", []) if isinstance(data, dict) else data
    return [SimAccount.from_dict(item) for item in items]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local Fakturownia REST API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--accounts", type=Path, help="JSON file with accounts to preload")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sim = FakturowniaSimulator()
    for account in load_accounts(args.accounts) if args.accounts else []:
        sim.add_account(account)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with sim.serve(args.host, args.port) as url:
        print(READY_LINE.format(url=url), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
