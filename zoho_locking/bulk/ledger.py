"""The one writer of a bulk run's report: it counts what the run's events tell.

Nothing else in the engine touches a `BulkReport`'s figures. Requests are
counted by the exchange as it sends them (each record's call counts its own,
and the record's outcome carries the figure), retries and 429s as it meets
them, records as they finish, the stop as the run's gate halts it. A
selection counts its own query requests (some are sent before the run starts,
to check the query): the ledger takes its figure at the end.
"""

from __future__ import annotations

import math

from ..events import (
    CreditsSeen,
    DuplicateId,
    Events,
    RecordFinished,
    RetryScheduled,
    RunHalted,
    Throttled,
)
from .report import BulkReport

__all__ = ["Ledger"]


class _Histogram:
    """Log-scale latency histogram: bounded memory, about 5% precision."""

    __slots__ = ("counts", "max")
    _BASE = math.log(1.05)

    def __init__(self) -> None:
        self.counts = [0] * 512
        self.max = 0.0

    def add(self, seconds: float) -> None:
        # Once per record: comparisons instead of calls to max() and min().
        micros = seconds * 1e6
        index = int(math.log(micros) / self._BASE) if micros > 1.0 else 0
        self.counts[index if index < 511 else 511] += 1
        if seconds > self.max:
            self.max = seconds

    def percentiles(self) -> dict[str, float]:
        total = sum(self.counts)
        if not total:
            return {}
        result: dict[str, float] = {}
        for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
            rank, seen = q * total, 0
            for index, count in enumerate(self.counts):
                seen += count
                if seen >= rank:
                    # Geometric middle of the bucket, in milliseconds.
                    result[name] = round(1.05 ** (index + 0.5) / 1000, 3)
                    break
        result["max"] = round(self.max * 1000, 3)
        return result


class Ledger:
    """Keeps *report* as the events of a run tell it.

    *events* are the run's: records finished, the stop, credits, retries, 429s.
    """

    __slots__ = ("_latency", "never_sent", "report")

    def __init__(self, report: BulkReport, events: Events) -> None:
        self.report = report
        self._latency = _Histogram()
        #: Records taken but never sent, because the run had stopped.
        self.never_sent = 0
        events.on(RecordFinished, self._finished)
        events.on(DuplicateId, self._duplicate)
        events.on(RetryScheduled, self._retried)
        events.on(Throttled, self._throttled)
        events.on(CreditsSeen, self._credits)
        events.on(RunHalted, self._halted)

    def close(
        self, *, wall_time: float, unread: int | None, cancelled: bool, query_requests: int
    ) -> None:
        """Write what only the end of the run knows.

        *unread* is the input left unread (``None`` when its length is unknown).
        """
        report = self.report
        report.query_requests = query_requests
        report.wall_time = wall_time
        report.latency_ms = self._latency.percentiles()
        report.cancelled = report.cancelled or cancelled
        if report.stopped is not None:
            report.not_attempted = None if unread is None else self.never_sent + unread

    def _finished(self, event: RecordFinished) -> None:
        outcome, report = event.outcome, self.report
        report.add(outcome)
        if event.resumed:
            report.resumed += 1
            return
        if event.seconds is not None:
            self._latency.add(event.seconds)
        if outcome.attempts:
            report.attempted += 1
            report.requests += outcome.attempts
        elif outcome.code == "NOT_ATTEMPTED":
            self.never_sent += 1

    def _duplicate(self, _: DuplicateId) -> None:
        self.report.duplicates += 1

    def _retried(self, _: RetryScheduled) -> None:
        self.report.retries += 1

    def _throttled(self, _: Throttled) -> None:
        self.report.throttled += 1

    def _credits(self, event: CreditsSeen) -> None:
        self.report.credits_remaining = event.remaining

    def _halted(self, event: RunHalted) -> None:
        self.report.stopped = event.stop
