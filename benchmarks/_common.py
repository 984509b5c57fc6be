"""Constants and small helpers shared by the benchmark scenarios."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from zoho_locking.http.transport import MockTransport, Response

__all__ = [
    "FIRST_ID",
    "LOCK_BODY",
    "MODULE",
    "OK_BODY",
    "REASON",
    "instant_transport",
    "max_in_window",
    "record_ids",
]

MODULE = "Deals"
REASON = "benchmark"
#: Ids shaped like Zoho's (19 digits), in a range the fake org does not generate itself.
FIRST_ID = 5843104000100000001
#: What the library sends to lock a record (the raw baseline sends the same bytes).
LOCK_BODY = json.dumps({"data": [{"Locked_Reason__s": REASON}]}).encode()
#: Zoho's answer to a lock (tests/samples/lock/201.json, compact).
OK_BODY = json.dumps(
    {
        "data": [
            {
                "code": "SUCCESS",
                "details": {
                    "Modified_Time": "2023-09-05T08:54:49-04:00",
                    "Modified_By": {"name": "Patricia Boyle", "id": "5843104000000424672"},
                    "Created_Time": "2023-09-05T08:54:49-04:00",
                    "id": "5843104000000804020",
                    "Created_By": {"name": "Patricia Boyle", "id": "5843104000000424672"},
                },
                "message": "record added",
                "status": "success",
            }
        ]
    },
    separators=(",", ":"),
).encode()


def record_ids(count: int) -> Iterator[str]:
    """Yield *count* distinct record ids, lazily."""
    return (str(FIRST_ID + offset) for offset in range(count))


def instant_transport() -> MockTransport:
    """A transport that answers every request at once with a successful lock."""
    return MockTransport(lambda request, auth: Response(201, {}, OK_BODY))


def max_in_window(times: Sequence[float], seconds: float = 1.0) -> int:
    """The most moments of sorted *times* inside any half-open window ``[t, t + seconds)``."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
