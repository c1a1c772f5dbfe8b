"""The text formatter builds its line directly (one per order, workers/logs.py): it must write
exactly what `logging.Formatter` with the same format writes, and redact only what needs it."""

from __future__ import annotations

import logging
import sys

import pytest

from workers import logs


def _record(created: float, msg: str = "order %s: %s", args: tuple = ("A-1", "issued")):
    record = logging.LogRecord("workers.issuance", logging.INFO, __file__, 7, msg, args, None)
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    return record


def _stdlib(record: logging.LogRecord) -> str:
    """The line as `logging.Formatter` writes it, with the correlation fields and redaction."""
    line = logging.Formatter(logs.TextFormatter.FORMAT).format(record)
    head, sep, tail = line.partition("\n")
    fields = logs.correlation()
    if fields:
        head += " | " + " ".join(f"{k}={v}" for k, v in fields.items())
    return logs.redact(head + sep + tail)


@pytest.mark.parametrize(
    "created",
    [1_780_000_000.0, 1_780_000_000.999, 1_780_000_001.0005, 1_780_003_599.5, 1_780_003_600.25],
)
def test_the_line_is_the_stdlib_formatters_line(created: float) -> None:
    formatter = logs.TextFormatter()
    with logs.correlate(topic="orders.shop", partition=1, offset=9, order_id="A-1"):
        for when in (created, created + 0.0004, created + 1.2):  # same second, the next one
            assert formatter.format(_record(when)) == _stdlib(_record(when))


def test_exceptions_stack_and_secrets_are_kept_as_before() -> None:
    formatter = logs.TextFormatter()
    try:
        raise RuntimeError("token endpoint said refresh_token=rt-1-secret is spent")
    except RuntimeError:
        exc_info = sys.exc_info()
    for record in (
        _record(1_780_000_000.5, "form %s", ({"client_secret": "cs-2-secret"},)),
        _record(1_780_000_000.5, "mail jan@example.com", ()),
    ):
        assert formatter.format(record) == _stdlib(record)
    failed, expected = _record(1_780_000_000.5), _record(1_780_000_000.5)
    failed.exc_info = expected.exc_info = exc_info
    failed.stack_info = expected.stack_info = "Stack (most recent call last):\n  here"
    line = formatter.format(failed)
    assert line == _stdlib(expected)
    assert "rt-1-secret" not in line and "Traceback" in line and "refresh_token=[REDACTED]" in line


def test_a_line_without_any_needle_is_returned_as_is() -> None:
    line = "fakturownia POST /invoices.json answered HTTP 201 in 0.064s | order_id=A-1"
    assert logs.redact(line) is line
    for needle in ("Bearer x", "API_KEY=1", "?code=1", "a@b.pl", "[parameters: (1,)]", "Passwd: x"):
        assert logs.redact(f"{line} {needle}") != f"{line} {needle}", needle
