"""The bulk engine: many records, a fixed pool of workers, one report.

Input is consumed lazily, from any iterable or async iterable, by a fixed
pool of worker tasks that each take the next id straight from the `Intake`
(validated, de-duplicated, resumed) and hand it to a `RecordTask`. Memory
therefore stays flat however long the input is: a compact `IdSet` remembers
what was seen, and the report can keep failures and skips only. Each worker
turns one record into exactly one `Outcome`, told as a `RecordFinished`
event, so no id is ever lost or reported twice.

The run's bookkeeping listens to its events: the `Ledger` writes the report,
the journal keeps each outcome, the progress callback counts; the `RunGate`
admits every request and halts the run at a failure no record can escape.

A cancelled run (the caller cancels the call; Ctrl-C or SIGTERM on the command
line) stops taking ids and gives the records in flight `STOP_GRACE` seconds to
finish with their true outcome; a record still in flight after that (or at a
second cancel) is ``unfinished``: ``UNCERTAIN`` if its write may have been
sent, since the server may apply it even after the client gave up, never
``failed`` (see `_Run.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeAlias

from ..calls import LockingCalls
from ..errors import QueryError, RunStopped, ValidationError, ZohoLockingError
from ..events import Events, RecordFinished, RunEnded, RunStarted
from ..flow.base import Clock
from ..http.deadline import Deadline, check_timeout
from ..http.exchange import Call, Tally
from ..http.retry import RetryPolicy
from ..models import FAILED, UNFINISHED, Operation, Outcome
from ..wire import protocol
from ..wire.limits import is_run_wide
from .gate import RunGate
from .intake import Accepted, BulkItem, Intake
from .journal import Journal, JournalState
from .ledger import Ledger
from .record import RecordTask
from .report import BulkReport, failure, outcome
from .selection import Selection

__all__ = ["STOP_GRACE", "BulkItem", "Progress", "run_bulk"]

#: Called after each record with (records done, total if known, the live report).
Progress: TypeAlias = Callable[[int, int | None, BulkReport], None]
# Tells one run's start from another's end, across every client of the process.
_RUN_IDS = itertools.count(1)

#: Seconds a cancelled run gives the records in flight to finish with their true outcome.
STOP_GRACE = 5.0


class _Flight(Tally):
    """What happened to a record's call so far (its tally), its worker, where its write began.

    The call's frozen `Call` holds it as its tally, so a record in flight costs
    two objects: what was asked and what happened.
    """

    __slots__ = ("record_id", "worker", "write_from")

    def __init__(self, record_id: str, worker: asyncio.Task[Any]) -> None:
        # Tally's fields set here, not through its __init__: one call less per record.
        self.attempts = 0
        self.write_landed = False
        self.record_id = record_id
        self.worker = worker
        #: ``attempts`` when the write was about to be sent (``None``: not yet).
        self.write_from: int | None = None


class _Run:
    """One bulk call in progress: the workers and what they share."""

    def __init__(
        self, task: RecordTask, intake: Intake, gate: RunGate, events: Events, clock: Clock
    ) -> None:
        self.task = task
        self.intake = intake
        self.gate = gate
        self.events = events
        self.clock = clock
        #: Record ids whose write may have landed before an earlier run died.
        self.intents: set[str] = set()
        #: Seconds each record may take, and the retry policy of its requests.
        self.timeout: float | None = None
        self.retry: RetryPolicy | None = None
        #: The calls of the records being processed, by id (the intake lets no id in
        #: twice); each call's tally is its `_Flight`.
        self.in_flight: dict[str, Call] = {}
        #: Set when the run is cancelled: workers take no more ids.
        self.stopping = False
        #: Called just before a record's lock or unlock is sent (the journal's intent).
        self.journal_intent: Callable[[str, Operation], None] | None = None

    def finished(self, outcome: Outcome, seconds: float | None = None) -> None:
        """Tell that *outcome* is the record's final word."""
        task = self.task
        self.events.emit(RecordFinished(task.operation, task.module, outcome, seconds))

    async def work(self, items: Iterator[BulkItem] | AsyncIterator[BulkItem]) -> None:
        """Take records from *items* and process them until the input runs out."""
        worker = asyncio.current_task()
        assert worker is not None
        gate, intake, clock, events = self.gate, self.intake, self.clock, self.events
        run, operation, module = self.task.run, self.task.operation, self.task.module
        sync = isinstance(items, Iterator)  # decided once: the check is not free
        while gate.stopped is None and not self.stopping:
            if sync:
                item = intake.take(items)  # type: ignore[arg-type]
            else:
                item = await self._take_async(items)  # type: ignore[arg-type]
            if item is None:
                return
            record_id, locking_id = item
            started = clock()
            limit = None if self.timeout is None else Deadline.after(self.timeout, started)
            flight = _Flight(record_id, worker)
            call = Call(events, flight, gate, limit, self.retry, record_id in self.intents)
            self.in_flight[record_id] = call
            if self.stopping:  # taken while the run was being stopped: never sent
                return
            try:
                outcome = await run(record_id, locking_id, call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = self._failed(record_id, exc, flight.attempts)
            del self.in_flight[record_id]
            events.emit(RecordFinished(operation, module, outcome, clock() - started))

    def intent(self, record_id: str, operation: Operation) -> None:
        """Note that the record's write is about to be sent (`RecordTask`'s *before_write*)."""
        # Found by id, not by asyncio.current_task(): once per record, that is a syscall.
        call = self.in_flight.get(record_id)
        if call is not None:
            flight = call.tally
            assert isinstance(flight, _Flight)
            flight.write_from = flight.attempts
        if self.journal_intent is not None:
            self.journal_intent(record_id, operation)

    async def stop(self, pool: list[asyncio.Task[None]], grace: float) -> None:
        """Settle or mark the records in flight of a cancelled run: each told once.

        No more ids are taken; the records in flight have *grace* seconds to
        finish with their true outcome (a second cancel cuts it short); those
        still in flight then are cancelled and told as `_unsettled`.
        """
        self.stopping = True
        flights = [_flight(call) for call in self.in_flight.values()]
        busy = [flight.worker for flight in flights if not flight.worker.done()]
        if busy and grace > 0:
            # Cancelled again meanwhile: end at once, with what is known.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(busy, timeout=grace)
        for worker in pool:
            worker.cancel()
        await asyncio.gather(*pool, return_exceptions=True)
        for call in self.in_flight.values():
            self.finished(_unsettled(self.task.operation, call))
        self.in_flight.clear()

    async def _take_async(self, items: AsyncIterator[BulkItem]) -> Accepted | None:
        try:
            return await self.intake.take_async(items)
        except ZohoLockingError as exc:
            # The input itself failed (a selection's query): no more ids will come,
            # so the run stops cleanly with what it has.
            message = str(exc) if isinstance(exc, QueryError) else exc.message
            self.gate.halt(exc.code, message, getattr(exc, "http_status", None))
            return None

    def _failed(self, record_id: str, exc: Exception, attempts: int) -> Outcome:
        """The outcome of a record whose task raised *exc*; halt the run if no record escapes it."""
        if isinstance(exc, RunStopped):
            code = exc.code if attempts else "NOT_ATTEMPTED"
            return outcome(record_id, UNFINISHED, code, exc.message, attempts)
        if not isinstance(exc, ZohoLockingError):  # a bug must cost one record, never the run
            message = f"{type(exc).__name__}: {exc}"
            return outcome(record_id, FAILED, "INTERNAL_CLIENT_ERROR", message, attempts)
        failed = failure(record_id, exc, attempts)
        if not is_run_wide(exc):
            return failed
        # Every record would meet this: stop taking ids and sending.
        self.gate.halt(failed.code, failed.message, failed.http_status)
        return failure(record_id, exc, attempts, UNFINISHED)


def _flight(call: Call) -> _Flight:
    """The tally of a bulk record's *call*: always a `_Flight`."""
    flight = call.tally
    assert isinstance(flight, _Flight)
    return flight


def _unsettled(operation: Operation, call: Call) -> Outcome:
    """The outcome of a record cut short by a cancel: ``unfinished``, never ``failed``.

    A write that may have been sent is ``UNCERTAIN``: the server may apply it
    after the client gave up, so no read now could settle it; a resumed run
    reads the record first (the journal keeps the intent).
    """
    flight = _flight(call)
    record_id = flight.record_id
    if operation is Operation.GET:
        wrote = False
    elif operation is Operation.UPDATE:
        wrote = call.attempts > 0  # its look-up and its PUT are not told apart
    else:
        wrote = flight.write_from is not None and call.attempts > flight.write_from
    if wrote or call.write_may_have_landed:
        message = (
            f"the run was stopped while the record's {operation.method} was in flight: "
            "it may or may not have been applied; a resumed run reads the record"
        )
        return outcome(record_id, UNFINISHED, "UNCERTAIN", message, call.attempts)
    sent = call.attempts > 0
    message = "the run was stopped before the record was done; " + (
        "nothing was changed" if sent else "nothing was sent"
    )
    code = "CANCELLED" if sent else "NOT_ATTEMPTED"
    return outcome(record_id, UNFINISHED, code, message, call.attempts)


def _check_items(items: object) -> None:
    if isinstance(items, str | bytes):
        raise ValidationError(
            "record_ids must be an iterable of ids, not a single string", field="record_ids"
        )
    if not isinstance(items, Iterable | AsyncIterable):
        raise ValidationError(
            f"record_ids must be an iterable or async iterable, got {type(items).__name__}",
            field="record_ids",
        )


async def run_bulk(
    calls: LockingCalls,
    operation: Operation,
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
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> BulkReport:
    """Run *operation* over every item; see `LockingClient.lock_many` and friends."""
    if not isinstance(operation, Operation):
        raise ValidationError(f"unknown operation {operation!r}", field="operation")
    timeout = check_timeout(timeout)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ValidationError("retry must be a RetryPolicy or None", field="retry")
    module = protocol.validate_module(module)
    if operation.needs_reason:
        reason = protocol.validate_reason(reason)
    _check_items(items)
    exchange = calls.exchange
    events = exchange.events.child()
    gate = RunGate(operation, module, events, max_requests)
    if report is None:
        report = BulkReport(operation, module, keep_successes=keep_successes)
    ledger = Ledger(report, events)
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    log = Journal(journal, operation=operation, module=module) if journal is not None else None
    state = log.open(resume=resume) if log is not None else JournalState()
    if log is not None:
        _journal_outcomes(events, log)
    if progress is not None:
        _report_progress(events, progress, total, report)
    task = RecordTask(calls, operation, module, reason=reason, any_lock=any_lock)
    intake = Intake(operation, module, events, state.finished)
    flow = exchange.flow
    run = _Run(task, intake, gate, events, flow.now)
    task.before_write = run.intent if operation.journals_intent else None
    run.journal_intent = log.intent if log is not None else None
    run.intents, run.timeout, run.retry = state.intents, timeout, retry
    if isinstance(items, Selection):
        _start_selection(items, run, events, log, state, resume)
    source = aiter(items) if isinstance(items, AsyncIterable) else iter(items)
    run_id = next(_RUN_IDS)
    # Told before the workers start: a listener may make something current for them
    # (OpenTelemetry's span of the run, the parent of every request's span).
    events.emit(RunStarted(operation, module, run_id))
    started = flow.now()
    pool = [asyncio.create_task(run.work(source)) for _ in range(workers or flow.max_concurrency)]
    cancelled = False
    try:
        # Not gather: cancelling a gather cancels the workers too, and the records in
        # flight are to be given their grace first.
        await asyncio.wait(pool, return_when=asyncio.FIRST_EXCEPTION)
        for worker in pool:
            if worker.done():
                worker.result()  # the input's own failure, if it raised
    except BaseException:
        # Cancelled (or the input itself raised): stop taking ids, let the records in
        # flight finish within the grace, and report the rest as not known.
        cancelled = True
        await run.stop(pool, STOP_GRACE)
        raise
    finally:
        queries = 0
        if isinstance(items, Selection):
            await items.aclose()
            queries = items.requests
        unread = None if total is None else total - intake.read
        ledger.close(
            wall_time=flow.now() - started, unread=unread, cancelled=cancelled,
            query_requests=queries,
        )  # fmt: skip
        if log is not None:
            log.close()
        events.emit(_ended(report, run_id))
    return report


def _ended(report: BulkReport, run_id: int) -> RunEnded:
    return RunEnded(
        report.operation, report.module, run_id, total=report.total,
        succeeded=report.succeeded, failed=report.failed, skipped=report.skipped,
        unfinished=report.unfinished, requests=report.requests, seconds=report.wall_time,
        stop=report.stopped, cancelled=report.cancelled,
    )  # fmt: skip


def _journal_outcomes(events: Events, log: Journal) -> None:
    """Keep each outcome this run reaches in *log* (resumed ones are there already)."""

    def keep(done: RecordFinished) -> None:
        if not done.resumed:
            log.record(done.outcome)

    events.on(RecordFinished, keep)


def _report_progress(
    events: Events, progress: Progress, total: int | None, report: BulkReport
) -> None:
    """Call *progress* after each record the run finishes (resumed ones included)."""
    done = 0

    def tell(_: RecordFinished) -> None:
        nonlocal done
        done += 1
        progress(done, total, report)

    events.on(RecordFinished, tell)


def _start_selection(
    selection: Selection,
    run: _Run,
    events: Events,
    log: Journal | None,
    state: JournalState,
    resume: bool,
) -> None:
    """Make *selection* part of the run: its gate and events, its journal, its resume point."""
    where = selection.where
    on_page = None if log is None else (lambda page: log.selected(where, page))
    selection.join_run(run.gate, events, on_page)
    pages = state.pages.get(where)
    if log is not None and resume and pages:
        after = selection.resume_after(pages, state.finished)
        if after is not None:
            # Pages not asked again: their records' outcomes come from the journal.
            run.intake.resume_up_to(int(after))
