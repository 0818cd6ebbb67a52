"""JSON logs, one object per line, each with the request id of the request it came from.

Every request gets an id: the caller's ``X-Request-Id`` when it is a plain token (so a
trace can cross the borrower app, lendmatch and an institution), otherwise a new one; the
response carries it back. One access line per request records the route's *template*
(``/v1/applications/<application_id>``), never the path, query string, headers or body,
and the key's id, never the key: applicants' data stays out of the logs. SQL parameters
stay out of error messages too (``hide_parameters`` in ``core.db.make_engine``).
"""

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request

from core.ids import new_id

ACCESS = logging.getLogger("lendmatch.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Attributes every LogRecord has; anything else was passed in ``extra`` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"at": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class _Handler(logging.StreamHandler):
    """The one handler lendmatch puts on the root logger (found again by its type, so that
    creating several apps in one process does not print every line several times)."""


def configure(log_format: str, level: str) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler(sys.stderr)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    logging.getLogger("lendmatch").setLevel(level.upper())
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.logger.setLevel(app.config["LOG_LEVEL"].upper())
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    sent = request.headers.get("X-Request-Id", "")
    g.request_id = sent if REQUEST_ID.fullmatch(sent) else new_id()
    g.request_started = time.perf_counter()


def _finish(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    principal = g.get("principal")
    ACCESS.info("request", extra={
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule else None,
        "status": response.status_code,
        "ms": round((time.perf_counter() - g.get("request_started", time.perf_counter()))
                    * 1000, 2),
        "key_id": principal.key_id if principal else None,
        "role": str(principal.role) if principal and principal.role else None,
    })
    return response
