"""`invoice-router worker` checks what it depends on before it starts (issue 10, 6 and 7).

Each case runs the real command. A refusal is one line on stderr with its documented exit code
(workers/exit_codes.py, docs/operations.md) and no traceback; an outage of Kafka or
PostgreSQL is waited out with a log line per attempt, and SIGTERM ends the wait at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from config.credentials import seal
from config.db import alembic_config, create_engine, head_revision, upgrade
from config.secrets import SecretBox
from tests.integration.harness import REPO, Stack, stop_process
from tests.integration.test_end_to_end import CONFIG
from workers.exit_codes import ExitCode

pytestmark = pytest.mark.integration

CONFIGURATION, DATABASE, SECRETS = ExitCode.CONFIGURATION, ExitCode.DATABASE, ExitCode.SECRETS


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env(tmp_path: Path, **env: str | None) -> dict[str, str]:
    """The environment of a worker on `tmp_path`'s SQLite file and a broker that is not there;
    `None` removes a variable."""
    base = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'router.db'}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "INVOICE_ROUTER_SECRET_KEYS": SecretBox.new_key(),
        "INVOICE_ROUTER_APP_ID": f"startup-{tmp_path.name[-12:]}",
    }
    merged = {**base, **env}
    return {k: v for k, v in merged.items() if v is not None}


def run_worker(tmp_path: Path, env: dict[str, str], timeout: float = 90) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a worker expected to exit by itself."""
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "worker"],
        cwd=tmp_path,  # no .env file of a developer's checkout
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def assert_refused(result: tuple[int, str, str], code: ExitCode, *fragments: str) -> str:
    """The exit `code`, and one `Error:` line on stderr holding every fragment; returns it."""
    returncode, stdout, stderr = result
    lines = stderr.strip().splitlines()
    assert returncode == code, f"exit {returncode}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr}"
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stdout + stderr
    assert "Ready" not in stdout
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url)
    return url


# --- settings and keys ----------------------------------------------------------------------


@pytest.mark.parametrize("keys", [None, "", " , "], ids=["unset", "empty", "only-commas"])
def test_no_secret_key_refuses_to_start(tmp_path: Path, keys: str | None) -> None:
    migrated_sqlite(tmp_path)
    result = run_worker(tmp_path, worker_env(tmp_path, INVOICE_ROUTER_SECRET_KEYS=keys))
    assert_refused(result, CONFIGURATION, "no encryption key", "INVOICE_ROUTER_SECRET_KEYS")


def test_a_malformed_key_is_named_by_position_never_by_value(tmp_path: Path) -> None:
    migrated_sqlite(tmp_path)
    bad = "not-a-fernet-key-but-a-secret-anyway"
    keys = f"{SecretBox.new_key()},{bad}"
    result = run_worker(tmp_path, worker_env(tmp_path, INVOICE_ROUTER_SECRET_KEYS=keys))
    line = assert_refused(result, CONFIGURATION, "INVOICE_ROUTER_SECRET_KEYS entry 2 of 2")
    assert bad not in result[1] + result[2]
    assert keys.split(",")[0] not in line


def test_an_invalid_setting_is_named_by_its_variable(tmp_path: Path) -> None:
    env = worker_env(tmp_path, INVOICE_ROUTER_TOPIC_PARTITIONS="many")
    assert_refused(run_worker(tmp_path, env), CONFIGURATION, "INVOICE_ROUTER_TOPIC_PARTITIONS")


# --- database ---------------------------------------------------------------------------------


def test_a_missing_sqlite_file_asks_for_db_upgrade_and_is_not_created(tmp_path: Path) -> None:
    result = run_worker(tmp_path, worker_env(tmp_path))
    assert_refused(result, DATABASE, "router.db does not exist", "invoice-router db upgrade")
    assert not (tmp_path / "router.db").exists()


def test_a_database_without_schema_asks_for_db_upgrade(tmp_path: Path, postgres_url: str) -> None:
    result = run_worker(tmp_path, worker_env(tmp_path, DATABASE_URL=postgres_url))
    assert_refused(result, DATABASE, "has no schema", "invoice-router db upgrade")


def test_a_schema_one_migration_behind_names_both_revisions(
    tmp_path: Path, postgres_url: str
) -> None:
    upgrade(postgres_url)
    command.downgrade(alembic_config(postgres_url), "-1")
    previous = asyncio.run(_revision(postgres_url))
    head = head_revision(postgres_url)
    assert previous and previous != head
    result = run_worker(tmp_path, worker_env(tmp_path, DATABASE_URL=postgres_url))
    assert_refused(
        result,
        DATABASE,
        f"at migration {previous}, this version needs {head}",
        "invoice-router db upgrade",
    )


def test_a_refused_database_login_exits_without_the_password(
    tmp_path: Path, postgres_url: str
) -> None:
    from sqlalchemy.engine import make_url

    wrong = make_url(postgres_url).set(password="not-the-password-4711")
    env = worker_env(tmp_path, DATABASE_URL=wrong.render_as_string(hide_password=False))
    line = assert_refused(run_worker(tmp_path, env), DATABASE, "cannot be opened")
    assert "not-the-password-4711" not in line


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()


# --- stored credentials -----------------------------------------------------------------------


def test_a_key_that_opens_no_stored_credentials_refuses_naming_the_connections(
    tmp_path: Path, postgres_url: str, uid: str
) -> None:
    """Issue 10.6: a valid key, not the sealing one, dead-lettered every order."""
    stack = Stack("127.0.0.1:1", postgres_url, uid, [f"ovoko-{uid}"])
    stack.apply_config(CONFIG.format(uid=uid))  # sealed with stack.secret_key
    other = SecretBox.new_key()
    env = worker_env(tmp_path, DATABASE_URL=postgres_url, INVOICE_ROUTER_SECRET_KEYS=other)
    line = assert_refused(
        run_worker(tmp_path, env),
        SECRETS,
        "INVOICE_ROUTER_SECRET_KEYS opens none of the 2 connection(s)",
        f"seller-a-{uid}/main",
        f"seller-b-{uid}/main",
    )
    for secret in (stack.secret_key, other, f"tok-a-{uid}", f"tok-b-{uid}"):
        assert secret not in line


def test_a_key_that_opens_some_credentials_starts_and_names_the_others(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str, uid: str
) -> None:
    """The readable sellers keep issuing; the unreadable connection gets one ERROR line
    (issuance parks its orders), and only then does Faust say "Ready"."""
    stack = Stack(kafka_bootstrap, postgres_url, uid, [f"ovoko-{uid}"])
    stack.apply_config(CONFIG.format(uid=uid))
    newer = SecretBox.new_key()
    asyncio.run(_reseal(postgres_url, f"seller-b-{uid}", SecretBox([newer]), f"tok-b-{uid}"))
    env = {**os.environ, **stack.env(), "INVOICE_ROUTER_SECRET_KEYS": newer}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            output = _wait_for(log_path, proc, "Ready", timeout=90)
        finally:
            stop_process(proc)
    unreadable = [line for line in output.splitlines() if "cannot be decrypted" in line]
    assert len(unreadable) == 1, output[-3000:]
    assert "[ERROR]" in unreadable[0] and f"seller-a-{uid}/main" in unreadable[0]
    assert output.index("cannot be decrypted") < output.index("Ready")
    assert f"seller-b-{uid}" not in "\n".join(unreadable)


async def _reseal(url: str, seller_id: str, box: SecretBox, token: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE provider_connections SET sealed_credentials = :s WHERE seller_id = :id"
                ),
                {"s": seal(box, {"api_token": token}), "id": seller_id},
            )
    finally:
        await engine.dispose()


# --- outages at start: wait, and stop at once on SIGTERM --------------------------------------


def _wait_for(log_path: Path, proc: subprocess.Popen, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log_path.read_text(errors="replace")
        if needle in output:
            return output
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} (exit {proc.poll()}):\n{log_path.read_text()[-3000:]}")


@pytest.mark.parametrize("what", ["kafka", "postgresql"])
def test_an_outage_at_start_is_waited_out_and_sigterm_ends_the_wait(
    tmp_path: Path, what: str
) -> None:
    port = free_port()
    if what == "kafka":
        migrated_sqlite(tmp_path)
        env = worker_env(tmp_path, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
        needle = f"waiting for Kafka at 127.0.0.1:{port}"
    else:
        url = f"postgresql://router:pw-never-logged@127.0.0.1:{port}/router"
        env = worker_env(tmp_path, DATABASE_URL=url)
        needle = "waiting for the database at postgresql://router:"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log, (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=err,
        )
        try:
            _wait_for(log_path, proc, needle, timeout=60)
            _wait_for(log_path, proc, "attempt 2 failed", timeout=30)  # it keeps trying
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            returncode = proc.wait(timeout=10)
            stopped_in = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text() + (tmp_path / "stderr.txt").read_text()
    assert returncode == ExitCode.STOPPED, output[-3000:]
    assert stopped_in < 5, stopped_in
    assert "stopped by SIGTERM before the worker started" in output
    assert "Traceback" not in output and "Ready" not in output
    assert "pw-never-logged" not in output
