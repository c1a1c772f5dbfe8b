"""Stopping the worker: graceful first, and always within a bound.

A graceful stop lets the orders in hand finish and commits what they acknowledged. During a
database outage they cannot finish (they wait for the database, workers/outage.py), and Faust
would wait for them forever. So once a stop was asked for, a watchdog ends the process after
`grace_seconds` whatever it is doing. Nothing is lost by that: unacknowledged records were never
committed and are read again, and their claims are taken over after the lease (ADR 0006), exactly
as after a `kill -9`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

import faust

from workers.exit_codes import ExitCode

log = logging.getLogger(__name__)


class Restart:
    """Set when the worker stopped itself to start again in place (see `request_restart`)."""

    requested: bool = False


def request_restart(restart: Restart, why: str) -> None:
    """Stop the way SIGTERM does (finish the record in hand, commit, leave the group), then
    `exec` the same command (workers.cli): a fresh consumer starts from the committed offsets.

    Used for new channel topics (resubscribing a running Faust consumer lost a record of a
    just-created topic in CI) and when the consumer's dispatcher stopped on an unexpected error
    (Faust restarts a crashed agent *without* seeking back, which would skip its records).
    """
    log.warning("%s: restarting the worker", why)
    restart.requested = True
    os.kill(os.getpid(), signal.SIGTERM)


def exec_again() -> None:
    """Same process id, same arguments: a supervisor sees no exit."""
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


class BoundedStopWorker(faust.Worker):
    """faust.Worker whose stop (SIGTERM, SIGINT) ends within `grace_seconds`."""

    def __init__(
        self, *args: Any, grace_seconds: float, restart: Restart | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._grace_seconds = grace_seconds
        self._restart = restart or Restart()
        self._watchdog: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Timer(self._grace_seconds, self._force_stop)
            self._watchdog.daemon = True
            self._watchdog.start()
        super()._schedule_shutdown(signal)

    def _force_stop(self) -> None:
        log.error(
            "graceful stop did not finish within %.0fs (orders in hand are waiting, e.g. for "
            "the database): stopping now; they resume from the last commit",
            self._grace_seconds,
        )
        logging.shutdown()
        if self._restart.requested:
            exec_again()
        os._exit(ExitCode.STOP_TIMED_OUT)
