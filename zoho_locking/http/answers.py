"""What one attempt's result means: for the flow, for the token, for a write's fate.

Pure functions of an answer (or its absence), used by the exchange after each
attempt: `feedback` (what the permit's release tells the flow), `is_invalid_token`
(a 401 that a fresh token may mend) and `may_have_landed` (whether a write about
to be retried may have been applied already).
"""

from __future__ import annotations

import time

from ..errors import ApiError, TransportError
from ..wire import protocol
from ..wire.limits import credits_exhausted
from ..wire.protocol import Request
from .retry import retry_after
from .transport import Response

__all__ = ["feedback", "is_invalid_token", "may_have_landed"]


def may_have_landed(
    request: Request, response: Response | None, failure: TransportError | None
) -> bool:
    """Whether a write about to be retried (or given up) may have landed already."""
    if request.method == "GET":
        return False
    if response is not None:
        # 429 and 503 mean refused before any work; 500, 502 and 504 may
        # come after the write was applied behind the proxy.
        return response.status not in (429, 503)
    return failure is not None and failure.maybe_sent


def feedback(response: Response | None) -> tuple[int | None, float | None, bool]:
    """What a permit's release tells the flow: the status, the server's wait, spent credits.

    A 429 for spent credits is told as no answer: not a busy org, so no cooldown
    (and no retry: the caller learns at once).
    """
    if response is None:
        return None, None, False
    status = response.status
    if status != 429:
        return status, None, False
    if credits_exhausted(response.headers, response.body):
        return None, None, True
    return 429, retry_after(response.headers, time.time()), False


def is_invalid_token(response: Response) -> bool:
    """Whether a 401 answer is INVALID_TOKEN (expired or revoked: a refresh may mend it)."""
    try:
        protocol.decipher(response.status, response.headers, response.body)
    except ApiError as exc:
        return exc.code == "INVALID_TOKEN"
    return False
