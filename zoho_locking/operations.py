"""Operations: what lock, unlock, update and get mean for one record.

`Operations` holds the five calls on validated input, each one request
through the `Exchange`, plus the settling of doubtful writes: when an earlier
attempt of a write may have landed, a refusal or a final fault is checked
against the record's real state before anything is reported. `RecordJob`
turns one record of a bulk run into its final `Outcome`, with the skip codes
(``ALREADY_LOCKED``, ``NOT_LOCKED``); the single-record methods of the client
and the bulk engine share this one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import protocol
from .errors import ApiError, TransportError, UncertainOutcome, ZohoLockingError
from .exchange import Exchange, Tally
from .limits import is_run_wide
from .models import ActionResult, LockInfo, LockSource
from .report import FAILED, SKIPPED, SUCCEEDED, Outcome

__all__ = ["OPERATIONS", "Operations", "RecordJob"]

#: The operations a bulk run can apply.
OPERATIONS = ("lock", "unlock", "update", "get")
# Rounds of reads (each with its own retries) spent settling a doubtful write.
_SETTLE_ROUNDS = 3


class Operations:
    """The five calls on one record, on input already validated."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    async def get_locks(
        self,
        module: str,
        record_id: str,
        tally: Tally,
        fields: Iterable[str] = protocol.DEFAULT_FIELDS,
    ) -> list[LockInfo]:
        """The record's locks; ``[]`` when it is not locked."""
        root = self.exchange.root or await self.exchange.api_root()
        request = protocol.build_get_locks(root, module, record_id, fields)
        return await self.exchange.call(request, protocol.parse_locks, tally)

    async def get_lock(
        self, module: str, record_id: str, locking_id: str, tally: Tally
    ) -> LockInfo:
        """One lock of the record, by its locking id."""
        root = self.exchange.root or await self.exchange.api_root()
        request = protocol.build_get_lock(root, module, record_id, locking_id)
        return await self.exchange.call(request, protocol.parse_lock, tally)

    async def lock(self, module: str, record_id: str, reason: str, tally: Tally) -> ActionResult:
        """Lock the record; a doubtful refusal is settled by reading the record."""
        root = self.exchange.root or await self.exchange.api_root()
        request = protocol.build_lock(root, module, record_id, reason)
        try:
            return await self.exchange.call(request, protocol.parse_action, tally)
        except (ApiError, TransportError) as exc:
            if not tally.maybe_applied:
                raise
            # An earlier attempt may have landed, so "already locked" or a final
            # fault may hide our own success: read the record and tell the truth.
            for lock in await self._settle(exc, module, record_id, tally):
                if lock.lock_source is LockSource.MANUAL and lock.locked_reason == reason:
                    return ActionResult(
                        id=lock.id,
                        message="record added (confirmed by reading the record after a retry)",
                        http_status=201,
                    )
            raise

    async def update(
        self, module: str, record_id: str, locking_id: str, reason: str, tally: Tally
    ) -> ActionResult:
        """Set a new reason on the lock."""
        # PUT is idempotent: a retry after a lost answer sets the same reason again.
        root = self.exchange.root or await self.exchange.api_root()
        request = protocol.build_update(root, module, record_id, locking_id, reason)
        return await self.exchange.call(request, protocol.parse_action, tally)

    async def unlock(
        self, module: str, record_id: str, locking_id: str, tally: Tally
    ) -> ActionResult:
        """Remove the lock; a doubtful refusal is settled by reading the record."""
        root = self.exchange.root or await self.exchange.api_root()
        request = protocol.build_unlock(root, module, record_id, locking_id)
        try:
            return await self.exchange.call(request, protocol.parse_action, tally)
        except (ApiError, TransportError) as exc:
            if not tally.maybe_applied:
                raise
            # As for lock: "no such lock" or a final fault may hide our own success.
            locks = await self._settle(exc, module, record_id, tally)
            if any(lock.id == locking_id for lock in locks):
                raise
            return ActionResult(
                id=locking_id,
                message="relation removed (confirmed by reading the record after a retry)",
            )

    async def _settle(
        self, error: ZohoLockingError, module: str, record_id: str, tally: Tally
    ) -> list[LockInfo]:
        """Read the record's locks after a doubtful write.

        The read gets a few rounds of retries of its own; if it still fails,
        the write's fate is unknown and `UncertainOutcome` says so.
        """
        for _ in range(_SETTLE_ROUNDS - 1):
            try:
                return await self.get_locks(module, record_id, tally)
            except (ApiError, TransportError) as exc:
                if is_run_wide(exc):
                    raise  # no read will get through: say why, not "uncertain"
                continue
        try:
            return await self.get_locks(module, record_id, tally)
        except (ApiError, TransportError) as exc:
            if is_run_wide(exc):
                raise
            raise UncertainOutcome(
                f"the write may or may not have been applied ({error}); "
                f"reading the record to find out failed too ({exc})"
            ) from None


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
