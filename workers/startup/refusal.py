"""A start-up check that failed: one line for the operator and the exit code that classifies it."""

from __future__ import annotations

from workers.exit_codes import ExitCode


class Refusal(Exception):
    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
