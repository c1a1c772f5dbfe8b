"""Standalone simulator: ``python -m simulators.vies --port 8083 [--numbers file]``.

Point the worker at it with ``INVOICE_ROUTER_VIES_URL=http://127.0.0.1:8083``. Prints one
readiness line (scripts wait for it) and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from simulators.common.standalone import parser, read_json, serve_until_stopped

from .models import KnownNumber
from .simulator import ViesSimulator

READY_LINE = "vies-simulator listening on {url}"


def load_numbers(path: Path) -> list[KnownNumber]:
    """Read a JSON list of registered numbers, or an object with a ``numbers`` list."""
    data: Any = read_json(path)
    items = data.get("numbers", []) if isinstance(data, dict) else data
    return [KnownNumber.from_dict(item) for item in items]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = parser("Local VIES REST API simulator (EU VAT number checks)", port=8083)
    args.add_argument("--numbers", type=Path, help="JSON file with registered VAT ids")
    return args.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sim = ViesSimulator(load_numbers(args.numbers) if args.numbers else ())
    await serve_until_stopped(sim, args.host, args.port, READY_LINE)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
