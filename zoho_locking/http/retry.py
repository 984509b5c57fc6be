"""Retries: which answers are worth another attempt, and how long to wait before it.

`RetryPolicy` caps the attempts of one request and draws each wait with
exponential backoff and full jitter; `retry_after` reads how long the server
asks us to wait. Both are pure: the exchange does the sleeping.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Protocol

import attrs

from .._checks import check_positive
from ..errors import TransportError, ValidationError
from ..wire.limits import header

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_after"]

#: HTTP statuses worth another attempt: throttling and server or proxy faults.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Answer(Protocol):
    """What a retry decision looks at in an answer (a `Response` fits)."""

    @property
    def status(self) -> int:
        """The answer's HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers (``Retry-After`` is the one read)."""
        ...


@attrs.frozen(slots=True)
class RetryPolicy:
    """How often and how patiently to retry one request.

    *max_attempts* caps the attempts of one request (1 = no retries);
    *deadline* caps the seconds from its first attempt to its last; the delay
    before attempt ``n+1`` is drawn uniformly from ``[0, min(max_delay,
    base_delay * 2**(n-1))]`` ("full jitter"), or the server's ``Retry-After``
    when it sends one. *stall_timeout* is how long the client keeps trying
    while every answer, for every request, is 429: past it the org is taken
    not to be recovering (its credits spent, its concurrency held by someone
    else) and `ThrottledTooLong` ends the request, and a bulk run.

    Raises:
        ValidationError: *max_attempts* below 1, *base_delay* negative or above
            *max_delay*, or a *deadline* or *stall_timeout* that is not positive.
    """

    #: Attempts of one request at most (1: no retries).
    max_attempts: int = 5
    #: Seconds: the first backoff's ceiling, doubled per attempt.
    base_delay: float = 0.5
    #: Seconds: the most any backoff's ceiling grows to.
    max_delay: float = 30.0
    #: Seconds from a request's first attempt past which no retry starts (``None``: no cap).
    deadline: float | None = 300.0
    #: Seconds of nothing but 429s, anywhere, before `ThrottledTooLong` (``None``: never).
    stall_timeout: float | None = 300.0

    def __attrs_post_init__(self) -> None:
        check_positive(self.max_attempts, "max_attempts", integer=True)
        # Written so that NaN fails too; max_delay may be inf (no cap but the doubling's).
        if not (0 <= self.base_delay < math.inf and self.base_delay <= self.max_delay):
            raise ValidationError(
                "need 0 <= base_delay <= max_delay, base_delay finite", field="base_delay"
            )
        check_positive(self.deadline, "deadline", optional=True)
        check_positive(self.stall_timeout, "stall_timeout", optional=True)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Draw the backoff after a failed attempt, with full jitter.

        Args:
            attempt: The failed attempt's number, 1-based.
            rng: Where the jitter comes from.

        Returns:
            Seconds, uniform in ``[0, min(max_delay, base_delay * 2**(attempt-1))]``.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 32))
        return rng.uniform(0, ceiling)

    def delay(
        self, attempt: int, rng: random.Random, answer: Answer | None, now_epoch: float
    ) -> float:
        """Seconds to wait after failed attempt *attempt*, whose *answer* (if any) is given.

        After a 429 the flow control's shared pause is the wait; otherwise back
        off with jitter. A server that asks for longer (``Retry-After``) gets it;
        the credit window's end (``X-RATELIMIT-RESET``) is no such request.

        Args:
            attempt: The failed attempt's number, 1-based.
            rng: Where the jitter comes from.
            answer: The failed attempt's answer; ``None`` when none came.
            now_epoch: The wall clock, in epoch seconds (for an HTTP-date ``Retry-After``).

        Returns:
            Seconds to wait before the next attempt.
        """
        delay = 0.0 if answer is not None and answer.status == 429 else self.backoff(attempt, rng)
        if answer is not None:
            asked = retry_after(answer.headers, now_epoch)
            if asked is not None:
                delay = max(delay, asked)
        return delay

    def next_delay(
        self,
        attempt: int,
        rng: random.Random,
        answer: Answer | None,
        failure: TransportError | None,
        first: float,
        now: float,
        until: float | None = None,
    ) -> float | None:
        """Seconds to wait after failed attempt *attempt*, or ``None`` when none is left.

        None when the attempts are spent, the failure is final, or the wait would
        end past *deadline* seconds after the *first* attempt or past the call's own
        deadline *until* (all on the clock of *now*): then the last answer stands.
        """
        if attempt >= self.max_attempts or (failure is not None and not failure.retryable):
            return None
        delay = self.delay(attempt, rng, answer, time.time())
        if self.deadline is not None and now + delay - first > self.deadline:
            return None
        if until is not None and now + delay >= until:
            return None  # no sleeping past the caller's deadline
        return delay


def retry_after(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """Seconds the server asks us to wait before retrying, from ``Retry-After`` only.

    Seconds or an HTTP date. Unreadable or non-finite values are ignored
    (``None``), never obeyed. ``X-RATELIMIT-RESET`` is deliberately not read:
    it says when the day's credits come back (often hours away), and waiting
    on it would leave a concurrency 429 or a 5xx never retried
    (`limits.credits_reset` reads it, for the credits stop's message).
    """
    value = header(headers, "retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now_epoch
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
