"""The bulk engine's id source: validate, de-duplicate and resume input items lazily.

Workers take their next record straight from `Intake`, which reads the input
one item at a time: a bad item is told at once as a finished record
(``VALIDATION_ERROR``), an id seen before as a `DuplicateId`, an id an earlier
run finished (per the journal) as a resumed record; only new, valid ids come
out. The dry run reads its input through the same intake, so it judges ids
exactly as a run would.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TypeAlias

from ..errors import ValidationError
from ..events import DuplicateId, Events, RecordFinished
from ..models import FAILED, Operation, Outcome
from ..wire import protocol
from ._idset import IdSet
from .report import outcome

__all__ = ["Accepted", "BulkItem", "Intake"]

#: An input item: a record id, or a ``(record_id, locking_id)`` pair for unlock and update.
BulkItem: TypeAlias = str | int | tuple[str | int, str | int]
#: An accepted item: a valid record id and, if given, its locking id.
Accepted: TypeAlias = tuple[str, str | None]


class Intake:
    """Turns raw input items into accepted ``(record_id, locking_id)`` items, lazily.

    What it does not hand on it tells *events*: bad items as finished records,
    duplicates, and records whose outcome *finished* (an earlier run's journal) holds.
    """

    def __init__(
        self,
        operation: Operation,
        module: str,
        events: Events,
        finished: Mapping[str, Outcome] | None = None,
    ) -> None:
        self.operation = operation
        self.module = module
        self.events = events
        self.finished: Mapping[str, Outcome] = finished if finished is not None else {}
        self.seen = IdSet()
        self.seen_other: set[bytes] = set()  # ids too odd for IdSet; they fail validation
        self.reading = asyncio.Lock()
        self.exhausted = False
        #: Input items read so far, good or bad.
        self.read = 0

    def accept(self, raw: object) -> Accepted | None:
        """Validate one input item; tell of it at once if it is bad or seen before."""
        self.read += 1
        locking_id: str | None = None
        raw_lock: object = None
        paired = isinstance(raw, tuple)
        if isinstance(raw, tuple):
            if len(raw) != 2 or not self.operation.takes_locking_id:
                self.reject(
                    raw, "items may be (record_id, locking_id) pairs for unlock and update only"
                )
                return None
            raw, raw_lock = raw
        try:
            record_id = protocol.validate_id(raw)
        except ValidationError as exc:
            self.reject(raw, exc.message)
            return None
        if not self.seen.add(int(record_id)):
            self.events.emit(DuplicateId(record_id))
            return None
        if paired:
            try:
                locking_id = protocol.validate_id(raw_lock, "locking_id")
            except ValidationError as exc:
                # The record id is good and now seen: reported once, under its own id.
                self._finish(record_id, exc.message)
                return None
        earlier = self.finished.get(record_id)
        if earlier is not None:
            self._resumed(earlier)
            return None
        return record_id, locking_id

    def resume_up_to(self, last: int) -> None:
        """Tell every journaled outcome of an id up to *last* as resumed, and mark it seen.

        For a selection resumed after its leading pages: their ids are not asked again.
        """
        for record_id, earlier in list(self.finished.items()):
            if int(record_id) <= last and self.seen.add(int(record_id)):
                self._resumed(earlier)

    def _finish(self, shown: str, message: str) -> None:
        refused = outcome(shown, FAILED, "VALIDATION_ERROR", message, 0)
        self.events.emit(RecordFinished(self.operation, self.module, refused))

    def _resumed(self, earlier: Outcome) -> None:
        self.events.emit(RecordFinished(self.operation, self.module, earlier, resumed=True))

    def reject(self, raw: object, message: str) -> None:
        """Report a bad item once (a second copy of it counts as a duplicate)."""
        text = raw if isinstance(raw, str) else repr(raw)
        # Duplicates by the whole item (a digest keeps memory small), not by its display:
        # two bad lines that share their first 64 characters are two bad lines.
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        shown = text if len(text) <= 64 else text[:64] + "..."
        if key in self.seen_other:
            self.events.emit(DuplicateId(shown))
            return
        self.seen_other.add(key)
        self._finish(shown, message)

    def take(self, items: Iterator[BulkItem]) -> Accepted | None:
        """The next accepted item of a plain iterator, or None when it is exhausted.

        Workers call this directly, with no queue between them and the input: a
        synchronous ``next`` cannot interleave with another task's, and it saves
        two task switches per record.
        """
        for raw in items:
            accepted = self.accept(raw)
            if accepted is not None:
                return accepted
        return None

    async def take_async(self, items: AsyncIterator[BulkItem]) -> Accepted | None:
        """The next accepted item of an async iterator; one reader at a time."""
        nowait = getattr(items, "next_nowait", None)
        if nowait is not None:
            # An item the source holds already (a selection's page in hand): taken
            # at once, with no lock to queue for and no trip through the event loop.
            while (raw := nowait()) is not None:
                accepted = self.accept(raw)
                if accepted is not None:
                    return accepted
        async with self.reading:
            while not self.exhausted:
                try:
                    raw = await anext(items)
                except StopAsyncIteration:
                    self.exhausted = True
                    break
                except BaseException:
                    self.exhausted = True  # the other workers must not read on
                    raise
                accepted = self.accept(raw)
                if accepted is not None:
                    return accepted
        return None
