"""A call's deadline: when it must be over, and what the caller learns when it passes.

A caller may give one call (``client.lock(..., timeout=2.0)``), or each record
of a bulk run, a number of seconds for everything it takes: waiting for a
permit, every attempt, the backoff between them, a token refresh, and reading
the record back to settle a doubtful write. `Deadline` is that point in time
on the flow's clock; the exchange bounds each wait and each attempt by what
is left of it (`Deadline.bound`), stops retrying when the next wait would end
past it, and, when it has passed, raises `Deadline.expired`: never a bare
`TimeoutError` or `CancelledError`.

What the caller learns depends on what may have happened:

* a read: `RequestTimeout`;
* a write that certainly never reached the server (it waited for a permit,
  or only refusals came back): `RequestTimeout` with ``maybe_sent`` false;
* a write that may have: `UncertainOutcome`. No read settles a write cut
  short in flight: the server may still apply it after the read.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from ..errors import RequestTimeout, UncertainOutcome, ValidationError, ZohoLockingError

__all__ = ["Deadline", "DeadlineCut", "DeadlinePassed", "check_timeout"]

T = TypeVar("T")


class DeadlinePassed(Exception):
    """The deadline came while nothing of the attempt was sent (never leaves the exchange)."""


class DeadlineCut(RequestTimeout):
    """An attempt cut short in flight by its call's deadline (never leaves the exchange)."""

    retryable = False


@attrs.frozen(slots=True)
class Deadline:
    """The moment one call must be over: *at* on the flow's clock, *seconds* after it began."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float, now: float) -> Deadline:
        """The deadline *seconds* from *now*."""
        return cls(now + seconds, seconds)

    def passed(self, now: float) -> bool:
        """Whether the deadline has come."""
        return now >= self.at

    async def within(self, now: float, start: Callable[[], Awaitable[T]]) -> T:
        """Await ``start()`` for what is left of the call; `DeadlinePassed` if it runs out.

        *now* is the flow's clock; the event loop's timer enforces the rest, and
        the work is cancelled (its ``finally`` blocks run) when it fires.
        """
        if now >= self.at:
            raise DeadlinePassed
        bound = asyncio.timeout(self.at - now)
        try:
            async with bound:
                return await start()
        except TimeoutError:
            if not bound.expired():
                raise  # the work's own timeout, not ours
            raise DeadlinePassed from None

    async def attempt(
        self, now: float, method: str, send: Callable[[], Awaitable[T]], *, sent: Callable[[], bool]
    ) -> T:
        """`within` for one attempt: cut short once *sent* says it went out, a `DeadlineCut`.

        Cut short before (while waiting for a token), it raises `DeadlinePassed`.
        """
        try:
            return await self.within(now, send)
        except DeadlinePassed:
            if not sent():
                raise
            raise DeadlineCut(
                f"{method} cut short by the call's timeout of {self.seconds:g}s", maybe_sent=True
            ) from None

    def expired(self, method: str, *, doubt: bool, sent: bool) -> ZohoLockingError:
        """What the caller gets once the deadline passed.

        *doubt*: a write may have reached the server; *sent*: a request of this
        call went out, answered or not.
        """
        limit = f"the call's timeout of {self.seconds:g}s passed"
        if method != "GET" and doubt:
            return UncertainOutcome(
                f"{limit} before the {method}'s outcome was known: it may or may not have "
                "been applied, and may still be; read the record to find out"
            )
        if method != "GET":
            return RequestTimeout(f"{limit}; the {method} was not applied", maybe_sent=False)
        return RequestTimeout(f"{limit} before the {method} was answered", maybe_sent=sent)

    async def unsent_within(self, now: float, start: Callable[[], Awaitable[T]]) -> T:
        """`within`, for work before anything is sent: `RequestTimeout` if it runs out."""
        try:
            return await self.within(now, start)
        except DeadlinePassed:
            raise RequestTimeout(
                f"the call's timeout of {self.seconds:g}s passed before anything was sent",
                maybe_sent=False,
            ) from None


def check_timeout(value: object, field: str = "timeout") -> float | None:
    """*value* as a call's timeout in seconds: a positive finite number, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{field} must be a positive number of seconds or None", field=field)
    if not 0 < value < math.inf:
        raise ValidationError(f"{field} must be a positive number of seconds or None", field=field)
    return float(value)
