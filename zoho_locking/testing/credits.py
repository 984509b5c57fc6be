"""The fake org's daily API credits: each call the CRM answers costs one.

As at Zoho, every answered call costs a credit whatever its answer (a 4xx
costs too); a request refused in front of the CRM (a proxy fault, the
concurrency limit) costs nothing. With the credits spent, every call is
answered 429 TOO_MANY_REQUESTS with ``X-API-CREDITS-REMAINING: 0`` until a
test calls `Credits.refill`. Every answer carries the limit headers.
"""

from __future__ import annotations

from ._wire import FakeAnswer, error

__all__ = ["CREDITS_EXHAUSTED_MESSAGE", "Credits"]

#: Zoho's wording (status-codes page) for a spent daily allowance.
CREDITS_EXHAUSTED_MESSAGE = "the number of API requests for the 24 hour period is exceeded"


class Credits:
    """A daily allowance of *limit* API credits."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = _checked(limit)
        #: Credits spent since the last refill.
        self.used = 0

    def __repr__(self) -> str:
        return f"Credits(limit={self.limit}, remaining={self.remaining})"

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
        """Start a new day: nothing used, and a new *limit* if given."""
        if limit is not None:
            self.limit = _checked(limit)
        self.used = 0

    def headers(self) -> dict[str, str]:
        """The limit headers sent with every answer."""
        remaining = str(self.remaining)
        return {
            "X-API-CREDITS-REMAINING": remaining,
            "X-RATELIMIT-LIMIT": str(self.limit),
            "X-RATELIMIT-REMAINING": remaining,
        }

    def exhausted_answer(self) -> FakeAnswer:
        """Zoho's answer once the credits are spent."""
        answer = error(429, "TOO_MANY_REQUESTS", CREDITS_EXHAUSTED_MESSAGE, {})
        return FakeAnswer(answer.status, {**answer.headers, **self.headers()}, answer.body)


def _checked(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"credits must be a whole number >= 0, got {limit!r}")
    return limit
