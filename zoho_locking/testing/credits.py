"""The fake org's daily API credits: each call the CRM answers costs one.

As at Zoho, every answered call costs a credit whatever its answer (a 4xx
costs too); a request refused in front of the CRM (a proxy fault, the
concurrency limit) costs nothing. With the credits spent, every call is
answered 429 TOO_MANY_REQUESTS with ``X-API-CREDITS-REMAINING: 0`` until a
test calls `Credits.refill`. Every answer carries the limit headers, as some
Zoho servers send them while credits are metered: ``X-RATELIMIT-RESET`` among
them, the seconds until the credit window ends (a day at first), which is no
retry delay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs

from ._wire import FakeAnswer, error

__all__ = ["CREDITS_EXHAUSTED_MESSAGE", "Credits", "stamped"]

#: Zoho's wording (status-codes page) for a spent daily allowance.
CREDITS_EXHAUSTED_MESSAGE = "the number of API requests for the 24 hour period is exceeded"


class Credits:
    """A daily allowance of *limit* API credits, over a window of *window* seconds.

    The window starts now (by *clock*) and again at each `refill`; the credits
    come back only with a refill, as a test decides.

    Args:
        limit: Credits per window (a non-negative integer).
        window: The window's seconds, on *clock* (a day by default).
        clock: The clock the window runs on.

    Raises:
        ValueError: A negative or non-integer *limit*, or a *window* that is not positive.
    """

    __slots__ = ("_clock", "limit", "started", "used", "window")

    def __init__(
        self,
        limit: int,
        *,
        window: float = 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = _checked(limit)
        if not (isinstance(window, int | float) and 0 < window < math.inf):
            raise ValueError(f"the credit window must be a positive number, got {window!r}")
        self.window = float(window)
        self._clock = clock
        #: When (by the clock) the current window began.
        self.started = clock()
        #: Credits spent since the last refill.
        self.used = 0

    def __repr__(self) -> str:
        return f"Credits(limit={self.limit}, remaining={self.remaining})"

    @property
    def resets_in(self) -> int:
        """Whole seconds until the current window ends (0 once it has)."""
        return max(0, math.ceil(self.started + self.window - self._clock()))

    @property
    def remaining(self) -> int:
        """Credits left."""
        return max(0, self.limit - self.used)

    def spend(self) -> bool:
        """Spend one credit for a call; ``False`` (nothing spent) when none is left."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def charge(self, extra: int) -> None:
        """Spend *extra* credits more for a call that costs more than one, as far as any are left.

        A COQL query costs up to 3; its first credit was spent by `spend`.
        """
        self.used += min(max(0, extra), self.remaining)

    def refill(self, limit: int | None = None) -> None:
        """Start a new day: nothing used, and a new *limit* if given.

        Args:
            limit: The new window's credits; ``None``: as before.

        Raises:
            ValueError: A negative or non-integer *limit*.
        """
        if limit is not None:
            self.limit = _checked(limit)
        self.used = 0
        self.started = self._clock()

    def headers(self) -> dict[str, str]:
        """The limit headers sent with every answer."""
        remaining = str(self.remaining)
        return {
            "X-API-CREDITS-REMAINING": remaining,
            "X-RATELIMIT-LIMIT": str(self.limit),
            "X-RATELIMIT-REMAINING": remaining,
            "X-RATELIMIT-RESET": str(self.resets_in),
        }

    def stamp(self, answer: FakeAnswer) -> FakeAnswer:
        """*answer* with the limit headers, if Zoho wrote it.

        A server that meters credits sends them on every answer of its own, its
        500s and concurrency 429s too (charging nothing for those); a proxy's
        HTML page, an empty 503 or a dropped connection carries none.
        """
        if answer.drop or not answer.body.startswith(b"{"):
            return answer
        return attrs.evolve(answer, headers={**answer.headers, **self.headers()})

    def exhausted_answer(self) -> FakeAnswer:
        """Zoho's answer once the credits are spent."""
        answer = error(429, "TOO_MANY_REQUESTS", CREDITS_EXHAUSTED_MESSAGE, {})
        return FakeAnswer(answer.status, {**answer.headers, **self.headers()}, answer.body)


def stamped(credits: Credits | None, answer: FakeAnswer) -> FakeAnswer:
    """*answer* with the limit headers when *credits* are metered (see `Credits.stamp`)."""
    return answer if credits is None else credits.stamp(answer)


def _checked(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"credits must be a whole number >= 0, got {limit!r}")
    return limit
