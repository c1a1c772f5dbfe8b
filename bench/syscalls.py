"""System calls of the worker processes during a phase, counted by the kernel (`perf stat`).

Why not /proc/<pid>/io: its `syscw` counts write(2)-family calls only; send(2) on a socket,
which is what asyncio's transports use, leaves it at 0 (checked on Linux 6.x). Kernel
tracepoints count every call of the process without touching it (no ptrace, no wrapper in the
process): a per-call counter increment in the kernel. Needs `perf` and the permission to
count syscall tracepoints (root or CAP_PERFMON); otherwise the figures are "n/a".
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# tracepoint name -> what it stands for on the hot path
EVENTS = {
    "sendto": "socket send (socket.send is sendto on Linux)",
    "sendmsg": "socket send (sendmsg, writelines)",
    "recvfrom": "socket receive",
    "recvmsg": "socket receive (recvmsg)",
    "write": "write to a file, pipe or socket (log lines; uvloop's socket writes)",
    "writev": "vectored write (uvloop's socket writes)",
    "epoll_wait": "event loop iteration (selector.select)",
    "epoll_pwait": "event loop iteration (epoll_pwait)",
}


def _tracepoints() -> str:
    return ",".join(f"syscalls:sys_enter_{e}" for e in EVENTS)


def parse_perf_stat(text: str) -> dict[str, int] | None:
    """Counts from `perf stat -x,` output (`value,unit,event,...` lines); None when an event
    was not counted, since a partial set would understate the cost."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if line.startswith("#") or len(fields) < 3 or "sys_enter_" not in fields[2]:
            continue
        name = fields[2].split("sys_enter_", 1)[1]
        try:
            counts[name] = int(float(fields[0]))
        except ValueError:  # <not counted>, <not supported>
            return None
    return counts if set(counts) == set(EVENTS) else None


def per_order_summary(counts: dict[str, int] | None, orders: int) -> dict[str, Any] | None:
    """Writes (socket sends, and the write(2) family: log lines, and uvloop's socket writes,
    which libuv makes with write/writev), socket receives and event-loop iterations per order,
    plus the raw counts. Under uvloop `socket_sends_per_order` is ~0: compare `writes`."""
    if counts is None or orders <= 0:
        return None

    def per(*names: str) -> float:
        return round(sum(counts[n] for n in names) / orders, 2)

    return {
        "writes_per_order": per("sendto", "sendmsg", "write", "writev"),
        "socket_sends_per_order": per("sendto", "sendmsg"),
        "socket_receives_per_order": per("recvfrom", "recvmsg"),
        "file_writes_per_order": per("write", "writev"),
        "loop_iterations_per_order": per("epoll_wait", "epoll_pwait"),
        "counts": counts,
    }


@functools.cache
def available() -> bool:
    """Whether `perf stat` may count syscall tracepoints here (tried once on `true`)."""
    perf = shutil.which("perf")
    if perf is None:
        return False
    try:
        done = subprocess.run(
            [perf, "stat", "-x,", "-e", _tracepoints(), "--", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and parse_perf_stat(done.stderr) is not None


class SyscallCounter:
    """`perf stat` attached to `pids` for the duration of an `async with` block; `counts`
    afterwards (None when perf is not available or failed)."""

    ATTACH_SECONDS = 0.3  # perf opens its counters asynchronously; no signal says when

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.counts: dict[str, int] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._out: Path | None = None

    async def __aenter__(self) -> SyscallCounter:
        perf = shutil.which("perf")
        if perf is None or not available():
            return self
        fd, name = tempfile.mkstemp(prefix="bench-perf-", suffix=".txt")
        os.close(fd)
        self._out = Path(name)
        pids = ",".join(str(p) for p in self.pids)
        self._proc = await asyncio.create_subprocess_exec(
            *[perf, "stat", "-x,", "-e", _tracepoints(), "-o", name, "-p", pids],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(self.ATTACH_SECONDS)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is None or self._out is None:
            return
        self._proc.send_signal(signal.SIGINT)  # perf writes its counts on SIGINT
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
            self.counts = parse_perf_stat(self._out.read_text())
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        finally:
            self._out.unlink(missing_ok=True)
