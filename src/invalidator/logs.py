"""Structured logs: one JSON object per line, with request, invalidation and edge ids.

Secrets never reach a log record: callers pass ids, never credentials or signatures.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record and its `extra` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send JSON lines to stderr at `level` (debug, info, warning, error)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("invalidator")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # uvicorn's own records (a port in use, a protocol error) as JSON lines too, not Python's
    # plain last-resort text; its start-up chatter only at debug
    server = logging.getLogger("uvicorn")
    server.handlers[:] = [handler]
    server.setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
    server.propagate = False
