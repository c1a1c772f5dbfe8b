"""Fault tests (issue 5): real Kafka, PostgreSQL, both simulators, worker subprocesses.

CI runs short variants that still exercise every fault. The long variants (many orders, many
iterations) run with `--fault-long` or `FAULT_LONG=1`:

    python -m pytest tests/faults -q -s --fault-long -k fault_1

`--fault-long` is registered here, so pass `tests/faults` (or a file in it) on the command line
when using it; `FAULT_LONG=1` works with any invocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import FaultRun, long_mode


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-long",
        action="store_true",
        default=False,
        help="run the long variants of the fault tests (also: FAULT_LONG=1)",
    )


@pytest.fixture
def fault_long(request: pytest.FixtureRequest) -> bool:
    return long_mode(request.config)


@pytest.fixture
def fault_run(
    kafka_bootstrap: str,
    postgres_url: str,
    uid: str,
    tmp_path: Path,
    fault_long: bool,
    request: pytest.FixtureRequest,
) -> Iterator[FaultRun]:
    """A ready fault run: 2 Fakturownia sellers + 1 wFirma OAuth seller (connected), two
    channels each, 4 partitions per topic, simulators serving, recovery-tuned settings
    (`support.FAST_ENV`). Tests add faults, start workers and end with `run.verify(...)`."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    number = module.removeprefix("test_fault_").split("_", 1)[0]
    with FaultRun(
        kafka=kafka_bootstrap,
        database_url=postgres_url,
        uid=uid,
        tmp=tmp_path,
        long=fault_long,
        name=f"fault-{number}",
    ) as run:
        yield run
