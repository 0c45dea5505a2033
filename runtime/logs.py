"""Logging for every process: plain text by default, one JSON object per line on request
(``AFTERSALES_JSON_LOGS=true``).

Each record carries what applies where it was logged: ``request_id`` and ``case_id`` in the API
(set by ``http_api.observability`` for the request), and in the worker ``workflow_id``,
``run_id``, ``activity`` and ``attempt`` (from the SDK's ``activity.logger`` and
``workflow.logger`` extras) plus ``case_id`` when the activity's input names one. Nothing puts
a token or a header value in a record.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from runtime.settings import Settings

#: The API request being served (``X-Request-ID``, or one made up) and the case it is about.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
case_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("case_id", default=None)

#: What the record carries, beyond the message, when it applies.
CONTEXT_FIELDS = ("request_id", "case_id", "workflow_id", "run_id", "workflow_type", "activity", "attempt")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class ContextFilter(logging.Filter):
    """Copies the request and case ids and the SDK's workflow/activity details onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request, case = request_id.get(), case_id.get()
        if request is not None and not hasattr(record, "request_id"):
            record.request_id = request
        if case is not None and not hasattr(record, "case_id"):
            record.case_id = case
        details = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if isinstance(details, dict):
            record.workflow_id = details.get("workflow_id")
            record.run_id = details.get("workflow_run_id") or details.get("run_id")
            record.workflow_type = details.get("workflow_type")
            if "activity_type" in details:
                record.activity = details.get("activity_type")
                record.attempt = details.get("attempt")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context fields that apply,
    any other ``extra`` given, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key in ("temporal_activity", "temporal_workflow"):
                continue
            if value is not None:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with the context fields that apply appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None) is not None)
        return f"{text} [{context}]" if context else text


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as text or JSON per the settings;
    replaces handlers this function installed before. Returns the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_aftersales", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._aftersales = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.json_logs else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # One INFO line per provider call buried the worker's own messages (and cost time under load).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The API writes its own access log (http_api.observability), with the route and the ids.
    logging.getLogger("uvicorn.access").disabled = True
    return handler
