"""A call's deadline: when it must be over, and what the caller learns when it passes.

A caller may give one call (``client.lock(..., timeout=2.0)``), or each record
of a bulk run, a number of seconds for everything it takes: waiting for a
permit, every attempt, the backoff between them, a token refresh, and reading
the record back to settle a doubtful write. `Deadline` is that point in time
on the flow's clock; the exchange bounds each wait and each attempt by what
is left of it, one way (`Deadline.bound`, an ``asyncio.timeout``), stops
retrying when the next wait would end past it, and, when it has passed,
raises `Deadline.expired`: never a bare `TimeoutError` or `CancelledError`.

What the caller learns depends on what may have happened:

* a read: `RequestTimeout`;
* a write that certainly never reached the server (it waited for a permit,
  or only refusals came back): `RequestTimeout` with ``maybe_sent`` false;
* a write that may have: `UncertainOutcome`. No read settles a write cut
  short in flight: the server may still apply it after the read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from .._checks import check_positive
from ..errors import RequestTimeout, UncertainOutcome, ZohoLockingError

__all__ = ["Bound", "Deadline", "DeadlineCut", "DeadlinePassed", "check_timeout"]


class DeadlinePassed(Exception):
    """The deadline came while nothing of the attempt was sent (never leaves the exchange)."""


class DeadlineCut(RequestTimeout):
    """An attempt cut short in flight by its call's deadline (never leaves the exchange)."""

    retryable = False


class Bound:
    """What is left of a deadline, as a ``with`` scope around awaits: `asyncio.timeout`'s rule.

    Entering it arms a timer that cancels the current task after *delay*
    seconds; leaving it disarms the timer, and turns the cancellation it caused
    (not anyone else's) into `TimeoutError`. A plain ``with``, not ``async
    with``: nothing in it waits, so it costs no coroutine, and a request with no
    deadline goes through a `contextlib.nullcontext` instead.
    """

    __slots__ = ("_cancelling", "_delay", "_fired", "_handle", "_task")

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._fired = False
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0

    def __enter__(self) -> Bound:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline bounds work inside a task")
        self._task, self._cancelling = task, task.cancelling()
        self._handle = asyncio.get_running_loop().call_later(self._delay, self._fire)
        return self

    def _fire(self) -> None:
        assert self._task is not None
        self._handle, self._fired = None, True
        self._task.cancel()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fired:
            assert self._task is not None
            # As asyncio.timeout: only our own cancellation becomes TimeoutError.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def expired(self) -> bool:
        """Whether the deadline came while inside (the `TimeoutError` is the deadline's)."""
        return self._fired


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

    def bound(self, now: float) -> Bound:
        """A scope (``with``) that ends with the deadline; `DeadlinePassed` if it came.

        *now* is the flow's clock; the event loop's timer enforces the rest: the work
        inside is cancelled (its ``finally`` blocks run) and the scope raises
        `TimeoutError`, which `expired` tells the caller about.
        """
        if now >= self.at:
            raise DeadlinePassed
        return Bound(self.at - now)

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


def check_timeout(value: object, field: str = "timeout") -> float | None:
    """*value* as a call's timeout in seconds: a positive finite number, or ``None``."""
    check_positive(value, field, optional=True)
    return None if value is None else float(value)  # type: ignore[arg-type]
