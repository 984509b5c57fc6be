"""What one bulk run may still send: an optional cap on requests, and the stop that ends it.

`RunGate` is the exchange's `Admission` for every request of a run (retries,
look-ups, settling reads and query pages included): once the run has
stopped, or its *max_requests* are spent, nothing more is sent. The engine
calls `halt` at the first failure that no record of the run can escape; the
gate tells the run's events (`RunHalted`), and the report, the command line
and the caller's hooks learn of it from there. Knows nothing of locks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .._checks import check_positive
from ..errors import RunStopped
from ..events import Events, RunHalted
from ..models import Operation, RunStop

__all__ = ["RunGate"]


class RunGate:
    """The request cap and stop switch of one bulk run."""

    __slots__ = ("_events", "_module", "_operation", "admitted", "max_requests", "stopped")

    def __init__(
        self, operation: Operation, module: str, events: Events, max_requests: int | None = None
    ) -> None:
        check_positive(max_requests, "max_requests", integer=True, optional=True)
        self.max_requests = max_requests
        #: Requests let through so far: what *max_requests* caps.
        self.admitted = 0
        #: Why the run stopped; ``None`` while it goes on.
        self.stopped: RunStop | None = None
        self._operation, self._module, self._events = operation, module, events

    def __repr__(self) -> str:
        return f"RunGate(max_requests={self.max_requests}, admitted={self.admitted})"

    def admit(self) -> None:
        """Count one request about to be sent, or raise `RunStopped` if none may be."""
        stopped = self.stopped
        if stopped is None and self.max_requests is not None and self.admitted >= self.max_requests:
            stopped = self.halt(
                "MAX_REQUESTS", f"the run sent its max_requests ({self.max_requests})"
            )
        if stopped is not None:
            code = "MAX_REQUESTS" if stopped.code == "MAX_REQUESTS" else "RUN_STOPPED"
            raise RunStopped(f"not sent: the run stopped ({stopped.code})", code=code)
        self.admitted += 1

    def halt(self, code: str, message: str, http_status: int | None = None) -> RunStop:
        """Stop the run (the first reason given stays); return the reason in force."""
        if self.stopped is None:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            self.stopped = RunStop(code=code, message=message, http_status=http_status, at=at)
            self._events.emit(RunHalted(self._operation, self._module, self.stopped))
        return self.stopped
