"""The bulk engine: many records, a fixed pool of workers, one report.

Input is consumed lazily, from any iterable or async iterable, by a fixed
pool of worker tasks that each take the next id straight from the input,
validate and de-duplicate it, and process it. Memory therefore stays flat however long the
input is: a compact `IdSet` remembers what was seen, and the report can keep
failures and skips only. Each worker turns one record into exactly one
`Outcome`, whatever happens, so no id is ever lost or reported twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, TypeAlias

from . import protocol
from ._idset import IdSet
from .errors import ApiError, ValidationError, ZohoLockingError
from .journal import Journal, JournalState
from .models import LockInfo, LockSource
from .report import FAILED, SKIPPED, SUCCEEDED, BulkReport, Outcome

if TYPE_CHECKING:
    from .client import LockingClient, Tally

__all__ = ["BulkItem", "Progress", "run_bulk"]

#: A record id, or a ``(record_id, locking_id)`` pair for unlock and update.
BulkItem: TypeAlias = str | int | tuple[str | int, str | int]
#: Called after each record with (records done, total if known, the live report).
Progress: TypeAlias = Callable[[int, int | None, BulkReport], None]

_OPERATIONS = ("lock", "unlock", "update", "get")


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
    """One bulk call in progress."""

    def __init__(
        self,
        client: LockingClient,
        operation: str,
        module: str,
        reason: str | None,
        report: BulkReport,
        journal: Journal | None,
        state: JournalState,
        progress: Progress | None,
        total: int | None,
    ) -> None:
        self.client = client
        self.operation = operation
        self.module = module
        self.reason = reason
        self.report = report
        self.journal = journal
        self.state = state
        self.progress = progress
        self.total = total
        self.done = 0
        self.latency = _Histogram()
        self.seen = IdSet()
        self.seen_other: set[bytes] = set()  # ids too odd for IdSet; they fail validation
        self.in_flight: dict[asyncio.Task[Any], str] = {}
        self.reading = asyncio.Lock()
        self.exhausted = False
        handlers = {
            "lock": self._lock,
            "unlock": self._unlock,
            "update": self._update,
            "get": self._get,
        }
        self.handle: Callable[[str, str | None, Tally], Awaitable[Outcome]] = handlers[operation]

    # -- bookkeeping -------------------------------------------------------

    def finish(self, outcome: Outcome) -> None:
        self.report.add(outcome)
        if self.journal is not None:
            self.journal.record(outcome)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, self.report)

    def _first_time(self, record_id: str) -> bool:
        """Whether *record_id* is new to this run (ids are validated before this)."""
        return self.seen.add(int(record_id))

    # -- feeding -----------------------------------------------------------

    def _accept(self, raw: object) -> tuple[str, str | None] | None:
        """Validate one input item; report it at once if it is bad or seen before."""
        locking_id: str | None = None
        raw_lock: object = None
        paired = isinstance(raw, tuple)
        if isinstance(raw, tuple):
            if len(raw) != 2 or self.operation not in ("unlock", "update"):
                self._reject(
                    raw, "items may be (record_id, locking_id) pairs for unlock and update only"
                )
                return None
            raw, raw_lock = raw
        try:
            record_id = protocol.validate_id(raw)
        except ValidationError as exc:
            self._reject(raw, exc.message)
            return None
        if not self._first_time(record_id):
            self.report.duplicates += 1
            return None
        if paired:
            try:
                locking_id = protocol.validate_id(raw_lock, "locking_id")
            except ValidationError as exc:
                # The record id is good and now seen: reported once, under its own id.
                self.finish(Outcome(record_id, FAILED, "VALIDATION_ERROR", exc.message))
                return None
        earlier = self.state.finished.get(record_id)
        if earlier is not None:
            self.report.resumed += 1
            self.report.add(earlier)
            self.done += 1
            return None
        return record_id, locking_id

    def _reject(self, raw: object, message: str) -> None:
        text = raw if isinstance(raw, str) else repr(raw)
        # Duplicates by the whole item (a digest keeps memory small), not by its display:
        # two bad lines that share their first 64 characters are two bad lines.
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in self.seen_other:
            self.report.duplicates += 1
            return
        self.seen_other.add(key)
        shown = text if len(text) <= 64 else text[:64] + "..."
        self.finish(Outcome(shown, FAILED, "VALIDATION_ERROR", message))

    def take(self, items: Iterator[BulkItem]) -> tuple[str, str | None] | None:
        """The next accepted item of a plain iterator, or None when it is exhausted.

        Workers call this directly, with no queue between them and the input: a
        synchronous ``next`` cannot interleave with another task's, and it saves
        two task switches per record.
        """
        for raw in items:
            accepted = self._accept(raw)
            if accepted is not None:
                return accepted
        return None

    async def take_async(self, items: AsyncIterator[BulkItem]) -> tuple[str, str | None] | None:
        """The next accepted item of an async iterator; one reader at a time."""
        async with self.reading:
            while not self.exhausted:
                try:
                    raw = await anext(items)
                except StopAsyncIteration:
                    self.exhausted = True
                    break
                accepted = self._accept(raw)
                if accepted is not None:
                    return accepted
        return None

    async def work(self, items: Iterator[BulkItem] | AsyncIterator[BulkItem]) -> None:
        from .client import Tally

        clock = self.client.flow.now
        task = asyncio.current_task()
        assert task is not None
        sync = isinstance(items, Iterator)
        while True:
            if sync:
                item = self.take(items)  # type: ignore[arg-type]
            else:
                item = await self.take_async(items)  # type: ignore[arg-type]
            if item is None:
                return
            record_id, locking_id = item
            self.in_flight[task] = record_id
            tally = Tally(maybe_applied=record_id in self.state.intents)
            started = clock()
            try:
                outcome = await self.handle(record_id, locking_id, tally)
            except ZohoLockingError as exc:
                outcome = _failure(record_id, exc, tally)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one record, never the run
                outcome = Outcome(
                    record_id, FAILED, "INTERNAL_CLIENT_ERROR",
                    f"{type(exc).__name__}: {exc}", attempts=tally.attempts,
                )
            del self.in_flight[task]
            self.latency.add(clock() - started)
            self.report.requests += tally.attempts
            self.report.retries += tally.retries
            self.report.throttled += tally.throttled
            self.finish(outcome)

    # -- the four operations ----------------------------------------------

    async def _locks(self, record_id: str, tally: Tally) -> list[LockInfo]:
        return await self.client._get_locks(self.module, record_id, tally)

    async def _lock(self, record_id: str, _: str | None, tally: Tally) -> Outcome:
        assert self.reason is not None
        if self.journal is not None:
            self.journal.intent(record_id, "lock")
        try:
            result = await self.client._lock(self.module, record_id, self.reason, tally)
        except ApiError as exc:
            if exc.code != "NOT_ALLOWED" or exc.http_status != 403:
                raise
            # 403 NOT_ALLOWED is "already locked" or "only automatic locking is
            # configured"; the record's state tells which, not the message.
            locks = await self._locks(record_id, tally)
            if not locks:
                raise
            lock = locks[0]
            source = lock.lock_source.value if lock.lock_source else "unknown"
            return Outcome(
                record_id, SKIPPED, "ALREADY_LOCKED",
                f"record is already locked ({source} lock)",
                exc.http_status, lock.id, tally.attempts,
            )
        return Outcome(
            record_id, SUCCEEDED, result.code, result.message,
            result.http_status, result.id, tally.attempts,
        )

    async def _find_manual(
        self, record_id: str, locking_id: str | None, tally: Tally
    ) -> str | Outcome:
        """The locking id to act on, or the outcome that makes acting moot."""
        if locking_id is not None:
            return locking_id
        locks = await self._locks(record_id, tally)
        if not locks:
            if tally.maybe_applied and self.operation == "unlock":
                # Resumed: our DELETE was sent before the crash, and the lock is gone.
                return Outcome(
                    record_id, SUCCEEDED, "SUCCESS",
                    "relation removed (confirmed after resume)", None, None, tally.attempts,
                )
            status = SKIPPED if self.operation == "unlock" else FAILED
            return Outcome(
                record_id, status, "NOT_LOCKED", "record is not locked",
                204, None, tally.attempts,
            )
        manual = [lock for lock in locks if lock.lock_source is not LockSource.AUTOMATIC]
        if not manual:
            return Outcome(
                record_id, FAILED, "NOT_ALLOWED",
                "record is locked automatically by a locking rule; "
                "automatic locks cannot be changed by hand",
                403, locks[0].id, tally.attempts,
            )
        return manual[0].id

    async def _unlock(self, record_id: str, locking_id: str | None, tally: Tally) -> Outcome:
        found = await self._find_manual(record_id, locking_id, tally)
        if isinstance(found, Outcome):
            return found
        if self.journal is not None:
            self.journal.intent(record_id, "unlock")
        try:
            result = await self.client._unlock(self.module, record_id, found, tally)
        except ApiError as exc:
            if exc.code != "INVALID_DATA" or locking_id is None:
                raise
            # A given locking id that does not exist: is the record unlocked already?
            if await self._locks(record_id, tally):
                raise
            return Outcome(
                record_id, SKIPPED, "NOT_LOCKED", "record is not locked",
                exc.http_status, None, tally.attempts,
            )
        return Outcome(
            record_id, SUCCEEDED, result.code, result.message,
            result.http_status, result.id, tally.attempts,
        )

    async def _update(self, record_id: str, locking_id: str | None, tally: Tally) -> Outcome:
        assert self.reason is not None
        found = await self._find_manual(record_id, locking_id, tally)
        if isinstance(found, Outcome):
            return found
        result = await self.client._update(self.module, record_id, found, self.reason, tally)
        return Outcome(
            record_id, SUCCEEDED, result.code, result.message,
            result.http_status, result.id, tally.attempts,
        )

    async def _get(self, record_id: str, _: str | None, tally: Tally) -> Outcome:
        locks = await self._locks(record_id, tally)
        if not locks:
            return Outcome(
                record_id, SUCCEEDED, "NOT_LOCKED", "record is not locked",
                204, None, tally.attempts,
            )
        lock = locks[0]
        source = lock.lock_source.value if lock.lock_source else "unknown"
        reason = f": {lock.locked_reason}" if lock.locked_reason else ""
        return Outcome(
            record_id, SUCCEEDED, "LOCKED", f"{source} lock{reason}",
            200, lock.id, tally.attempts,
        )


def _failure(record_id: str, exc: ZohoLockingError, tally: Tally) -> Outcome:
    if isinstance(exc, ApiError):
        return Outcome(
            record_id, FAILED, exc.code, exc.message, exc.http_status, None, tally.attempts
        )
    message = getattr(exc, "message", None) or str(exc)
    return Outcome(record_id, FAILED, exc.code, message, None, None, tally.attempts)


async def run_bulk(
    client: LockingClient,
    operation: str,
    module: str,
    items: Iterable[BulkItem] | AsyncIterable[BulkItem],
    *,
    reason: str | None = None,
    keep_successes: bool = True,
    journal: Journal | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    report: BulkReport | None = None,
    workers: int | None = None,
) -> BulkReport:
    """Run *operation* over every item; see `LockingClient.lock_many` and friends."""
    if operation not in _OPERATIONS:
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
    if report is None:
        report = BulkReport(operation, module, keep_successes=keep_successes)
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    state = journal.open(resume=resume) if journal is not None else JournalState()
    run = _Run(client, operation, module, reason, report, journal, state, progress, total)
    count = workers or client.flow.max_concurrency
    source = aiter(items) if isinstance(items, AsyncIterable) else iter(items)
    clock = client.flow.now
    started = clock()
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
        report.wall_time = clock() - started
        report.latency_ms = run.latency.percentiles()
        if journal is not None:
            journal.close()
    return report
