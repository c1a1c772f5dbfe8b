"""Command line of the benchmark: set the run up, run the scenarios, report, clean up."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench import load, report, runner, services
from bench.dbstats import DbStats
from bench.load import Harness
from bench.runner import Context, Options
from bench.stack import Simulator, Stack, cli, config_yaml, fakturownia_accounts
from tests.integration.harness import create_missing_topics

RESULTS = services.REPO / "bench" / "results"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--orders", type=int, default=600, help="orders per worker scenario")
    p.add_argument("--baseline-orders", type=int, default=3000, help="orders per pipe scenario")
    p.add_argument("--latencies", type=_ints, default=[0, 50, 200], help="simulator ms, e.g. 0,50")
    p.add_argument("--workers", type=_ints, default=[1, 2], help="worker process counts")
    p.add_argument(
        "--in-flight",
        type=_ints,
        default=[],
        help="worker INVOICE_ROUTER_MAX_IN_FLIGHT values to compare, e.g. 1,64 (default: its own)",
    )
    p.add_argument("--sellers", type=int, default=50)
    p.add_argument("--partitions", type=int, default=4, help="per channel topic")
    p.add_argument("--paced-load", type=float, default=0.5, help="paced rate / throughput")
    p.add_argument("--paced-seconds", type=float, default=15.0, help="length of a paced phase")
    p.add_argument("--no-baseline", action="store_true", help="skip the bare aiokafka pipe")
    p.add_argument(
        "--slow-seller",
        type=int,
        default=0,
        metavar="MS",
        help="also one worker with seller 0's provider at MS ms, the others at 0 (isolation)",
    )
    p.add_argument("--long", type=int, default=0, metavar="N", help="also N orders, RSS sampled")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="N orders under cProfile")
    p.add_argument("--no-rate-limit", action="store_true", help="skip the wFirma budget run")
    p.add_argument("--rate-limit-seconds", type=float, default=60.0)
    p.add_argument("--rate-limit-orders", type=int, default=200, help="backlog for one seller")
    p.add_argument(
        "--db-settle",
        type=float,
        default=11.0,
        metavar="S",
        help="quiet seconds before reading PostgreSQL's transaction counters (it flushes them "
        "up to 10 s late); 0 makes transactions/order approximate",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per phase")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def code_version() -> dict[str, Any]:
    """Which worker was measured: the commit, whether the tree had local changes, and the
    worker's in-flight default (absent before key-ordered concurrency, ADR 0008)."""
    from config.settings import Settings

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=services.REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "local_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "worker_max_in_flight_default": getattr(Settings(), "max_in_flight", 1),
    }


async def scenarios(
    ctx: Context, args: argparse.Namespace, workdir: Path, results: dict[str, Any]
) -> None:
    out: list[dict[str, Any]] = results["scenarios"]
    if not args.no_baseline:
        print("baseline: bare aiokafka pipe ...", flush=True)
        out += await runner.baseline(ctx)
    for n in args.workers:
        for in_flight in args.in_flight or [None]:
            out += await runner.worker_scenarios(ctx, n, in_flight)
    if args.slow_seller:
        out.append(await runner.slow_seller(ctx, args.slow_seller))
    if args.long:
        print(f"long run: {args.long} orders ...", flush=True)
        results["long"] = await runner.long_run(ctx, args.long)
    if args.profile:
        print(f"profile: {args.profile} orders under cProfile ...", flush=True)
        path = await runner.profiled(ctx, args.profile)
        results["profile"] = report.profile_summary(path, workdir)
    if not args.no_rate_limit:
        from bench.ratelimit import rate_limit

        print(f"rate limit: one wFirma seller for {args.rate_limit_seconds:.0f} s ...", flush=True)
        results["rate_limit"] = await rate_limit(
            ctx, args.rate_limit_orders, args.rate_limit_seconds, workdir
        )


async def run(
    stack: Stack, sim: Simulator, args: argparse.Namespace, workdir: Path, db: DbStats
) -> dict:
    topics = [*stack.order_topics, *(f"{t}.dlq" for t in stack.order_topics)]
    inputs, output = runner.pipe_topics(stack)
    await create_missing_topics(
        stack.bootstrap,
        [*topics, stack.issued_topic, stack.failed_topic, *inputs, output],
        stack.partitions,
    )
    opts = Options(
        args.orders,
        args.baseline_orders,
        args.latencies,
        args.workers,
        args.in_flight or [None],
        args.paced_load,
        args.paced_seconds,
        args.timeout,
    )
    results: dict[str, Any] = {"scenarios": []}
    outputs = [stack.issued_topic, stack.failed_topic, output]
    async with Harness(stack.bootstrap, outputs) as h, db:
        ctx = Context(stack, sim, h, workdir, opts, db)
        results["database_counters"] = {
            "transactions": "pg_stat_database",
            "statements": "pg_stat_statements" if db.statements else None,
        }
        try:
            await scenarios(ctx, args, workdir, results)
        finally:
            report.with_ratios(results["scenarios"])
            results["headlines"] = report.headlines(results["scenarios"])
    return results


def set_up(stack: Stack, workdir: Path, wfirma: bool) -> Simulator:
    stack.secret_key = cli(stack, "secrets", "new-key").strip()
    sim = Simulator("fakturownia", fakturownia_accounts(stack), workdir)
    stack.fakturownia_url = sim.url
    cli(stack, "db", "upgrade")
    config = workdir / "config.yaml"
    config.write_text(config_yaml(stack, wfirma))
    cli(stack, "config", "apply", str(config))
    return sim


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load.BrokerTrouble.install()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = args.out / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4().hex[:8]
    bootstrap, server = services.kafka_bootstrap(), services.postgres_url()
    db_name = f"ir_bench_{uid}"
    stack = Stack(
        uid, bootstrap, services.create_database(server, db_name), args.sellers, args.partitions
    )
    print(f"run {uid}: broker {bootstrap}, database {db_name}, files in {workdir}", flush=True)
    sim = None
    try:
        sim = set_up(stack, workdir, wfirma=not args.no_rate_limit)
        db = DbStats(server, db_name, settle=args.db_settle)
        results = asyncio.run(run(stack, sim, args, workdir, db))
    finally:
        if sim is not None:
            sim.stop()
        services.drop_database(server, db_name)
        asyncio.run(load.delete_topics(bootstrap, uid))
    results |= {
        "command": " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])]),
        "started": stamp,
        "machine": machine(),
        "code": code_version(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    present(results, args.out, stamp)


def present(results: dict[str, Any], out: Path, stamp: str) -> None:
    """The table on stdout, the JSON and the plot beside it."""
    json_path, png_path = out / f"{stamp}.json", out / f"{stamp}.png"
    report.write_json(json_path, results)
    report.plot(png_path, results["scenarios"], results.get("long"))
    print()
    print(report.table(results["scenarios"]))
    if results.get("headlines"):
        print("\nCPU per order of the worker process(es), backlog:")
        print("\n".join(f"  {line}" for line in results["headlines"]))
    if "profile" in results:
        print(f"\nprofile, top 10 by own time ({results['profile']['listing']}):")
        print("\n".join(f"  {line}" for line in results["profile"]["top10_lines"]))
    if "rate_limit" in results:
        print("\nrate limit:", {k: v for k, v in results["rate_limit"].items() if k != "paths"})
    if "long" in results:
        print("\nlong run:", {k: v for k, v in results["long"].items() if k != "samples"})
    print(f"\nresults: {json_path}\nplot:    {png_path}")
