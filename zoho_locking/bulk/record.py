"""One record of a bulk run: the operation applied to it, and its final `Outcome`.

`RecordTask` turns one record into exactly one outcome, with the skip codes
(``ALREADY_LOCKED``, ``NOT_LOCKED``) and the handling of stale locking ids; the
calls themselves are `zoho_locking.calls.LockingCalls`, shared with the
client's single-record methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..calls import LockingCalls
from ..errors import ApiError
from ..http.exchange import Call
from ..models import (
    FAILED,
    SKIPPED,
    SUCCEEDED,
    LockInfo,
    LockSource,
    Operation,
    Outcome,
)
from .report import outcome, success

__all__ = ["RecordTask"]


def _source(lock: LockInfo) -> str:
    return lock.lock_source.value if lock.lock_source else "unknown"


class RecordTask:
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
        calls: LockingCalls,
        operation: Operation,
        module: str,
        *,
        reason: str | None = None,
        before_write: Callable[[str, Operation], None] | None = None,
        any_lock: bool = False,
    ) -> None:
        self.calls = calls
        self.operation = operation
        self.module = module
        self.reason = reason
        self.before_write = before_write if operation.journals_intent else None
        self.any_lock = any_lock
        handlers: dict[Operation, Callable[[str, str | None, Call], Awaitable[Outcome]]] = {
            Operation.LOCK: self._lock,
            Operation.UNLOCK: self._unlock,
            Operation.UPDATE: self._update,
            Operation.GET: self._get,
        }
        #: ``await run(record_id, locking_id, call)``: the record's outcome.
        self.run = handlers[operation]

    def _not_locked(self, record_id: str, http_status: int | None, call: Call) -> Outcome:
        return outcome(
            record_id, self.operation.not_locked_status, "NOT_LOCKED", "record is not locked",
            call.attempts, http_status=http_status,
        )  # fmt: skip

    async def _lock(self, record_id: str, _: str | None, call: Call) -> Outcome:
        assert self.reason is not None
        if self.before_write is not None:
            self.before_write(record_id, self.operation)
        try:
            result = await self.calls.lock(self.module, record_id, self.reason, call)
        except ApiError as exc:
            if exc.code != "NOT_ALLOWED" or exc.http_status != 403:
                raise
            # 403 NOT_ALLOWED is "already locked" or "only automatic locking is
            # configured"; the record's state tells which, not the message.
            locks = await self.calls.get_locks(self.module, record_id, call)
            if not locks:
                raise
            return outcome(
                record_id, SKIPPED, "ALREADY_LOCKED",
                f"record is already locked ({_source(locks[0])} lock)", call.attempts,
                http_status=exc.http_status, locking_id=locks[0].id,
            )  # fmt: skip
        return success(record_id, result, call.attempts)

    async def _find_manual(
        self, record_id: str, locking_id: str | None, call: Call
    ) -> str | Outcome:
        """The locking id to act on, or the outcome that makes acting moot."""
        if locking_id is not None:
            return locking_id
        locks = await self.calls.get_locks(self.module, record_id, call)
        if not locks:
            if call.write_may_have_landed and self.operation is Operation.UNLOCK:
                # Resumed: our DELETE was sent before the crash, and the lock is gone.
                return outcome(
                    record_id, SUCCEEDED, "SUCCESS", "relation removed (confirmed after resume)",
                    call.attempts,
                )  # fmt: skip
            return self._not_locked(record_id, 204, call)
        manual = [lock for lock in locks if lock.lock_source is not LockSource.AUTOMATIC]
        if not manual:
            return outcome(
                record_id, FAILED, "NOT_ALLOWED",
                "record is locked automatically by a locking rule; "
                "automatic locks cannot be changed by hand", call.attempts,
                http_status=403, locking_id=locks[0].id,
            )  # fmt: skip
        return manual[0].id

    async def _unlock(self, record_id: str, locking_id: str | None, call: Call) -> Outcome:
        found = await self._find_manual(record_id, locking_id, call)
        if isinstance(found, Outcome):
            return found
        if self.before_write is not None:
            self.before_write(record_id, self.operation)
        try:
            result = await self.calls.unlock(self.module, record_id, found, call)
        except ApiError as exc:
            if exc.code != "INVALID_DATA" or locking_id is None:
                raise
            # The given locking id is gone: is the record unlocked, or locked anew?
            current = await self._current(record_id, locking_id, exc, call)
            if isinstance(current, Outcome):
                return current
            result = await self.calls.unlock(self.module, record_id, current, call)
        return success(record_id, result, call.attempts)

    async def _update(self, record_id: str, locking_id: str | None, call: Call) -> Outcome:
        assert self.reason is not None
        found = await self._find_manual(record_id, locking_id, call)
        if isinstance(found, Outcome):
            return found
        try:
            result = await self.calls.update(self.module, record_id, found, self.reason, call)
        except ApiError as exc:
            if exc.code != "INVALID_DATA" or locking_id is None:
                raise
            current = await self._current(record_id, locking_id, exc, call)
            if isinstance(current, Outcome):
                return current
            result = await self.calls.update(self.module, record_id, current, self.reason, call)
        return success(record_id, result, call.attempts)

    async def _current(
        self, record_id: str, stale: str, refusal: ApiError, call: Call
    ) -> str | Outcome:
        """After *stale* was refused: the lock to act on (*any_lock*), or the final word."""
        locks = await self.calls.get_locks(self.module, record_id, call)
        if not locks:
            return self._not_locked(record_id, refusal.http_status, call)
        if any(lock.id == stale for lock in locks):
            raise refusal  # the lock is there after all: the refusal is about something else
        manual = [lock for lock in locks if lock.lock_source is not LockSource.AUTOMATIC]
        if self.any_lock and manual:
            return manual[0].id
        return outcome(
            record_id, FAILED, "LOCK_CHANGED",
            f"the record is now locked by another lock ({_source(locks[0])}, locking "
            f"id {locks[0].id}), not {stale}; left alone (any_lock acts on whatever lock "
            "is there)", call.attempts,
            http_status=refusal.http_status, locking_id=locks[0].id,
        )  # fmt: skip

    async def _get(self, record_id: str, _: str | None, call: Call) -> Outcome:
        locks = await self.calls.get_locks(self.module, record_id, call)
        if not locks:
            return self._not_locked(record_id, 204, call)
        lock = locks[0]
        reason = f": {lock.locked_reason}" if lock.locked_reason else ""
        return outcome(
            record_id, SUCCEEDED, "LOCKED", f"{_source(lock)} lock{reason}", call.attempts,
            http_status=200, locking_id=lock.id,
        )  # fmt: skip
