"""The API's access log without query strings (moved out of workers/api.py to keep it small)."""

from __future__ import annotations

import logging


class NoQueryInAccessLog(logging.Filter):
    """uvicorn's access line carries the full path; the callback's query holds an OAuth code,
    the console's wFirma return too."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True
