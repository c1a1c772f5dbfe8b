"""Standalone simulator: ``python -m simulators.wfirma --port 8082 [--config file]``.

The config file is JSON: ``{"logins": [SimLogin...], "oauth_apps": [SimOAuthApp...]}`` (or a
bare list of logins). Prints one readiness line (scripts wait for it) and stops cleanly on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from simulators.common.standalone import parser, read_json, serve_until_stopped

from .models import SimLogin, SimOAuthApp
from .simulator import WfirmaSimulator

READY_LINE = "wfirma-simulator listening on {url}"


def load_config(path: Path) -> tuple[list[SimLogin], list[SimOAuthApp]]:
    data: Any = read_json(path)
    if isinstance(data, list):
        data = {"logins": data}
    logins = [SimLogin.from_dict(item) for item in data.get("logins", [])]
    apps = [SimOAuthApp.from_dict(item) for item in data.get("oauth_apps", [])]
    return logins, apps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = parser("Local wFirma API2 simulator", port=8082)
    args.add_argument("--config", type=Path, help="JSON file with logins and OAuth apps")
    args.add_argument(
        "--auth-error-status", type=int, default=200, help="HTTP status of AUTH answers"
    )
    return args.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sim = WfirmaSimulator(auth_error_status=args.auth_error_status)
    logins, apps = load_config(args.config) if args.config else ([], [])
    for login in logins:
        sim.add_login(login)
    for app in apps:
        sim.add_oauth_app(app)
    await serve_until_stopped(sim, args.host, args.port, READY_LINE)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
