"""The bulk engine's id source: validate, de-duplicate and resume input items lazily.

Workers take their next record straight from `Intake`, which reads the input
one item at a time: a bad item is reported at once as ``VALIDATION_ERROR``, an
id seen before is counted as a duplicate, an id an earlier run finished (per
the journal) is reported from the journal; only new, valid ids come out.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeAlias

from ..errors import ValidationError
from ..wire import protocol
from ._idset import IdSet
from .journal import JournalState
from .report import FAILED, BulkReport, Outcome

__all__ = ["BulkItem", "Intake", "Item"]

#: A record id, or a ``(record_id, locking_id)`` pair for unlock and update.
BulkItem: TypeAlias = str | int | tuple[str | int, str | int]
#: An accepted item: a valid record id and, if given, its locking id.
Item: TypeAlias = tuple[str, str | None]


class Intake:
    """Turns raw input items into accepted ``(record_id, locking_id)`` items, lazily."""

    def __init__(
        self,
        operation: str,
        report: BulkReport,
        state: JournalState,
        finish: Callable[[Outcome], None],
        resumed: Callable[[Outcome], None],
    ) -> None:
        self.pairs_allowed = operation in ("unlock", "update")
        self.report = report
        self.state = state
        self.finish = finish
        self.resumed = resumed
        self.seen = IdSet()
        self.seen_other: set[bytes] = set()  # ids too odd for IdSet; they fail validation
        self.reading = asyncio.Lock()
        self.exhausted = False
        #: Input items read so far, good or bad.
        self.read = 0

    def accept(self, raw: object) -> Item | None:
        """Validate one input item; report it at once if it is bad or seen before."""
        self.read += 1
        locking_id: str | None = None
        raw_lock: object = None
        paired = isinstance(raw, tuple)
        if isinstance(raw, tuple):
            if len(raw) != 2 or not self.pairs_allowed:
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
            self.resumed(earlier)
            return None
        return record_id, locking_id

    def reject(self, raw: object, message: str) -> None:
        """Report a bad item once (a second copy of it counts as a duplicate)."""
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

    def take(self, items: Iterator[BulkItem]) -> Item | None:
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

    async def take_async(self, items: AsyncIterator[BulkItem]) -> Item | None:
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
