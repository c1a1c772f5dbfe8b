#!/usr/bin/env python3
"""Wait until a Kafka broker answers a real client's metadata request.

Used by ``scripts/kafka-local`` (and usable from CI or test fixtures):

    python3 scripts/wait_kafka.py 127.0.0.1:19092 --timeout 90 [--pid PID]

An open TCP port is not enough: the broker binds its listener before the KRaft
controller has elected itself and before it has registered. So this polls
``AIOKafkaAdminClient.describe_cluster()`` until the answer lists at least one
broker and a controller, i.e. until topics can actually be created.

Exit codes: 0 ready, 1 timed out, 2 the watched process (--pid) died,
3 aiokafka is not importable in this interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    # A zombie still answers kill(0); in containers PID 1 may reap late, so check its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


async def _probe(bootstrap: str, attempt_timeout: float) -> dict:
    """One metadata round trip with a fresh client; raises on any failure."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(attempt_timeout * 1000),
        # Keep each attempt short: the outer loop does the retrying.
        retry_backoff_ms=100,
    )
    try:
        await asyncio.wait_for(admin.start(), attempt_timeout)
        info = await asyncio.wait_for(admin.describe_cluster(), attempt_timeout)
    finally:
        await admin.close()
    brokers = info.get("brokers") or []
    controller = info.get("controller_id", -1)
    if not brokers or controller is None or controller < 0:
        raise RuntimeError(f"metadata not complete yet: {info!r}")
    return info


async def _wait(bootstrap: str, budget: float, pid: int | None, verbose: bool) -> int:
    deadline = time.monotonic() + budget
    last_error: BaseException | None = None
    attempts = 0
    while True:
        if pid is not None and not _pid_alive(pid):
            print(f"wait_kafka: broker process {pid} is gone", file=sys.stderr)
            return 2
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print(
                f"wait_kafka: {bootstrap} did not answer within {budget:.0f}s "
                f"({attempts} attempts); last error: {last_error!r}",
                file=sys.stderr,
            )
            return 1
        attempts += 1
        try:
            info = await _probe(bootstrap, min(5.0, max(remaining, 0.5)))
        except Exception as exc:  # any failure just means "not yet"
            last_error = exc
            if verbose:
                print(f"wait_kafka: attempt {attempts}: {exc!r}", file=sys.stderr)
            await asyncio.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
            continue
        brokers = ", ".join(
            f"{b.get('node_id')}@{b.get('host')}:{b.get('port')}" for b in info["brokers"]
        )
        print(
            f"wait_kafka: {bootstrap} answered metadata (cluster_id={info.get('cluster_id')}, "
            f"controller={info.get('controller_id')}, brokers=[{brokers}]) "
            f"after {attempts} attempt(s)"
        )
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap", help="bootstrap servers, e.g. 127.0.0.1:19092")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds (default 90)")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this pid dies")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failed attempt")
    args = parser.parse_args(argv)

    try:
        import aiokafka  # noqa: F401
    except ImportError as exc:
        print(f"wait_kafka: aiokafka is not importable: {exc}", file=sys.stderr)
        return 3

    # aiokafka logs every refused connection at ERROR; while polling that is expected noise.
    logging.basicConfig(level=logging.CRITICAL if not args.verbose else logging.WARNING)
    return asyncio.run(_wait(args.bootstrap, args.timeout, args.pid, args.verbose))


if __name__ == "__main__":
    sys.exit(main())
