"""The bulk engine: many records, a fixed pool of workers, one report.

Input is consumed lazily, from any iterable or async iterable, by a fixed
pool of worker tasks that each take the next id straight from the `Intake`
(validated, de-duplicated, resumed) and hand it to a `RecordJob`. Memory
therefore stays flat however long the input is: a compact `IdSet` remembers
what was seen, and the report can keep failures and skips only. Each worker
turns one record into exactly one `Outcome`, whatever happens, so no id is
ever lost or reported twice.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeAlias

import attrs

from ..calls import OPERATIONS, Operations
from ..errors import ApiError, QueryError, RunStopped, ValidationError, ZohoLockingError
from ..flow.control import Clock
from ..http.exchange import Tally
from ..wire import protocol
from ..wire.limits import is_run_wide
from .budget import RunBudget
from .intake import BulkItem, Intake
from .journal import Journal, JournalState
from .record import RecordJob
from .report import FAILED, UNFINISHED, BulkReport, Outcome
from .selection import Selection

__all__ = ["BulkItem", "Progress", "run_bulk"]

#: Called after each record with (records done, total if known, the live report).
Progress: TypeAlias = Callable[[int, int | None, BulkReport], None]


class _Histogram:
    """Log-scale latency histogram: bounded memory, about 5% precision."""

    __slots__ = ("counts", "max")
    _BASE = math.log(1.05)

    def __init__(self) -> None:
        self.counts = [0] * 512
        self.max = 0.0

    def add(self, seconds: float) -> None:
        micros = max(seconds * 1e6, 1.0)
        self.counts[min(int(math.log(micros) / self._BASE), 511)] += 1
        self.max = max(self.max, seconds)

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


class _Run:
    """One bulk call in progress: the workers and the bookkeeping they share."""

    def __init__(
        self,
        job: RecordJob,
        report: BulkReport,
        journal: Journal | None,
        state: JournalState,
        progress: Progress | None,
        total: int | None,
        clock: Clock,
        budget: RunBudget,
    ) -> None:
        self.job = job
        self.budget = budget
        self.report = report
        self.journal = journal
        self.state = state
        self.progress = progress
        self.total = total
        self.clock = clock
        self.done = 0
        self.latency = _Histogram()
        self.in_flight: dict[asyncio.Task[Any], str] = {}
        self.intake = Intake(job.operation, report, state, self.finish, self.resumed)

    def finish(self, outcome: Outcome) -> None:
        """Report *outcome*, journal it and tell the progress callback."""
        self.report.add(outcome)
        if self.journal is not None:
            self.journal.record(outcome)
        self.done += 1
        if self.progress is not None:
            # Kept live for the progress bar; the report gets the last figure at the end.
            self.report.credits_remaining = self.job.ops.exchange.credits_remaining
            self.progress(self.done, self.total, self.report)

    def resumed(self, earlier: Outcome) -> None:
        """Report an outcome an earlier run journaled."""
        self.report.resumed += 1
        self.report.add(earlier)
        self.done += 1

    async def work(self, items: Iterator[BulkItem] | AsyncIterator[BulkItem]) -> None:
        """Take records from *items* and process them until the input runs out."""
        clock, intake, run, budget = self.clock, self.intake, self.job.run, self.budget
        task = asyncio.current_task()
        assert task is not None
        sync = isinstance(items, Iterator)
        while budget.stopped is None:
            if sync:
                item = intake.take(items)  # type: ignore[arg-type]
            else:
                try:
                    item = await intake.take_async(items)  # type: ignore[arg-type]
                except ZohoLockingError as exc:
                    # The input itself failed (a selection's query): no more ids will
                    # come, so the run stops cleanly with what it has.
                    budget.stop(exc.code, _message(exc), getattr(exc, "http_status", None))
                    return
            if item is None:
                return
            record_id, locking_id = item
            self.in_flight[task] = record_id
            tally = Tally(maybe_applied=record_id in self.state.intents, budget=budget)
            started = clock()
            try:
                outcome = await run(record_id, locking_id, tally)
            except RunStopped as exc:
                code = "NOT_ATTEMPTED" if not tally.attempts else exc.code
                outcome = Outcome(
                    record_id, UNFINISHED, code, exc.message, None, None, tally.attempts
                )
            except ZohoLockingError as exc:
                outcome = _failure(record_id, exc, tally)
                if is_run_wide(exc):
                    # Every record would meet this: stop taking ids and sending.
                    budget.stop(outcome.code, outcome.message, outcome.http_status)
                    outcome = attrs.evolve(outcome, status=UNFINISHED)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one record, never the run
                outcome = Outcome(
                    record_id, FAILED, "INTERNAL_CLIENT_ERROR",
                    f"{type(exc).__name__}: {exc}", attempts=tally.attempts,
                )  # fmt: skip
            del self.in_flight[task]
            self.latency.add(clock() - started)
            if tally.attempts:
                self.report.attempted += 1
            self.report.requests += tally.attempts
            self.report.retries += tally.retries
            self.report.throttled += tally.throttled
            self.finish(outcome)


def _message(exc: ZohoLockingError) -> str:
    if isinstance(exc, QueryError):
        return str(exc)  # one line that names the problem: code, message, where
    return getattr(exc, "message", None) or str(exc)


def _failure(record_id: str, exc: ZohoLockingError, tally: Tally) -> Outcome:
    if isinstance(exc, ApiError):
        return Outcome(
            record_id, FAILED, exc.code, exc.message, exc.http_status, None, tally.attempts
        )
    message = getattr(exc, "message", None) or str(exc)
    return Outcome(record_id, FAILED, exc.code, message, None, None, tally.attempts)


async def run_bulk(
    ops: Operations,
    operation: str,
    module: str,
    items: Iterable[BulkItem] | AsyncIterable[BulkItem],
    *,
    reason: str | None = None,
    keep_successes: bool = True,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    report: BulkReport | None = None,
    workers: int | None = None,
    max_requests: int | None = None,
    any_lock: bool = False,
) -> BulkReport:
    """Run *operation* over every item; see `LockingClient.lock_many` and friends."""
    if operation not in OPERATIONS:
        raise ValidationError(f"unknown operation {operation!r}", field="operation")
    module = protocol.validate_module(module)
    if operation in ("lock", "update"):
        reason = protocol.validate_reason(reason)
    if isinstance(items, str | bytes):
        raise ValidationError(
            "record_ids must be an iterable of ids, not a single string", field="record_ids"
        )
    if not isinstance(items, Iterable | AsyncIterable):
        raise ValidationError(
            f"record_ids must be an iterable or async iterable, got {type(items).__name__}",
            field="record_ids",
        )
    budget = RunBudget(max_requests)
    if report is None:
        report = BulkReport(operation, module, keep_successes=keep_successes)
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    log = Journal(journal, operation=operation, module=module) if journal is not None else None
    state = log.open(resume=resume) if log is not None else JournalState()
    job = RecordJob(
        ops, operation, module, reason, log.intent if log is not None else None, any_lock
    )
    flow = ops.exchange.flow
    run = _Run(job, report, log, state, progress, total, flow.now, budget)
    count = workers or flow.max_concurrency
    if isinstance(items, Selection):
        _share_run(items, run, budget, log, state, resume)
    source = aiter(items) if isinstance(items, AsyncIterable) else iter(items)
    started = flow.now()
    pool = [asyncio.create_task(run.work(source)) for _ in range(count)]
    try:
        await asyncio.gather(*pool)
    except BaseException:
        # Cancelled (or the input itself raised): stop taking ids, cancel what is in
        # flight, and report those records as cancelled so a resume redoes them.
        report.cancelled = True
        for task in pool:
            task.cancel()
        await asyncio.gather(*pool, return_exceptions=True)
        for record_id in run.in_flight.values():
            run.finish(Outcome(record_id, FAILED, "CANCELLED", "the run was cancelled"))
        raise
    finally:
        report.wall_time = flow.now() - started
        report.latency_ms = run.latency.percentiles()
        report.credits_remaining = ops.exchange.credits_remaining
        if isinstance(items, Selection):
            await items.aclose()
            report.query_requests = items.tally.attempts
        if budget.stopped is not None:
            report.stopped = budget.stopped
            never_sent = sum(1 for o in report.outcomes if o.code == "NOT_ATTEMPTED")
            unread = None if total is None else total - run.intake.read
            report.not_attempted = None if unread is None else never_sent + unread
        if log is not None:
            log.close()
    return report


def _share_run(
    selection: Selection,
    run: _Run,
    budget: RunBudget,
    log: Journal | None,
    state: JournalState,
    resume: bool,
) -> None:
    """Make *selection* part of the run: its budget, its journal, its resume point."""
    selection.tally.budget = budget
    if log is None:
        return
    where = selection.where
    selection.on_page = lambda page: log.selected(where, page)
    pages = state.pages.get(where)
    if resume and pages:
        after = selection.resume_after(pages, state.finished)
        if after is not None:
            # Pages not asked again: their records' outcomes come from the journal.
            bound = int(after)
            for record_id, outcome in list(state.finished.items()):
                if int(record_id) <= bound:
                    run.intake.seen.add(int(record_id))
                    run.resumed(outcome)
