"""A throwaway PostgreSQL server and Kafka broker owned by one test (the soak, fault 8).

The soak stops, kills and restarts its database server and its broker. Doing that to the shared
ones (`scripts/postgres-local`, `scripts/kafka-local`) would break every other test using them
at the same time, so it gets its own: a PostgreSQL cluster started by `scripts/postgres-local`
itself, pointed at a temporary directory and another port (`PG_LOCAL_DIR`, `PGPORT_LOCAL`), and
a single-node KRaft broker run from the jars `scripts/kafka-local` fetched into build/kafka/libs,
with its own data directory and ports. Both are removed when the test ends.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.harness import REPO

POSTGRES_LOCAL = REPO / "scripts" / "postgres-local"
KAFKA_LIBS = REPO / "build" / "kafka" / "libs"
WAIT_KAFKA = REPO / "scripts" / "wait_kafka.py"
# Below the ephemeral range (32768-60999): no outgoing connection can grab a port while its
# server is down between a stop and a restart.
PORT_RANGE = range(26000, 29999)


def free_ports(count: int) -> list[int]:
    """`count` distinct ports nobody listens on, from PORT_RANGE (random order)."""
    import random

    found: list[int] = []
    for port in random.sample(PORT_RANGE, len(PORT_RANGE)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("no free ports")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- PostgreSQL ----------------------------------------------------------------------------------


class PrivatePostgres:
    """A cluster of its own: `kill9` / `stop_immediate` hurt nobody else."""

    def __init__(self) -> None:
        # not under pytest's tmp_path: the server runs as the `postgres` OS user when we are
        # root, and pytest's directories are private to us
        self.dir = Path(tempfile.mkdtemp(prefix="ir-soak-pg-"))
        self.port = free_ports(1)[0]
        self.url = ""

    def _script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "PG_LOCAL_DIR": str(self.dir), "PGPORT_LOCAL": str(self.port)}
        return subprocess.run(
            [str(POSTGRES_LOCAL), *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, attempts: int = 30) -> str:
        """Start (or restart after a kill: the killed server's backends linger a moment and
        hold its shared memory, so a start may fail at first)."""
        done = None
        for _ in range(attempts):
            done = self._script("start")
            if done.returncode == 0:
                self.url = done.stdout.strip().splitlines()[-1].split("=", 1)[1]
                return self.url
            time.sleep(1.0)
        assert done is not None
        raise RuntimeError(f"private PostgreSQL did not start:\n{done.stderr[-3000:]}")

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        pid = int(first) if first.strip().isdigit() else None
        return pid if pid is not None and _pid_alive(pid) else None

    def signal(self, sig: signal.Signals) -> bool:
        """SIGKILL: a crash; SIGQUIT: `pg_ctl stop -m immediate`. False if it was not running."""
        pid = self.postmaster_pid()
        if pid is None:
            return False
        os.kill(pid, sig)
        _wait_gone(pid, 30)
        return True

    def close(self) -> None:
        self._script("stop", timeout=90)
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not POSTGRES_LOCAL.exists():
        pytest.fail("scripts/postgres-local is missing", pytrace=False)
    pg = PrivatePostgres()
    try:
        pg.start(attempts=1)
        yield pg
    finally:
        pg.close()


# --- Kafka ---------------------------------------------------------------------------------------

BROKER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
"""

LOG4J = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
"""


class PrivateBroker:
    """A single-node KRaft broker (the settings of scripts/kafka-local) on its own ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.cport = free_ports(2)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.props = root / "server.properties"
        self.log4j = root / "log4j2.properties"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        java_home = os.environ.get("JAVA_HOME")
        self.java = str(Path(java_home) / "bin" / "java") if java_home else "java"

    def _jvm(self) -> list[str]:
        return [
            self.java,
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j}",
            f"-Dkafka.logs.dir={self.root}",
            "-cp",
            f"{KAFKA_LIBS}/*",
        ]

    def format(self) -> None:
        self.props.write_text(
            BROKER_PROPERTIES.format(port=self.port, cport=self.cport, data=self.root / "data")
        )
        self.log4j.write_text(LOG4J)
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the storage tool would read it as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        tool = ["kafka.tools.StorageTool", "format", "-c", str(self.props), "-t", cluster_id]
        done = subprocess.run(
            [*self._jvm(), *tool],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"formatting the private broker failed:\n{done.stdout}{done.stderr}")

    def start(self, timeout: float = 120) -> None:
        self.starts += 1
        log = (self.root / f"broker-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [*self._jvm(), "kafka.Kafka", str(self.props)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of pytest does not reach it half-way
        )
        log.close()
        wait = [self.bootstrap, "--timeout", str(timeout), "--pid", str(self.proc.pid)]
        done = subprocess.run(
            [sys.executable, str(WAIT_KAFKA), *wait],
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the private broker did not become ready: {done.stderr[-2000:]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, grace: float = 30) -> None:
        """SIGTERM: a controlled shutdown (a restart); SIGKILL: a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, sig: signal.Signals = signal.SIGTERM) -> tuple[float, float]:
        """Stop, then start on the same data; returns when (monotonic) it began and ended."""
        began = time.monotonic()
        self.stop(sig)
        self.start()
        return began, time.monotonic()


@contextmanager
def private_broker(root: Path) -> Iterator[PrivateBroker]:
    if not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        pytest.fail(
            "the soak runs its own broker from the jars in build/kafka/libs; fetch them once with "
            "`scripts/kafka-local start`",
            pytrace=False,
        )
    root.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(root)
    try:
        broker.format()
        broker.start()
        yield broker
    finally:
        broker.stop()
