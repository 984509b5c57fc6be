"""What the answers tell of the org: its credits left, and a stall of nothing but 429s.

`Watch` sees every attempt's end: it tells the call's events
(`AnswerReceived`, `CreditsSeen`, `Throttled`), logs each request at DEBUG (never
its token), and raises `ThrottledTooLong` once only 429s have come back,
anywhere, for longer than the retry policy's *stall_timeout*.
"""

from __future__ import annotations

import logging

from ..errors import ThrottledTooLong, TransportError
from ..events import AnswerReceived, CreditsSeen, Events, Throttled
from ..flow.base import Flow, Permit
from ..wire.limits import credits_remaining
from ..wire.protocol import Request
from .transport import Response

__all__ = ["Watch"]

_log = logging.getLogger("zoho_locking")


class Watch:
    """What the answers tell of the org: its credits left, and a stall of nothing but 429s.

    It tells each answer to the call's events (`AnswerReceived`, `CreditsSeen`,
    `Throttled`) and raises `ThrottledTooLong` once only 429s have come back,
    anywhere, for longer than *stall_timeout*.
    """

    __slots__ = ("credits_remaining", "flow", "stall_timeout", "throttled_since")

    def __init__(self, flow: Flow, stall_timeout: float | None) -> None:
        self.flow = flow
        self.stall_timeout = stall_timeout
        #: The org's API credits left, from the last answer that said.
        self.credits_remaining: int | None = None
        #: When the current unbroken run of 429s began (any other answer ends it).
        self.throttled_since: float | None = None

    def saw(
        self,
        request: Request,
        attempt: int,
        permit: Permit,
        response: Response | None,
        failure: TransportError | None,
        spent: bool,
        events: Events,
    ) -> None:
        """Tell what one attempt came to: the answer, credits, throttling."""
        status = response.status if response is not None else None
        if events.wants(AnswerReceived) or _log.isEnabledFor(logging.DEBUG):
            duration = self.flow.now() - permit.sent_at
            error = None if failure is None else failure.code
            events.emit(
                AnswerReceived(
                    request.method, request.url, attempt, status, duration, permit.sent_at, error
                )
            )
            # The URL holds ids only; the token travels in a header never logged.
            _log.debug(
                "%s %s -> %s in %.1f ms (attempt %d)",
                request.method, request.url, status if failure is None else failure,
                duration * 1000, attempt,
                extra={"event": "request", "method": request.method, "url": request.url,
                       "status": status, "error": error, "attempt": attempt,
                       "duration_ms": round(duration * 1000, 3)},
            )  # fmt: skip
        if response is None:
            return
        # Most answers carry no credits figure; an empty header map is not searched.
        headers = response.headers
        remaining = 0 if spent else credits_remaining(headers) if headers else None
        if remaining is not None:
            self.credits_remaining = remaining
            events.emit(CreditsSeen(remaining))
        if status != 429 or spent:
            self.throttled_since = None
            return
        if events.wants(Throttled):
            events.emit(Throttled(request.method, request.url, getattr(self.flow, "limit", None)))
        now = self.flow.now()
        if self.throttled_since is None:
            self.throttled_since = now
        elif self.stall_timeout is not None and now - self.throttled_since > self.stall_timeout:
            raise ThrottledTooLong(now - self.throttled_since)
