"""What one bulk run may still send: an optional cap on requests, and a stop that ends it.

The exchange asks `RunBudget.admit` before every attempt of every request of
the run (retries, look-ups and settling reads included); once the run has
stopped, or its *max_requests* are spent, nothing more is sent. The bulk
engine calls `stop` at the first failure that no record of the run can
escape. Knows nothing of locks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..errors import RunStopped, ValidationError
from .report import RunStop

__all__ = ["RunBudget"]


class RunBudget:
    """The request budget and stop switch of one bulk run."""

    __slots__ = ("max_requests", "sent", "stopped")

    def __init__(self, max_requests: int | None = None) -> None:
        if max_requests is not None and (
            not isinstance(max_requests, int) or isinstance(max_requests, bool) or max_requests < 1
        ):
            raise ValidationError("max_requests must be an integer >= 1", field="max_requests")
        self.max_requests = max_requests
        #: Requests admitted so far.
        self.sent = 0
        #: Why the run stopped; ``None`` while it goes on.
        self.stopped: RunStop | None = None

    def __repr__(self) -> str:
        return f"RunBudget(max_requests={self.max_requests}, sent={self.sent})"

    def admit(self) -> None:
        """Count one request about to be sent, or raise `RunStopped` if none may be."""
        stopped = self.stopped
        if stopped is None and self.max_requests is not None and self.sent >= self.max_requests:
            stopped = self.stop(
                "MAX_REQUESTS", f"the run sent its max_requests ({self.max_requests})"
            )
        if stopped is not None:
            code = "MAX_REQUESTS" if stopped.code == "MAX_REQUESTS" else "RUN_STOPPED"
            raise RunStopped(f"not sent: the run stopped ({stopped.code})", code=code)
        self.sent += 1

    def stop(self, code: str, message: str, http_status: int | None = None) -> RunStop:
        """Stop the run (the first reason given stays); return the reason in force."""
        if self.stopped is None:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            self.stopped = RunStop(code, message, http_status, at)
        return self.stopped
