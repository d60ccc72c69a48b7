"""Log lines as one JSON object each (``KEFU_LOG_FORMAT=json``; the default stays each
process's own text format), carrying the request id and the conversation id when known
(tracing/request_id.py).

A small Formatter subclass of the standard library's, not python-json-logger: it is a dozen
lines, and a new dependency for them would be a package to pin and follow for little.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from tracing import request_id

UTC = timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11; the actions run on 3.10)


class RequestContext(logging.Filter):
    """Puts ``request_id`` and ``conversation_id`` on every record ("-" when unknown), so a
    format string may name them; added to handlers, it also sees other libraries' records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.request_id.get() or "-"
        if getattr(record, "conversation_id", None) is None:
            record.conversation_id = request_id.conversation_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    conversation_id (when known), and the exception with its traceback (when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # From the record (RequestContext, or extra=), else from the context it was made in.
        for key, current in (
            ("request_id", request_id.request_id),
            ("conversation_id", request_id.conversation_id),
        ):
            value = getattr(record, key, None) or current.get()
            if value not in (None, "-"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service in JSON (uvicorn takes it as its
    ``log_config``; the text format is uvicorn's own, unchanged): Kefu's loggers and uvicorn's
    through one handler on stderr."""
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "kefu",
        "filters": ["request_context"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": RequestContext}},
        "formatters": {"kefu": {"()": JsonFormatter}},
        "handlers": {"kefu": handler},
        "root": {"handlers": ["kefu"], "level": level},
        "loggers": {
            # uvicorn's own loggers go to the root's handler, and so take the same format.
            name: {"handlers": [], "level": level, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
