"""Worker processes and what they cost: started like in production, measured with psutil."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.services import REPO


class Workers:
    """`n` real `invoice-router worker` processes of one consumer group.

    `profile_to` runs the first one under cProfile (which writes its stats when the worker
    exits on SIGTERM), to find where the time of one record goes.
    """

    def __init__(
        self, n: int, env: dict[str, str], workdir: Path, tag: str, profile_to: Path | None = None
    ) -> None:
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        for i in range(n):
            prefix = [sys.executable]
            if profile_to is not None and i == 0:
                prefix += ["-m", "cProfile", "-o", str(profile_to)]
            log = workdir / f"worker-{tag}-{i}.log"
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [*prefix, "-m", "workers.cli", "worker"],
                        cwd=REPO,
                        env={**os.environ, **env},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            self.logs.append(log)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def check_alive(self) -> None:
        """Fail fast with the log's tail instead of waiting for outcomes that never come."""
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {proc.pid} exited ({proc.returncode}):\n{tail}")

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM all at once (a graceful stop commits offsets), SIGKILL stragglers."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@dataclass
class Usage:
    """CPU seconds and RSS of a set of processes over one measured interval."""

    cpu_seconds: float
    rss_max_mb: list[float]
    rss_end_mb: list[float]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by `pids` (a gone process counts as 0)."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def io_writes(pids: list[int]) -> int:
    """write(2)-family calls so far (/proc/<pid>/io `syscw`): files and pipes, i.e. mostly log
    lines; socket sends (send/sendto) are not in it, see bench/syscalls.py."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += psutil.Process(pid).io_counters().write_count
    return total


def rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """(name, CPU seconds) of every process we may read: a machine-wide snapshot."""
    out: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "cpu_times"]):
        t = p.info["cpu_times"]
        if t is not None:
            out[p.pid] = (p.info["name"] or "?", t.user + t.system)
    return out


def cpu_breakdown(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    roles: dict[int, str],
) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per role (our pids) or process name.

    The machine is shared (broker, database, simulator, the bench itself, anything else), so
    this says where the cores went while a scenario ran; processes that started in between
    count from zero.
    """
    spent: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        delta = cpu - before.get(pid, (name, 0.0))[1]
        if delta > 0:
            key = roles.get(pid, f"other {name}")
            spent[key] = spent.get(key, 0.0) + delta
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))


@dataclass
class Sampler:
    """Samples RSS of `pids` every `every` seconds in a thread (the bench's event loop is busy
    producing and consuming), plus the whole machine's CPU utilisation."""

    pids: list[int]
    roles: dict[int, str] = field(default_factory=dict)
    every: float = 0.5
    samples: list[tuple[float, list[float]]] = field(default_factory=list)
    machine_cpu_percent: float = 0.0
    usage: Usage | None = None
    cpu_seconds_by_process: dict[str, float] = field(default_factory=dict)
    _snapshot: dict[int, tuple[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu0: float = 0.0
    _t0: float = 0.0

    def __enter__(self) -> Sampler:
        self._snapshot = cpu_by_process()
        self._cpu0 = cpu_seconds(self.pids)
        self._t0 = time.monotonic()
        psutil.cpu_percent(None)  # starts psutil's machine-wide interval
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, [rss_mb(p) for p in self.pids]))
            self._stop.wait(self.every)

    def __exit__(self, *exc: object) -> None:
        self.machine_cpu_percent = psutil.cpu_percent(None)
        spent = cpu_breakdown(self._snapshot, cpu_by_process(), self.roles)
        self.cpu_seconds_by_process = {k: round(v, 2) for k, v in spent.items() if v >= 0.05}
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append((time.monotonic() - self._t0, [rss_mb(p) for p in self.pids]))
        self.usage = Usage(
            cpu_seconds=cpu_seconds(self.pids) - self._cpu0,
            rss_max_mb=[max(s[1][i] for s in self.samples) for i in range(len(self.pids))],
            rss_end_mb=self.samples[-1][1],
        )
