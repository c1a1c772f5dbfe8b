"""Exit codes of `invoice-router worker`, in one place (docs/operations.md, "Exit codes").

Supervisors' restart policies, the documentation and the tests read them from here.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    STOPPED = 0  # SIGTERM / Ctrl-C, also while waiting for Kafka or PostgreSQL at start
    # 1: an unexpected error (a traceback): a bug to report
    CONFIGURATION = 2  # settings invalid; INVOICE_ROUTER_SECRET_KEYS unset, empty or malformed
    DATABASE = 3  # database missing or unreadable, or its schema not at this version's migration
    SECRETS = 4  # the keys open none of the stored credentials: a wrong or missing key
    KAFKA = 5  # the broker answers but refuses the worker (authorization, topic creation)
    STOP_TIMED_OUT = 70  # a stop did not finish within the grace period (workers/shutdown.py)
