"""One benchmark run's slice of the shared services: names, configuration and simulators.

Every name carries the run's `uid` (topics, consumer group, database, sellers), so a run never
sees another run's records or a test's, and the worker's topic discovery pattern matches only
this run's channel topics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.services import REPO

SELLER_NIP = "5252445767"
WFIRMA_APP_KEY = "bench-app-key"


@dataclass
class Stack:
    """Names and settings of one run; `env()` is what every worker process gets."""

    uid: str
    bootstrap: str
    database_url: str
    sellers: int
    partitions: int
    secret_key: str = ""
    fakturownia_url: str = ""
    wfirma_url: str = ""

    @property
    def channels(self) -> list[str]:
        return [f"ovoko-{self.uid}", f"allegro-{self.uid}"]

    @property
    def wfirma_channel(self) -> str:
        return f"shop-{self.uid}"

    @property
    def order_topics(self) -> list[str]:
        return [f"orders.{c}" for c in self.channels]

    @property
    def group(self) -> str:
        return f"invoice-router-bench-{self.uid}"

    @property
    def issued_topic(self) -> str:
        return f"invoices.issued.bench-{self.uid}"

    @property
    def failed_topic(self) -> str:
        return f"invoices.failed.bench-{self.uid}"

    def seller(self, index: int) -> str:
        return f"bench-{self.uid}-{index:03d}"

    @property
    def wfirma_seller(self) -> str:
        return f"bench-{self.uid}-wfirma"

    def env(self, processes: int = 1, channels: list[str] | None = None) -> dict[str, str]:
        """Environment of a worker (or a CLI command) of this run, like the integration tests'
        `Stack.env()`: private topics and group, a discovery pattern matching only them."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url,
            "INVOICE_ROUTER_APP_ID": self.group,
            "INVOICE_ROUTER_CHANNELS": ",".join(channels or self.channels),
            "INVOICE_ROUTER_TOPIC_PARTITIONS": str(self.partitions),
            "INVOICE_ROUTER_TOPIC_INVOICES_ISSUED": self.issued_topic,
            "INVOICE_ROUTER_TOPIC_INVOICES_FAILED": self.failed_topic,
            "INVOICE_ROUTER_ORDERS_TOPIC_PATTERN": rf"^orders\.[a-z]+-{self.uid}$",
            "INVOICE_ROUTER_FAKTUROWNIA_URL_TEMPLATE": f"{self.fakturownia_url}/{{prefix}}",
            "INVOICE_ROUTER_WFIRMA_APP_KEY": WFIRMA_APP_KEY,
            "INVOICE_ROUTER_WORKER_PROCESSES": str(processes),
            "INVOICE_ROUTER_SECRET_KEYS": self.secret_key,
            **({"INVOICE_ROUTER_WFIRMA_API_URL": self.wfirma_url} if self.wfirma_url else {}),
        }


def config_yaml(stack: Stack, wfirma: bool) -> str:
    """`config apply` input: `stack.sellers` Fakturownia sellers on both channels (receipts on,
    so B2C orders become receipts), plus one wFirma seller (API keys) when asked."""
    lines = ["sellers:"]
    for i in range(stack.sellers):
        lines += [
            f"  - id: {stack.seller(i)}",
            f"    name: Bench seller {i}",
            "    connections:",
            "      - name: main",
            "        provider: fakturownia",
            f'        credentials: {{api_token: "tok-{stack.seller(i)}"}}',
            f'        options: {{account: "{stack.seller(i)}", receipts_enabled: true}}',
            "    channels:",
            f'      - {{channel: "{stack.channels[0]}", connection: main, target: "101"}}',
            f'      - {{channel: "{stack.channels[1]}", connection: main, target: "102"}}',
        ]
    if wfirma:
        lines += [
            f"  - id: {stack.wfirma_seller}",
            "    name: Bench wFirma seller",
            "    connections:",
            "      - name: wf",
            "        provider: wfirma",
            f'        credentials: {{access_key: "ak-{stack.uid}", secret_key: "sk-{stack.uid}"}}',
            "        options: {company_id: 7001, receipts_enabled: true}",
            "    channels:",
            f'      - {{channel: "{stack.wfirma_channel}", connection: wf, target: "71"}}',
        ]
    return "\n".join(lines) + "\n"


def fakturownia_accounts(stack: Stack) -> list[dict[str, Any]]:
    """One simulated account per seller, departments 101 and 102 (one per channel)."""
    return [
        {
            "prefix": stack.seller(i),
            "api_token": f"tok-{stack.seller(i)}",
            "departments": [
                {"id": 101, "name": f"Sklep {i} A", "tax_no": SELLER_NIP},
                {"id": 102, "name": f"Sklep {i} B", "tax_no": SELLER_NIP},
            ],
        }
        for i in range(stack.sellers)
    ]


def wfirma_config(stack: Stack, rate_status: int = 429) -> dict[str, Any]:
    """One login with API keys and wFirma's reported request budget (30/15 s, 80/min,
    2,400/h), refusals answered with `rate_status` so the request log counts them."""
    return {
        "logins": [
            {
                "login": f"bench-{stack.uid}",
                "api_keys": [
                    {
                        "access_key": f"ak-{stack.uid}",
                        "secret_key": f"sk-{stack.uid}",
                        "app_key": WFIRMA_APP_KEY,
                    }
                ],
                "rate_limits": {"http_status": rate_status},
                "companies": [
                    {
                        "id": 7001,
                        "name": "Bench wFirma",
                        "nip": SELLER_NIP,
                        "street": "Prosta 1",
                        "zip": "00-001",
                        "city": "Warszawa",
                        "series": [
                            {"id": 71, "name": "Bench", "template": "BW [numer]/[rok]"},
                            {
                                "id": 72,
                                "name": "Bench paragony",
                                "template": "PBW [numer]/[rok]",
                                "type": "receipt_normal",
                            },
                        ],
                    }
                ],
            }
        ]
    }


class Simulator:
    """A provider simulator in its own process on a free port (it binds port 0 and prints
    the URL), driven through its `/__sim/` control API."""

    def __init__(self, provider: str, config: Any, workdir: Path) -> None:
        self.provider = provider
        self.log_path = workdir / f"{provider}-simulator.log"
        config_path = workdir / f"{provider}-simulator.json"
        config_path.write_text(json.dumps(config))
        flag = "--accounts" if provider == "fakturownia" else "--config"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"simulators.{provider}", "--port", "0", flag, str(config_path)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.url = self._wait_ready()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _wait_ready(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if "listening on " in line:
                    return line.rsplit("listening on ", 1)[1].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.provider} simulator did not start: {self.log_path}")

    def set_latency(self, owners: list[str], delay_ms: int) -> None:
        """Every request of every owner waits `delay_ms` first (a `latency` rule, forever)."""
        kind = "accounts" if self.provider == "fakturownia" else "logins"
        for owner in owners:
            self.http.delete(f"/__sim/{kind}/{owner}/faults").raise_for_status()
            if delay_ms > 0:
                rule = {"action": "latency", "delay_ms": delay_ms, "times": -1}
                self.http.post(f"/__sim/{kind}/{owner}/faults", json=rule).raise_for_status()

    def requests(self, owner: str) -> list[dict[str, Any]]:
        kind = "accounts" if self.provider == "fakturownia" else "logins"
        answer = self.http.get(f"/__sim/{kind}/{owner}/requests")
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def cli(stack: Stack, *args: str, env: dict[str, str] | None = None) -> str:
    """`invoice-router ARGS` with this run's environment (the documented operator path)."""
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or stack.env())},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"invoice-router {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout
