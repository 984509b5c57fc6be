"""The five calls on one record, and the truth about a write whose answer was lost.

`LockingCalls` holds get_locks, get_lock, lock, update and unlock on input
already validated, each one request through the `Exchange`, plus the settling
of doubtful writes: when an earlier attempt of a write may have landed, a
refusal or a final fault is checked against the record's real state before
anything is reported. `LockingClient`'s single-record methods and the bulk engine's
`zoho_locking.bulk.record.RecordTask` share this one implementation.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ApiError, TransportError, UncertainOutcome, ZohoLockingError
from .http.exchange import Call, Exchange
from .models import ActionResult, LockInfo, LockSource
from .wire import protocol
from .wire.limits import is_run_wide

__all__ = ["LockingCalls"]

# Rounds of reads (each with its own retries) spent settling a doubtful write.
_SETTLE_ROUNDS = 3


class LockingCalls:
    """The five calls on one record, on input already validated."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    async def get_locks(
        self,
        module: str,
        record_id: str,
        call: Call,
        fields: Iterable[str] = protocol.DEFAULT_FIELDS,
    ) -> list[LockInfo]:
        """The record's locks; ``[]`` when it is not locked."""
        root = self.exchange.root or await self.exchange.api_root(call)
        request = protocol.build_get_locks(root, module, record_id, fields)
        return (await self.exchange.send(request, call)).parsed(protocol.parse_locks)

    async def get_lock(
        self, module: str, record_id: str, locking_id: str, call: Call
    ) -> LockInfo:
        """One lock of the record, by its locking id."""
        root = self.exchange.root or await self.exchange.api_root(call)
        request = protocol.build_get_lock(root, module, record_id, locking_id)
        return (await self.exchange.send(request, call)).parsed(protocol.parse_lock)

    async def lock(self, module: str, record_id: str, reason: str, call: Call) -> ActionResult:
        """Lock the record; a doubtful refusal is settled by reading the record."""
        root = self.exchange.root or await self.exchange.api_root(call)
        request = protocol.build_lock(root, module, record_id, reason)
        try:
            return (await self.exchange.send(request, call)).parsed(protocol.parse_action)
        except (ApiError, TransportError) as exc:
            if not call.write_may_have_landed:
                raise
            # An earlier attempt may have landed, so "already locked" or a final
            # fault may hide our own success: read the record and tell the truth.
            for lock in await self._settle(exc, module, record_id, call):
                if lock.lock_source is LockSource.MANUAL and lock.locked_reason == reason:
                    return ActionResult(
                        id=lock.id,
                        message="record added (confirmed by reading the record after a retry)",
                        http_status=201,
                    )
            raise

    async def update(
        self, module: str, record_id: str, locking_id: str, reason: str, call: Call
    ) -> ActionResult:
        """Set a new reason on the lock."""
        # PUT is idempotent: a retry after a lost answer sets the same reason again.
        root = self.exchange.root or await self.exchange.api_root(call)
        request = protocol.build_update(root, module, record_id, locking_id, reason)
        return (await self.exchange.send(request, call)).parsed(protocol.parse_action)

    async def unlock(
        self, module: str, record_id: str, locking_id: str, call: Call
    ) -> ActionResult:
        """Remove the lock; a doubtful refusal is settled by reading the record."""
        root = self.exchange.root or await self.exchange.api_root(call)
        request = protocol.build_unlock(root, module, record_id, locking_id)
        try:
            return (await self.exchange.send(request, call)).parsed(protocol.parse_action)
        except (ApiError, TransportError) as exc:
            if not call.write_may_have_landed:
                raise
            # As for lock: "no such lock" or a final fault may hide our own success.
            locks = await self._settle(exc, module, record_id, call)
            if any(lock.id == locking_id for lock in locks):
                raise
            return ActionResult(
                id=locking_id,
                message="relation removed (confirmed by reading the record after a retry)",
            )

    async def _settle(
        self, error: ZohoLockingError, module: str, record_id: str, call: Call
    ) -> list[LockInfo]:
        """Read the record's locks after a doubtful write.

        The read gets a few rounds of retries of its own; if it still fails,
        the write's fate is unknown and `UncertainOutcome` says so.
        """
        for _ in range(_SETTLE_ROUNDS - 1):
            try:
                return await self.get_locks(module, record_id, call)
            except (ApiError, TransportError) as exc:
                if is_run_wide(exc):
                    raise  # no read will get through: say why, not "uncertain"
                continue
        try:
            return await self.get_locks(module, record_id, call)
        except (ApiError, TransportError) as exc:
            if is_run_wide(exc):
                raise
            raise UncertainOutcome(
                f"the write may or may not have been applied ({error}); "
                f"reading the record to find out failed too ({exc})"
            ) from None
