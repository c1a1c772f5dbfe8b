"""Logging for the worker: text for people, JSON lines for log pipelines, both redacted.

Every line carries the correlation fields of the record being processed (event id, seller,
channel, order id, source coordinates) and of the provider call made last for it. They live
in `contextvars`, so concurrent records never mix them up. Secrets (tokens, client secrets,
passwords in URLs, `Authorization` values) and e-mail addresses are masked in every line,
whatever logged it, tracebacks included.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from adapters import observe

LogFormat = Literal["text", "json"]
REDACTED = "[REDACTED]"
_NONE: Mapping[str, object] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, object]] = ContextVar("log_correlation", default=_NONE)
_SECRET_KEY = (
    r"[\w-]*(?:token|secret|passw(?:or)?d)[\w-]*|authorization|api_?key|access_?key|app_?key"
)
# (needles, case-folded, pattern, replacement): a pattern runs only on text containing one of
# its needles (every match contains one), so the usual line, which has none, costs a few
# substring scans instead of six regular-expression passes (docs/performance.md).
_Redaction = tuple[tuple[str, ...], bool, re.Pattern[str], str]
_REDACTIONS: tuple[_Redaction, ...] = (
    # `Bearer abc`, `Basic abc` (an Authorization header's value; capitalised, unlike prose)
    (("Bearer", "Basic"), False, re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]+"), rf"\1 {REDACTED}"),
    # api_token=abc, "client_secret": "abc", 'refresh_token': 'abc', accessKey: abc
    (
        ("token", "secret", "passw", "authorization", "key"),
        True,
        re.compile(rf"(?i)(\b(?:{_SECRET_KEY})\b[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;)}}\]]+"),
        rf"\1{REDACTED}",
    ),
    # an OAuth redirect's ?code=...&state=...
    (("code=", "state="), False, re.compile(r"([?&](?:code|state)=)[^\s\"'&#]+"), rf"\1{REDACTED}"),
    # scheme://user:password@host
    (
        ("@",),
        False,
        re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+@"),
        rf"\1{REDACTED}@",
    ),
    # SQLAlchemy errors echo statement parameters (order events with buyer data) on one line
    (("[parameters: ",), False, re.compile(r"\[parameters: [^\n]*"), f"[parameters: {REDACTED}]"),
    # personal data: e-mail addresses
    (("@",), False, re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
)
# httpx logs every request's full URL (query string included) at INFO; the adapters log their
# own redacted line per call instead (adapters/observe.py).
_QUIET_LOGGERS = ("httpx", "httpcore", "alembic.runtime.plugins")
# At DEBUG the Kafka client and Faust log whole records (orders: buyers' names, NIPs,
# addresses), which the redactions above cannot recognise; they stay at INFO unless asked.
_RECORD_LOGGERS = ("aiokafka", "faust")


_PLAIN_NEEDLES = tuple({n: 0 for ns, folded, _, _ in _REDACTIONS if not folded for n in ns})
_FOLDED_NEEDLES = tuple({n: 0 for ns, folded, _, _ in _REDACTIONS if folded for n in ns})


def _has_needle(text: str) -> bool:
    """Whether any redaction could match: one scan per needle, the usual line has none."""
    return any(map(text.__contains__, _PLAIN_NEEDLES)) or any(
        map(text.lower().__contains__, _FOLDED_NEEDLES)
    )


def redact(text: str) -> str:
    """`text` with secrets and e-mail addresses masked."""
    if not _has_needle(text):
        return text
    lowered: str | None = None
    for needles, folded, pattern, replacement in _REDACTIONS:
        haystack = text
        if folded:
            lowered = lowered if lowered is not None else text.lower()
            haystack = lowered
        if any(needle in haystack for needle in needles):
            text = pattern.sub(replacement, text)
            lowered = None  # the text changed
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


# --- correlation ---------------------------------------------------------------------------


def _present(fields: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None and v != ""}


@contextmanager
def correlate(**fields: object) -> Iterator[None]:
    """Tag every log line inside the block with `fields` (one record's processing); provider
    calls made inside add theirs until the block ends."""
    token = _FIELDS.set({**_FIELDS.get(), **_present(fields)})
    try:
        with observe.call_scope():
            yield
    finally:
        _FIELDS.reset(token)


def bind(**fields: object) -> None:
    """Add fields learnt inside a `correlate` block (e.g. the event id once parsed); they end
    with the block."""
    _FIELDS.set({**_FIELDS.get(), **_present(fields)})


def correlation() -> dict[str, object]:
    """The fields of the current context: the record's, then its last provider call's."""
    return {**_FIELDS.get(), **observe.last_call()}


# --- formatters ----------------------------------------------------------------------------


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, correlation fields, exc_info."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        log_data.update(correlation())

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _scrub(value) for key, value in log_data.items()}


class TextFormatter(logging.Formatter):
    """Faust's usual line, then the correlation fields as `key=value`.

    Exactly what `logging.Formatter` with `FORMAT` writes, built directly: one f-string, and
    the time's text made once per second instead of per line (one line per order)."""

    FORMAT = "[%(asctime)s] [%(process)s] [%(levelname)s] %(name)s: %(message)s"

    def __init__(self) -> None:
        super().__init__(self.FORMAT)
        self._second: tuple[int, str] = (-1, "")  # a second and its text, replaced at once

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:  # what Formatter.formatTime makes of any time in it
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = (
            f"[{record.asctime}] [{record.process}] [{record.levelname}] {record.name}: "
            f"{record.message}"
        )
        fields = correlation()
        return f"{line} | {' '.join([f'{k}={v}' for k, v in fields.items()])}" if fields else line

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# --- configuration -------------------------------------------------------------------------


def logging_config(
    log_format: LogFormat, level: str, *, client_debug: bool = False
) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: one stdout handler with the chosen formatter.

    `client_debug`: let aiokafka and Faust log below INFO too when `level` is below it.
    A fresh dict on every call: `dictConfig` and Faust's worker may modify what they are given.
    """
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    loggers: dict[str, Any] = {name: {"level": "WARNING"} for name in _QUIET_LOGGERS}
    threshold = logging.getLevelName(level.upper())  # an int for every level name
    clamped = isinstance(threshold, int) and threshold < logging.INFO and not client_debug
    # NOTSET: follow the root level (and undo an earlier clamp, dictConfig keeps levels)
    loggers |= {name: {"level": "INFO" if clamped else "NOTSET"} for name in _RECORD_LOGGERS}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": loggers,
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def configure(log_format: LogFormat, level: str, client_debug: bool = False) -> dict[str, Any]:
    """Apply the configuration now (for what runs before Faust starts) and return a fresh
    copy for `faust.Worker(logging_config=...)`, which applies it again at start."""
    logging.config.dictConfig(logging_config(log_format, level, client_debug=client_debug))
    logging.captureWarnings(True)  # warnings become log lines, in the same format
    return logging_config(log_format, level, client_debug=client_debug)
