"""What a command says on standard error: plain text, or one JSON object a line.

In text mode (the default) a run prints its summary and, if it stops, one line
saying why. With ``--log-format json`` (or ``ZOHO_LOG_FORMAT=json``) every
line on standard error is one JSON object, ``{"time", "level", "event",
"message", ...fields}``: the run's start, every stop, 429s, new tokens, the
library's own warnings and, with ``-v``, one line per request, then the
summary. Nothing secret is in any of them: URLs hold ids only.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from ..events import Event, RunHalted, RunStarted, Throttled, TokenRefreshed

__all__ = ["JsonFormatter", "RunLog", "json_line", "logging_to"]

_log = logging.getLogger("zoho_locking.cli")
# What every LogRecord has: anything else on a record is a field the caller added.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "event"}


def json_line(level: str, event: str, message: str, **fields: Any) -> str:
    """One JSON log line (no newline)."""
    doc = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "event": event,
        "message": message,
        **fields,
    }
    return json.dumps(doc, ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: its ``event`` and extra fields kept."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        event = getattr(record, "event", record.name)
        return json_line(record.levelname.lower(), event, record.getMessage(), **fields)


@contextlib.contextmanager
def logging_to(stream: IO[str], *, json_format: bool, verbose: bool) -> Iterator[None]:
    """Send the library's log records to *stream* for the command's duration.

    Text mode logs only with ``-v`` (every request); JSON mode always, at INFO,
    or DEBUG with ``-v``.
    """
    if not (json_format or verbose):
        yield
        return
    logger = logging.getLogger("zoho_locking")
    handler = logging.StreamHandler(stream)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False  # the command owns its standard error: no second copy
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class RunLog:
    """A client hook that logs a run's start, stops, 429s and new tokens (JSON mode)."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            _log.info(
                "%s %s started", event.operation.value, event.module,
                extra=_fields("run_started", operation=event.operation.value,
                              crm_module=event.module),
            )  # fmt: skip
        elif isinstance(event, RunHalted):
            stop = event.stop
            _log.warning(
                "run stopped: %s: %s", stop.code, stop.message,
                extra=_fields("run_stopped", code=stop.code, http_status=stop.http_status,
                              reason=stop.message),
            )  # fmt: skip
        elif isinstance(event, Throttled):
            _log.info(
                "429 from %s %s; in-flight limit now %s", event.method, event.url, event.limit,
                extra=_fields("throttled", method=event.method, url=event.url,
                              limit=event.limit),
            )  # fmt: skip
        elif isinstance(event, TokenRefreshed):
            _log.info(
                "new access token (%s)", event.reason,
                extra=_fields("token_refreshed", reason=event.reason),
            )  # fmt: skip


def _fields(event: str, **fields: Any) -> Mapping[str, Any]:
    return {"event": event, **fields}
