"""An outage is a wait: `Outages.wait_through` retries the step and reports; bugs propagate."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import OperationalError

from workers.outage import BROKER, DATABASE, DEPENDENCY_UP, Outages, Unavailable, dependency_down


def test_database_and_broker_errors_are_outages_and_bugs_are_not() -> None:
    assert dependency_down(OperationalError("SELECT 1", {}, OSError("refused"))) == DATABASE
    assert dependency_down(KafkaConnectionError("no broker")) == BROKER
    wrapped = RuntimeError("while routing")
    wrapped.__cause__ = OperationalError("x", {}, OSError())
    assert dependency_down(wrapped) == DATABASE
    assert dependency_down(Unavailable(DATABASE, OSError())) == DATABASE
    assert dependency_down(KeyError("bug")) is None
    assert dependency_down(ConnectionRefusedError("not from a database driver")) is None


def test_a_refused_connection_raised_inside_asyncpg_is_a_database_outage() -> None:
    code = compile(
        "raise ConnectionRefusedError(111, 'refused')", "asyncpg/connect_utils.py", "exec"
    )
    try:
        exec(code, {"__name__": "asyncpg.connect_utils"})
    except ConnectionRefusedError as exc:
        assert dependency_down(exc) == DATABASE


async def test_the_step_is_retried_until_the_dependency_answers() -> None:
    outages = Outages(initial_backoff=0.01, max_backoff=0.02)
    calls, slept = [], []

    async def step() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OperationalError("SELECT", {}, ConnectionRefusedError())
        return "done"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        assert not outages.healthy and DEPENDENCY_UP.labels(DATABASE)._value.get() == 0

    assert await outages.wait_through(step, sleep=sleep) == "done"
    assert len(calls) == 4 and slept == [0.01, 0.02, 0.02]
    assert outages.healthy and DEPENDENCY_UP.labels(DATABASE)._value.get() == 1


async def test_a_bug_is_not_waited_for() -> None:
    async def step() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await Outages().wait_through(step)


async def test_cancellation_ends_the_wait_at_once() -> None:
    async def step() -> None:
        raise OperationalError("SELECT", {}, ConnectionRefusedError())

    task = asyncio.create_task(Outages(initial_backoff=10).wait_through(step))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_readyz_answers_503_while_a_dependency_is_down_and_200_after() -> None:
    from workers.probes import readiness

    outages = Outages()
    assert readiness(outages) == (
        200,
        {"ready": True, "checks": {"database": "ok", "broker": "ok"}},
    )
    outages.went_down(DATABASE, OperationalError("SELECT", {}, ConnectionRefusedError()))
    code, body = readiness(outages)
    assert code == 503 and body["ready"] is False
    assert (
        body["checks"]["database"].startswith("unreachable for")
        and body["checks"]["broker"] == "ok"
    )
    outages.came_back(DATABASE)
    assert readiness(outages)[0] == 200


def test_the_worker_serves_readyz_beside_metrics() -> None:
    import socket
    import urllib.request

    from workers import probes

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    probes.serve(port)
    base = f"http://127.0.0.1:{port}"
    assert urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200
    assert b"invoice_router_dependency_up" in urllib.request.urlopen(f"{base}/metrics").read()


async def test_an_idle_workers_timer_reports_the_outage_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from workers.app import survives
    from workers.outage import OUTAGES

    failing = [True]

    @survives("retrying parked orders")
    async def tick() -> None:
        if failing[0]:
            raise OperationalError("SELECT", {}, ConnectionRefusedError())

    OUTAGES.down_since.clear()
    for _ in range(5):
        await tick()
    assert DATABASE in OUTAGES.down_since
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once, not once per tick
    failing[0] = False
    await tick()
    assert OUTAGES.healthy
