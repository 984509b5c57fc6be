"""One record of a bulk run: the operation applied to it, and its final `Outcome`.

`RecordJob` turns one record into exactly one outcome, with the skip codes
(``ALREADY_LOCKED``, ``NOT_LOCKED``) and the handling of stale locking ids; the
calls themselves are `zoho_locking.calls.Operations`, shared with the client's
single-record methods.
"""

from __future__ import annotations

from collections.abc import Callable

from ..calls import Operations
from ..errors import ApiError
from ..http.exchange import Tally
from ..models import ActionResult, LockInfo, LockSource
from .report import FAILED, SKIPPED, SUCCEEDED, Outcome

__all__ = ["RecordJob"]


def _done(record_id: str, result: ActionResult, tally: Tally) -> Outcome:
    return Outcome(
        record_id, SUCCEEDED, result.code, result.message,
        result.http_status, result.id, tally.attempts,
    )  # fmt: skip


def _source(lock: LockInfo) -> str:
    return lock.lock_source.value if lock.lock_source else "unknown"


class RecordJob:
    """One operation of a bulk run, applied to one record at a time.

    `run` returns the record's outcome when it succeeded or was skipped, and
    raises the `ZohoLockingError` that failed it otherwise (the engine decides
    what a failure means for the run). *before_write* is called just before a
    lock or unlock is sent, so a journal can note the intent.

    Given a locking id that is no longer the record's lock (a stale report),
    unlock and update read the record once: no lock any more is ``NOT_LOCKED``;
    another lock (someone unlocked and locked it again) is left alone and
    reported ``LOCK_CHANGED`` with its locking id, unless *any_lock* asks to act
    on whatever manual lock is there. Someone else's lock is never removed by default.
    """

    def __init__(
        self,
        ops: Operations,
        operation: str,
        module: str,
        reason: str | None = None,
        before_write: Callable[[str, str], None] | None = None,
        any_lock: bool = False,
    ) -> None:
        self.ops = ops
        self.any_lock = any_lock
        self.operation = operation
        self.module = module
        self.reason = reason
        self.before_write = before_write
        handlers = {"lock": self._lock, "unlock": self._unlock, "update": self._update}
        self.run = handlers.get(operation, self._get)

    async def _lock(self, record_id: str, _: str | None, tally: Tally) -> Outcome:
        assert self.reason is not None
        if self.before_write is not None:
            self.before_write(record_id, "lock")
        try:
            result = await self.ops.lock(self.module, record_id, self.reason, tally)
        except ApiError as exc:
            if exc.code != "NOT_ALLOWED" or exc.http_status != 403:
                raise
            # 403 NOT_ALLOWED is "already locked" or "only automatic locking is
            # configured"; the record's state tells which, not the message.
            locks = await self.ops.get_locks(self.module, record_id, tally)
            if not locks:
                raise
            return Outcome(
                record_id, SKIPPED, "ALREADY_LOCKED",
                f"record is already locked ({_source(locks[0])} lock)",
                exc.http_status, locks[0].id, tally.attempts,
            )  # fmt: skip
        return _done(record_id, result, tally)

    async def _find_manual(
        self, record_id: str, locking_id: str | None, tally: Tally
    ) -> str | Outcome:
        """The locking id to act on, or the outcome that makes acting moot."""
        if locking_id is not None:
            return locking_id
        locks = await self.ops.get_locks(self.module, record_id, tally)
        if not locks:
            if tally.maybe_applied and self.operation == "unlock":
                # Resumed: our DELETE was sent before the crash, and the lock is gone.
                return Outcome(
                    record_id, SUCCEEDED, "SUCCESS",
                    "relation removed (confirmed after resume)", None, None, tally.attempts,
                )  # fmt: skip
            status = SKIPPED if self.operation == "unlock" else FAILED
            return Outcome(
                record_id, status, "NOT_LOCKED", "record is not locked",
                204, None, tally.attempts,
            )  # fmt: skip
        manual = [lock for lock in locks if lock.lock_source is not LockSource.AUTOMATIC]
        if not manual:
            return Outcome(
                record_id, FAILED, "NOT_ALLOWED",
                "record is locked automatically by a locking rule; "
                "automatic locks cannot be changed by hand",
                403, locks[0].id, tally.attempts,
            )  # fmt: skip
        return manual[0].id

    async def _unlock(self, record_id: str, locking_id: str | None, tally: Tally) -> Outcome:
        found = await self._find_manual(record_id, locking_id, tally)
        if isinstance(found, Outcome):
            return found
        if self.before_write is not None:
            self.before_write(record_id, "unlock")
        try:
            result = await self.ops.unlock(self.module, record_id, found, tally)
        except ApiError as exc:
            if exc.code != "INVALID_DATA" or locking_id is None:
                raise
            # The given locking id is gone: is the record unlocked, or locked anew?
            current = await self._current(record_id, locking_id, exc, tally)
            if isinstance(current, Outcome):
                return current
            result = await self.ops.unlock(self.module, record_id, current, tally)
        return _done(record_id, result, tally)

    async def _update(self, record_id: str, locking_id: str | None, tally: Tally) -> Outcome:
        assert self.reason is not None
        found = await self._find_manual(record_id, locking_id, tally)
        if isinstance(found, Outcome):
            return found
        try:
            result = await self.ops.update(self.module, record_id, found, self.reason, tally)
        except ApiError as exc:
            if exc.code != "INVALID_DATA" or locking_id is None:
                raise
            current = await self._current(record_id, locking_id, exc, tally)
            if isinstance(current, Outcome):
                return current
            result = await self.ops.update(self.module, record_id, current, self.reason, tally)
        return _done(record_id, result, tally)

    async def _current(
        self, record_id: str, stale: str, refusal: ApiError, tally: Tally
    ) -> str | Outcome:
        """After *stale* was refused: the lock to act on (*any_lock*), or the final word."""
        locks = await self.ops.get_locks(self.module, record_id, tally)
        if not locks:
            status = SKIPPED if self.operation == "unlock" else FAILED
            return Outcome(
                record_id, status, "NOT_LOCKED", "record is not locked",
                refusal.http_status, None, tally.attempts,
            )  # fmt: skip
        if any(lock.id == stale for lock in locks):
            raise refusal  # the lock is there after all: the refusal is about something else
        manual = [lock for lock in locks if lock.lock_source is not LockSource.AUTOMATIC]
        if self.any_lock and manual:
            return manual[0].id
        return Outcome(
            record_id, FAILED, "LOCK_CHANGED",
            f"the record is now locked by another lock ({_source(locks[0])}, locking id "
            f"{locks[0].id}), not {stale}; left alone (any_lock acts on whatever lock is there)",
            refusal.http_status, locks[0].id, tally.attempts,
        )  # fmt: skip

    async def _get(self, record_id: str, _: str | None, tally: Tally) -> Outcome:
        locks = await self.ops.get_locks(self.module, record_id, tally)
        if not locks:
            return Outcome(
                record_id, SUCCEEDED, "NOT_LOCKED", "record is not locked",
                204, None, tally.attempts,
            )  # fmt: skip
        lock = locks[0]
        reason = f": {lock.locked_reason}" if lock.locked_reason else ""
        return Outcome(
            record_id, SUCCEEDED, "LOCKED", f"{_source(lock)} lock{reason}",
            200, lock.id, tally.attempts,
        )  # fmt: skip
