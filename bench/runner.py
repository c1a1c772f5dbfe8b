"""The measured scenarios: baseline pipes, worker processes at simulator latencies, long run.

Every scenario is a backlog (all orders produced at once: throughput is the drain rate, and its
latencies are mostly queueing) followed by a paced phase at a fraction of that throughput
(latency of an order that finds no queue in front of it).
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import dbstats, load, stats, syscalls
from bench.dbstats import DbStats
from bench.load import Harness, Phase
from bench.procs import Sampler, Workers, cpu_seconds, io_writes, rss_mb
from bench.services import REPO
from bench.stack import Simulator, Stack


@dataclass
class Options:
    orders: int
    baseline_orders: int
    latencies: list[int]
    worker_counts: list[int]
    in_flight: list[int | None]
    paced_load: float
    paced_seconds: float
    timeout: float


@dataclass
class Context:
    """What every scenario needs: the run's names, its simulator, the open harness."""

    stack: Stack
    sim: Simulator
    harness: Harness
    workdir: Path
    opts: Options
    db: DbStats | None = None  # the run database's counters (worker scenarios only)

    @property
    def sellers(self) -> list[str]:
        return [self.stack.seller(i) for i in range(self.stack.sellers)]

    def orders(self, phase: str, n: int, topics: list[str] | None = None) -> list[load.Record]:
        topics = topics or self.stack.order_topics
        return load.order_records(phase, n, self.sellers, self.stack.channels, topics)

    def sim_requests(self) -> int:
        return sum(len(self.sim.requests(s)) for s in self.sellers)


async def measure(
    ctx: Context,
    name: str,
    records: list[load.Record],
    pids: list[int],
    alive: Callable[[], None],
    paced_records: Callable[[int], list[load.Record]],
    groups: dict[str, Callable[[bytes], bool]] | None = None,
    database: bool = True,
) -> dict[str, Any]:
    """Backlog then paced phase over `records`; CPU, RSS, system calls (and with `database`
    the database's work) of `pids` during the backlog. `groups` (name: predicate on the order
    key) also splits the paced latencies."""
    trouble0 = load.BrokerTrouble.count
    result = await _backlog(ctx, name, records, pids, alive, database)
    per_second = result["throughput"] * ctx.opts.paced_load
    count = max(20, min(len(records), int(per_second * ctx.opts.paced_seconds)))
    paced = Phase(f"{name} paced")
    await ctx.harness.paced(paced, paced_records(count), per_second)
    await ctx.harness.wait(paced, ctx.opts.timeout, alive)
    result["paced"] = {
        "per_second": round(per_second, 1),
        "latency_ms": stats.summarize(paced.latencies_ms()),
    }
    for group, member in (groups or {}).items():
        mine = [ms for k, ms in paced.latencies_by_key().items() if member(k)]
        result["paced"][f"latency_ms_{group}"] = stats.summarize(mine)
    result["broker_errors"] = load.BrokerTrouble.count - trouble0
    if result["broker_errors"]:
        print(f"    ! broker errors during {name}: the broker went away (restarted by someone?)")
    return result


async def _backlog(
    ctx: Context,
    name: str,
    records: list[load.Record],
    pids: list[int],
    alive: Callable,
    database: bool,
) -> dict[str, Any]:
    """Drain `records` as one backlog, with the processes' and the machine's CPU and RSS, the
    processes' system calls and (with `database`) the run database's transactions and
    statements. The database is read after a quiet interval on both sides (see
    bench/dbstats.py), outside the CPU interval so idle time never counts as CPU per order."""
    backlog = Phase(f"{name} backlog")
    db = ctx.db if database else None
    db0 = await db.start_phase() if db else None
    sim_cpu0 = cpu_seconds([ctx.sim.proc.pid])
    requests0 = ctx.sim_requests()
    writes0 = io_writes(pids)
    roles = {os.getpid(): "bench harness", ctx.sim.proc.pid: "simulator"}
    roles |= {pid: name.split(" ")[0] for pid in pids}
    async with syscalls.SyscallCounter(pids) as counter:
        with Sampler(pids, roles) as sampler:
            await ctx.harness.burst(backlog, records)
            await ctx.harness.wait(backlog, ctx.opts.timeout, alive)
    usage = sampler.usage
    assert usage is not None
    n = len(backlog.done)
    writes = io_writes(pids) - writes0
    requests = ctx.sim_requests() - requests0
    sim_cpu = cpu_seconds([ctx.sim.proc.pid]) - sim_cpu0
    db_summary = dbstats.phase_summary(db0, await db.end_phase(), n) if db and db0 else None
    return {
        "name": name,
        "orders": n,
        "failed": backlog.failed,
        "seconds": round(backlog.seconds(), 2),
        "throughput": round(backlog.throughput(), 1),
        "backlog_latency_ms": stats.summarize(backlog.latencies_ms()),
        "cpu_ms_per_order": round(stats.per_order(usage.cpu_seconds * 1000, n), 3),
        "cpu_seconds_per_1000": round(stats.per_thousand(usage.cpu_seconds, n), 2),
        "database": db_summary,
        "syscalls": syscalls.per_order_summary(counter.counts, n),
        "proc_io_writes_per_order": round(stats.per_order(writes, n), 2),
        "simulator_cpu_seconds_per_1000": round(stats.per_thousand(sim_cpu, n), 2),
        "rss_max_mb": [round(x, 1) for x in usage.rss_max_mb],
        "rss_end_mb": [round(x, 1) for x in usage.rss_end_mb],
        "machine_cpu_percent": round(sampler.machine_cpu_percent, 1),
        "cpu_seconds_by_process": sampler.cpu_seconds_by_process,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "provider_requests_per_order": round(requests / max(n, 1), 2),
    }


async def warm_up(
    ctx: Context, tag: str, alive: Callable[[], None], topics: list[str] | None = None
) -> None:
    """One order per seller and channel: connections, caches and pools exist before timing."""
    phase = Phase(f"warm-up {tag}")
    await ctx.harness.burst(phase, ctx.orders(f"w{tag}", 2 * ctx.stack.sellers, topics))
    await ctx.harness.wait(phase, ctx.opts.timeout, alive)


# --- baseline ------------------------------------------------------------------------------


def pipe_topics(stack: Stack) -> tuple[list[str], str]:
    """Two input topics and one output, the worker's layout; names its discovery never sees."""
    return [f"bench-pipe.{stack.uid}.in-{i}" for i in range(2)], f"bench-pipe.{stack.uid}.out"


def start_pipes(stack: Stack, n: int, batch: bool, workdir: Path) -> list[subprocess.Popen]:
    inputs, output = pipe_topics(stack)
    cmd = [sys.executable, "-m", "bench.pipe", "--bootstrap", stack.bootstrap]
    cmd += ["--group", f"bench-pipe-{stack.uid}", "--output", output]
    cmd += ["--batch"] if batch else []
    procs = []
    for i in range(n):
        with (workdir / f"pipe-{'batch' if batch else 'serial'}-{n}-{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen([*cmd, *inputs], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            )
    return procs


def stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


async def baseline(ctx: Context) -> list[dict[str, Any]]:
    """The bare pipe, serial with as many processes as the worker scenarios, then batched."""
    inputs, _ = pipe_topics(ctx.stack)
    variants = [(n, False) for n in ctx.opts.worker_counts] + [(1, True)]
    results = []
    for n, batch in variants:
        procs = start_pipes(ctx.stack, n, batch, ctx.workdir)

        def alive(procs: list[subprocess.Popen] = procs) -> None:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a baseline pipe exited; logs in {ctx.workdir}")

        try:
            group = f"bench-pipe-{ctx.stack.uid}"
            await load.wait_group_stable(ctx.stack.bootstrap, group, n, 60)
            kind = "pipe-batch" if batch else "pipe-serial"
            await warm_up(ctx, f"{kind}{n}", alive, inputs)
            tag = f"{kind}-x{n}"
            result = await measure(
                ctx,
                f"{kind} x{n}",
                ctx.orders(f"{tag}-b", ctx.opts.baseline_orders, inputs),
                [p.pid for p in procs],
                alive,
                lambda k, tag=tag: ctx.orders(f"{tag}-p", k, inputs),
                database=False,
            )
        finally:
            stop_all(procs)
        result.pop("provider_requests_per_order")
        result.pop("simulator_cpu_seconds_per_1000")
        results.append({**result, "kind": kind, "processes": n, "latency_ms": 0})
    return results


# --- the worker ----------------------------------------------------------------------------


def start_workers(
    ctx: Context, n: int, tag: str, in_flight: int | None = None, profile_to: Path | None = None
) -> Workers:
    env = ctx.stack.env(processes=n)
    if in_flight is not None:
        env["INVOICE_ROUTER_MAX_IN_FLIGHT"] = str(in_flight)
    return Workers(n, env, ctx.workdir, tag, profile_to)


async def ready(ctx: Context, workers: Workers, tag: str) -> None:
    await load.wait_group_stable(ctx.stack.bootstrap, ctx.stack.group, len(workers.procs), 180)
    ctx.sim.set_latency(ctx.sellers, 0)
    await warm_up(ctx, tag, workers.check_alive)


async def worker_scenarios(ctx: Context, n: int, in_flight: int | None) -> list[dict[str, Any]]:
    """`n` worker processes at every simulator latency, one consumer group throughout (the
    next set of processes resumes from the committed offsets). `in_flight` overrides the
    worker's `INVOICE_ROUTER_MAX_IN_FLIGHT` (None: its default)."""
    label = f"worker x{n}" + (f" if{in_flight}" if in_flight is not None else "")
    base = f"x{n}" + (f"f{in_flight}" if in_flight is not None else "")
    workers = start_workers(ctx, n, base, in_flight)
    results = []
    try:
        await ready(ctx, workers, base)
        for latency in ctx.opts.latencies:
            ctx.sim.set_latency(ctx.sellers, latency)
            tag = f"{base}-{latency}"
            print(f"  {label} at {latency} ms: {ctx.opts.orders} orders ...", flush=True)
            result = await measure(
                ctx,
                f"{label} @ {latency} ms",
                ctx.orders(f"{tag}-b", ctx.opts.orders),
                workers.pids,
                workers.check_alive,
                lambda k, tag=tag: ctx.orders(f"{tag}-p", k),
            )
            results.append(
                {
                    **result,
                    "kind": "worker",
                    "processes": n,
                    "in_flight": in_flight,
                    "latency_ms": latency,
                }
            )
            print(f"    {result['throughput']} orders/s", flush=True)
    finally:
        ctx.sim.set_latency(ctx.sellers, 0)
        workers.stop()
    return results


def seller_of(ctx: Context, key: bytes) -> int:
    """The seller index `load.order_records` gave the order with this key."""
    index = int(key.rsplit(b"-", 1)[1])
    return (index // len(ctx.stack.channels)) % ctx.stack.sellers


async def slow_seller(ctx: Context, delay_ms: int) -> dict[str, Any]:
    """One worker, one seller's provider answering after `delay_ms`, the others at once: how
    much the slow seller costs everybody else (ADR 0008: it should only hold its own slots)."""
    workers = start_workers(ctx, 1, "slow")
    try:
        await ready(ctx, workers, "slow")
        ctx.sim.set_latency(ctx.sellers[:1], delay_ms)
        name = f"worker x1, seller 0 @ {delay_ms} ms"
        print(f"  {name}: {ctx.opts.orders} orders ...", flush=True)
        result = await measure(
            ctx,
            name,
            ctx.orders("slow-b", ctx.opts.orders),
            workers.pids,
            workers.check_alive,
            lambda k: ctx.orders("slow-p", k),
            groups={
                "slow_seller": lambda key: seller_of(ctx, key) == 0,
                "other_sellers": lambda key: seller_of(ctx, key) != 0,
            },
        )
    finally:
        ctx.sim.set_latency(ctx.sellers, 0)
        workers.stop()
    return {**result, "kind": "worker-slow-seller", "processes": 1, "latency_ms": 0}


async def long_run(ctx: Context, orders: int, chunk: int = 500) -> dict[str, Any]:
    """`orders` orders through one worker at 0 ms in chunks, RSS sampled after each chunk: a
    leak shows as a slope, a cache filling up as a step that levels off."""
    workers = start_workers(ctx, 1, "long")
    samples: list[tuple[int, float, float]] = []  # orders done, seconds, RSS MB
    try:
        await ready(ctx, workers, "long")
        start = time.monotonic()
        pid = workers.pids[0]
        samples.append((0, 0.0, rss_mb(pid)))
        done = 0
        while done < orders:
            k = min(chunk, orders - done)
            phase = Phase(f"long {done}")
            await ctx.harness.burst(phase, ctx.orders(f"L{done}", k))
            await ctx.harness.wait(phase, ctx.opts.timeout, workers.check_alive)
            done += k
            samples.append((done, time.monotonic() - start, rss_mb(pid)))
            print(f"  long run: {done}/{orders}, RSS {samples[-1][2]:.1f} MB", flush=True)
    finally:
        workers.stop()
    later = samples[len(samples) // 2 :]  # past warm-up effects
    growth = stats.slope([s[0] for s in later], [s[2] for s in later])
    return {
        "orders": orders,
        "seconds": round(samples[-1][1], 1),
        "rss_start_mb": round(samples[0][2], 1),
        "rss_end_mb": round(samples[-1][2], 1),
        "rss_growth_mb_per_1000_second_half": round(growth * 1000, 3)
        if not math.isnan(growth)
        else None,
        "samples": [
            {"orders": o, "seconds": round(t, 1), "rss_mb": round(r, 1)} for o, t, r in samples
        ],
    }


async def profiled(ctx: Context, orders: int) -> Path:
    """One worker under cProfile over `orders` orders at 0 ms; returns the stats file."""
    path = ctx.workdir / "worker.prof"
    workers = start_workers(ctx, 1, "profile", profile_to=path)
    try:
        await ready(ctx, workers, "profile")
        phase = Phase("profile")
        await ctx.harness.burst(phase, ctx.orders("prof", orders))
        await ctx.harness.wait(phase, ctx.opts.timeout, workers.check_alive)
    finally:
        workers.stop()
    for _ in range(50):
        if path.exists():
            break
        await asyncio.sleep(0.1)
    return path
