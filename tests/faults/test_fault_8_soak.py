"""Fault 8: a randomized, seeded fault soak (issue 10, "make the class hard to reintroduce").

The scripted fault tests (1-7) each aim one fault at one moment; black-box testing found losses
and duplicates in the combinations they miss. This test draws a random schedule from a seed:
orders with refunds over both providers (some refunds published before their sale, some events
on a partition their key does not map to, some published twice), poison records and one
oversized record (~1.6 MB: its topic's `max.message.bytes` is raised), consumed by two workers
while the timeline kills (-9) and SIGTERMs workers, kills or immediately stops PostgreSQL,
restarts the broker and makes the provider fail (5xx, 429), hang or drop after committing a
create, or create only after the worker's timeout. The database server and the broker are the
test's own (`private_services`), so it never disturbs other tests on the machine.

Then, once the system has settled (bounded), `soak_oracle.check` asserts the invariants: each
expected document exists exactly once with exactly one distinct invoice.issued id, or has
exactly one actionable invoice.failed / dead letter instead; distinct issued ids == documents;
every poison record dead-lettered exactly once; no ledger row left non-final (none with an
expired lease); every SIGTERM stopped its worker within 30 s.

It prints `soak seed=<n>` first and a counts line at the end; replay a run with SOAK_SEED=<n>
(same schedule; the system's own timing differs). CI: 120 orders, 15 faults, ~2 min (bounded:
the settling deadline is 150 s).
Long (`--fault-long` / FAULT_LONG=1): 400 orders, 59 faults.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.faults.private_services import (
    PrivateBroker,
    PrivatePostgres,
    private_broker,
    private_postgres,
)
from tests.faults.soak import CI, LONG, Chaos, Profile, create_soak_topics, key_partition, plan
from tests.faults.soak_oracle import check, outputs_done
from tests.faults.support import FaultRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]


def soak_seed() -> int:
    given = os.environ.get("SOAK_SEED", "").strip()
    return int(given) if given else random.SystemRandom().randrange(1, 2**31)


def test_fault_8_randomized_soak_keeps_every_invariant(
    uid: str, tmp_path: Path, fault_long: bool
) -> None:
    seed = soak_seed()
    print(f"\nsoak seed={seed}", flush=True)
    with private_postgres() as pg, private_broker(tmp_path / "broker") as broker:
        run = FaultRun(
            kafka=broker.bootstrap,
            database_url=pg.url,
            uid=uid,
            tmp=tmp_path,
            long=fault_long,
            name="fault-8-soak",
        )
        create_soak_topics(run)  # before the run creates them with the broker's defaults
        with run:
            soak(run, pg, broker, seed, LONG if fault_long else CI)


def soak(
    run: FaultRun, pg: PrivatePostgres, broker: PrivateBroker, seed: int, profile: Profile
) -> None:
    the_plan = plan(seed, run, profile)
    print(f"soak timeline (seed={seed}):\n{the_plan.timeline()}", flush=True)
    chaos = Chaos(run, pg, broker, the_plan)
    chaos.start_both()
    chaos.play()
    chaos.clear_provider_faults()
    settled = chaos.settle(profile.quiesce)
    records = run.output(
        outputs_done(the_plan, run.stack.issued_topic, run.stack.failed_topic),
        timeout=60 if settled is not None else 20,
        settle=3,
    )
    verdict = check(run, the_plan, records)
    problems = chaos.problems + verdict.problems
    if settled is None:
        problems.insert(0, f"the system did not settle within {profile.quiesce:.0f}s")
    counts = {
        "orders": profile.orders,
        "expected_documents": len(the_plan.docs),
        "published": chaos.published,
        **{k: v for k, v in sorted(the_plan.labels.items()) if k},
        **verdict.counts,
        **dict(sorted(chaos.applied.items())),
        "provider_rules": chaos.provider_rules,
        **provider_faults_served(run),
        "sigterm_max": f"{max(chaos.sigterm_stops, default=0):.1f}s",
        "settled": "never" if settled is None else f"{settled:.0f}s",
        "elapsed": f"{run.elapsed:.0f}s",
    }
    print(f"soak seed={seed} " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
    assert not problems, (
        f"soak seed={seed} (replay: SOAK_SEED={seed}) broke {len(problems)} invariant(s):\n"
        + "\n".join(problems)
        + f"\n{run.logs(1500)}"
    )


def provider_faults_served(run: FaultRun) -> dict[str, int]:
    """Faults the simulators actually served (a rule may outlive the timeline unused)."""
    hits = run.hits()
    return {
        "http_5xx": sum(1 for h in hits if (h.status or 0) >= 500),
        "http_429": sum(1 for h in hits if h.status == 429),
        "dropped": sum(1 for h in hits if h.status is None),
        "answered_past_timeout": sum(1 for h in hits if h.end - h.start > 2.0),
    }


def test_fault_8_the_same_seed_gives_the_same_schedule(tmp_path: Path) -> None:
    """Replaying SOAK_SEED must replay the schedule: orders, bursts, partitions and faults."""
    run = FaultRun(kafka="-", database_url="-", uid="u", tmp=tmp_path, long=False, name="-")

    def shape(seed: int) -> list[tuple]:
        return [
            (
                s.describe(),
                [(e.kind, e.key, e.value, e.partition) for e in s.args.get("events", [])],
            )
            for s in plan(seed, run, CI).steps
        ]

    assert shape(7) == shape(7)
    assert shape(7) != shape(8)
    steps = plan(7, run, CI).steps
    faults = [s for s in steps if s.kind != "publish"]
    assert (
        len(faults)
        == CI.kills + CI.sigterms + CI.pg_outages + CI.broker_restarts + CI.provider_faults
    )
    published = [e for s in steps for e in s.args.get("events", [])]
    misrouted = [e for e in published if e.partition is not None]
    assert misrouted and all(e.partition != key_partition(e.key) for e in misrouted)
