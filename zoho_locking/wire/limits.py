"""The org's limits, read from answers: API credits, and which failures end a whole run.

Sans-I/O, like `protocol`: functions of headers, bodies and exceptions.

Zoho charges every call one credit of a daily allowance shared by the whole
org, and answers 429 TOO_MANY_REQUESTS both when the credits are spent and
when too many requests are in flight. Waiting seconds mends the second, not
the first: `credits_exhausted` tells them apart (a remaining-credits header at
0, else the message). `is_run_wide` says whether a failure is the run's
rather than one record's: a bad token, module or edition fails every record
alike, so a bulk run stops at the first one instead of spending a credit per
record to learn the same thing; so does a proxy that refuses or cannot be reached.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from ..errors import (
    ApiError,
    AuthError,
    FlowUnavailable,
    OAuthError,
    ProxyError,
    TLSError,
    ZohoLockingError,
)

__all__ = [
    "CREDITS_HEADERS",
    "RUN_WIDE_CODES",
    "credits_exhausted",
    "credits_remaining",
    "credits_reset",
    "describe_wait",
    "header",
    "is_run_wide",
]

#: Headers that carry the credits left, most specific first.
CREDITS_HEADERS = ("x-api-credits-remaining", "x-ratelimit-remaining")
#: Zoho's codes that no record of the run can escape (with the statuses they come with).
RUN_WIDE_CODES: Mapping[str, frozenset[int] | None] = {
    "INVALID_TOKEN": None,  # final: the exchange has refreshed once already
    "AUTHENTICATION_FAILURE": None,
    "OAUTH_SCOPE_MISMATCH": None,
    "INVALID_MODULE": None,
    # 400 is "Required Record Locking Configuration is not present" for the module;
    # 403 NOT_ALLOWED ("already locked", ...) is about one record.
    "NOT_ALLOWED": frozenset({400}),
    "FEATURE_NOT_SUPPORTED": None,
    "INVALID_URL_PATTERN": None,
    "CREDITS_EXHAUSTED": None,
    "THROTTLED_TOO_LONG": None,
}
# Accounts-server failures that a later attempt in the same run may well not meet.
_TRANSIENT_OAUTH = frozenset({"TRANSPORT_ERROR", "TIMEOUT", "INVALID_RESPONSE"})
# Words of Zoho's daily-limit message ("the number of API requests for the 24 hour
# period is exceeded"); the concurrency 429 says nothing of the kind.
_CREDIT_WORDS = ("24 hour", "credit", "per day", "daily")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header *name* (lower case), whatever the case it was sent in."""
    value = headers.get(name)
    if value is None and not hasattr(headers, "getall"):
        # Plain dicts are case-sensitive; aiohttp's CIMultiDict is not.
        for key, item in headers.items():
            if key.lower() == name:
                return item
    return value


def credits_remaining(headers: Mapping[str, str]) -> int | None:
    """The API credits the org has left, if the answer says; ``None`` when it does not."""
    if hasattr(headers, "getall"):
        # aiohttp's CIMultiDict: case-insensitive look-ups, no scan.
        get = headers.get
    else:
        get = {key.lower(): value for key, value in headers.items()}.get
    for name in CREDITS_HEADERS:
        value = get(name)
        if value is not None:
            try:
                return max(0, int(value.strip()))
            except ValueError:
                continue
    return None


def credits_reset(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """Seconds until the org's credits come back, from ``X-RATELIMIT-RESET``; else ``None``.

    Only for saying when a run stopped for spent credits can resume: the header
    describes the credit window (often many hours), never a retry delay.
    Zoho documents no unit; seconds until the reset are what is seen, large
    values are taken for epoch seconds or milliseconds.
    """
    value = header(headers, "x-ratelimit-reset")
    try:
        reset = float(value.strip()) if value is not None else math.nan
    except ValueError:
        return None
    if not math.isfinite(reset):
        return None
    if reset > 1e11:
        reset /= 1000.0
    return max(0.0, reset - now_epoch) if reset > 1e9 else max(0.0, reset)


def describe_wait(seconds: float) -> str:
    """*seconds* in words for a person: ``"about 5 h"``, ``"about 12 min"``, ``"about 40 s"``."""
    if seconds >= 5400:
        return f"about {seconds / 3600:.0f} h"
    if seconds >= 90:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds:.0f} s"


def credits_exhausted(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a 429 answer means the org's daily credits are spent (not a busy org)."""
    value = header(headers, "x-api-credits-remaining")
    if value is not None and value.strip() == "0":
        return True
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    message = doc.get("message") if isinstance(doc, dict) else None
    if not isinstance(message, str):
        return False
    lowered = message.lower()
    return any(word in lowered for word in _CREDIT_WORDS)


def is_run_wide(error: ZohoLockingError) -> bool:
    """Whether *error* would fail every record of the run alike, so the run should stop."""
    if isinstance(error, OAuthError):
        return error.code not in _TRANSIENT_OAUTH
    if isinstance(error, FlowUnavailable | ProxyError | TLSError):
        # Every request goes through the same proxy, budget and trusted CAs.
        return True
    if isinstance(error, AuthError):
        return True
    if isinstance(error, ApiError):
        if error.code not in RUN_WIDE_CODES:
            return False
        statuses = RUN_WIDE_CODES[error.code]
        return statuses is None or error.http_status in statuses
    return False
