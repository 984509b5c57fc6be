"""The bulk half of `LockingClient`: select ids, and run an operation over many records.

`BulkMethods` holds `lock_many`, `unlock_many`, `update_many`, `get_many`,
`run_many` and `select_ids`; `LockingClient` inherits them and supplies the
calls they run (`_calls`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable
from typing import TypedDict, Unpack

from ..calls import LockingCalls
from ..http.retry import RetryPolicy
from ..models import Operation
from .engine import BulkItem, Progress, run_bulk
from .report import BulkReport
from .selection import Selection

__all__ = ["BulkMethods", "BulkOptions"]


class BulkOptions(TypedDict, total=False):
    """Keyword options shared by the bulk calls."""

    keep_successes: bool
    journal: str | os.PathLike[str] | None
    resume: bool
    progress: Progress | None
    report: BulkReport | None
    max_requests: int | None
    any_lock: bool
    timeout: float | None
    retry: RetryPolicy | None


class BulkMethods:
    """Bulk calls over the single-record calls of `_calls`."""

    _calls: LockingCalls

    def select_ids(self, module: str, where: str, *, page_size: int = 2000) -> Selection:
        """The ids of *module*'s records matching the COQL condition *where*, streamed.

        A `Selection`: any bulk call takes it as its ids, e.g.
        ``await client.lock_many("Deals", client.select_ids("Deals", where), reason=r)``.
        Paged by id, *page_size* (at most 2,000) at a time, the next page fetched
        while this one is worked. A query Zoho refuses raises `QueryError`.
        """
        return Selection(self._calls.exchange, module, where, page_size=page_size)

    async def lock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Lock every record; already locked records are ``skipped``.

        *record_ids* may be any iterable or async iterable; it is read lazily.
        Every id ends up in the report exactly once. Options: *keep_successes*
        (False keeps only failures and skips, for runs of millions), *journal*
        and *resume* (a file to resume an interrupted run from), *progress*
        (called with done, total, report after each record), *report* (a
        `BulkReport` to fill, still yours if the call is cancelled),
        *max_requests* (a hard cap on the requests this call sends, retries
        included), *timeout* (seconds for each record, from when a worker takes
        it: look-up, write, retries and settling; past it the record is
        ``TIMEOUT``, or ``UNCERTAIN`` for a write that may have landed) and
        *retry* (a `RetryPolicy` for this run's record requests, instead of the
        client's).

        A failure that no record can escape (a bad token or module, the org's
        API credits spent, ...) stops the run: nothing more is sent, and the
        report's ``stopped`` says why; records taken but not finished are
        ``unfinished``, and a journaled run resumes them.
        """
        return await run_bulk(
            self._calls, Operation.LOCK, module, record_ids, reason=reason, **options
        )

    async def unlock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Unlock every record (looking up each lock, unless given ``(record_id, locking_id)``).

        Records that are not locked are ``skipped``. Pairs from a previous run
        (``report.locks()``) cost one request per record; a record locked anew
        since is left alone (``LOCK_CHANGED``) unless *any_lock* is set. Options
        as for `lock_many`.
        """
        return await run_bulk(self._calls, Operation.UNLOCK, module, record_ids, **options)

    async def update_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Set a new reason on every record's manual lock. Options as for `lock_many`."""
        return await run_bulk(
            self._calls, Operation.UPDATE, module, record_ids, reason=reason, **options
        )

    async def run_many(
        self,
        operation: Operation,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str | None = None,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Apply *operation* to every record: `lock_many` and friends, chosen by value.

        *reason* is required for `Operation.LOCK` and `Operation.UPDATE`, ignored otherwise.
        """
        return await run_bulk(
            self._calls, operation, module, record_ids, reason=reason, **options
        )

    async def get_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Read every record's locking state: code ``LOCKED`` or ``NOT_LOCKED``."""
        return await run_bulk(self._calls, Operation.GET, module, record_ids, **options)
