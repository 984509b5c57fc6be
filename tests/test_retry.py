"""RetryPolicy (attempts, backoff with full jitter) and retry_after (server-asked waits)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from zoho_locking.errors import ValidationError
from zoho_locking.http.retry import RETRY_STATUSES, RetryPolicy, retry_after
from zoho_locking.http.transport import Response
from zoho_locking.wire.limits import credits_reset, describe_wait

# -- RetryPolicy -----------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 5
    assert policy.base_delay == 0.5
    assert policy.max_delay == 30.0
    assert policy.deadline == 300.0
    assert {429, 500, 502, 503, 504} == RETRY_STATUSES


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"base_delay": -0.1}, "base_delay"),
        ({"base_delay": 5.0, "max_delay": 1.0}, "base_delay"),
        ({"deadline": 0}, "deadline"),
        ({"deadline": -10.0}, "deadline"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_retry_policy_accepts_edge_values() -> None:
    assert RetryPolicy(max_attempts=1).max_attempts == 1
    assert RetryPolicy(deadline=None).deadline is None
    assert RetryPolicy(base_delay=0.0, max_delay=0.0).backoff(3, random.Random(1)) == 0.0


@settings(max_examples=50)
@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**32),
    base=st.floats(min_value=0.0, max_value=10.0),
    extra=st.floats(min_value=0.0, max_value=100.0),
)
def test_backoff_is_full_jitter_within_the_ceiling(
    attempt: int, seed: int, base: float, extra: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=base + extra)
    ceiling = min(policy.max_delay, base * 2 ** min(attempt - 1, 64))
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= ceiling


def test_backoff_spreads_over_the_whole_range() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    rng = random.Random(1234)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (50, 30.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert min(delays) < 0.1 * ceiling
        assert max(delays) > 0.9 * ceiling


def test_backoff_is_reproducible_with_a_seed() -> None:
    policy = RetryPolicy()
    a = [policy.backoff(n, random.Random(7)) for n in range(1, 20)]
    b = [policy.backoff(n, random.Random(7)) for n in range(1, 20)]
    assert a == b


@pytest.mark.parametrize("attempt", [64, 1_000, 10**9, 10**18])
def test_backoff_is_capped_for_huge_attempts(attempt: int) -> None:
    rng = random.Random(0)
    assert 0.0 <= RetryPolicy(max_delay=30.0).backoff(attempt, rng) <= 30.0
    unbounded = RetryPolicy(max_delay=math.inf).backoff(attempt, rng)
    assert unbounded >= 0.0
    assert math.isfinite(unbounded)


# -- retry_after ------------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"), [("120", 120.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)]
)
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert retry_after({"Retry-After": value}, NOW) == expected


def test_retry_after_http_date() -> None:
    later = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=30)
    assert retry_after({"Retry-After": format_datetime(later, usegmt=True)}, NOW) == (
        pytest.approx(30.0)
    )
    earlier = datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=30)
    assert retry_after({"Retry-After": format_datetime(earlier, usegmt=True)}, NOW) == 0.0
    assert retry_after({"Retry-After": "Wed, 01 May 2024 12:01:00 GMT"}, NOW) == (
        pytest.approx(60.0)
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int(NOW) + 45), 45.0),  # epoch seconds
        (str((int(NOW) + 45) * 1000), 45.0),  # epoch milliseconds
        ("45", 45.0),  # seconds from now
        ("86399", 86399.0),  # what Zoho sends: the credit window's end, a day away
        ("0.25", 0.25),
        (str(int(NOW) - 100), 0.0),  # already past
        (str((int(NOW) - 100) * 1000), 0.0),
    ],
)
def test_x_ratelimit_reset_says_when_credits_come_back_not_when_to_retry(
    value: str, expected: float
) -> None:
    headers = {"X-RATELIMIT-RESET": value, "X-RATELIMIT-LIMIT": "50000",
               "X-RATELIMIT-REMAINING": "49000"}  # fmt: skip
    assert credits_reset(headers, NOW) == pytest.approx(expected)
    assert retry_after(headers, NOW) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_credit_window_a_day_away_does_not_delay_a_retry(status: int) -> None:
    # Zoho may send its limit headers on every answer while credits are metered;
    # the 429 of a busy org and a 5xx must still be retried within the backoff.
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    answer = Response(status, CIMultiDict({"X-RATELIMIT-RESET": "86399",
                                           "X-RATELIMIT-REMAINING": "100"}), b"")  # fmt: skip
    for attempt in range(1, 8):
        delay = policy.delay(attempt, random.Random(attempt), answer, NOW)
        assert 0.0 <= delay <= 30.0
        if status == 429:
            assert delay == 0.0  # the flow control's shared pause is the wait


def test_retry_after_still_counts_beside_the_credit_headers() -> None:
    headers = {"Retry-After": "3", "X-RATELIMIT-RESET": "86399"}
    assert retry_after(headers, NOW) == 3.0
    answer = Response(503, headers, b"")
    assert RetryPolicy(base_delay=0.0, max_delay=0.0).delay(1, random.Random(1), answer, NOW) == 3.0


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(17999, "about 5 h"), (86399, "about 24 h"), (720, "about 12 min"), (40, "about 40 s")],
)
def test_describe_wait(seconds: float, words: str) -> None:
    assert describe_wait(seconds) == words


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"Retry-After": "soon"},
        {"Retry-After": ""},
        {"Retry-After": "Wed, 99 Foo 2024 nonsense"},
        {"X-RATELIMIT-RESET": "tomorrow"},
        {"X-RATELIMIT-RESET": ""},
    ],
)
def test_retry_after_garbage_is_none(headers: dict[str, str]) -> None:
    assert retry_after(headers, NOW) is None
    assert credits_reset(headers, NOW) is None


@pytest.mark.parametrize("value", ["inf", "1e400", "nan"])
def test_retry_after_non_finite_is_none(value: str) -> None:
    # float() accepts these, but they are no number of seconds to wait: an infinite
    # delay would make a retry loop with deadline=None sleep forever.
    assert retry_after({"Retry-After": value}, NOW) is None
    assert credits_reset({"X-RATELIMIT-RESET": value}, NOW) is None


@pytest.mark.parametrize("name", ["Retry-After", "retry-after", "RETRY-AFTER", "rEtRy-AfTeR"])
def test_retry_after_header_name_is_case_insensitive(name: str) -> None:
    assert retry_after({name: "9"}, NOW) == 9.0
    assert retry_after(CIMultiDict({name: "9"}), NOW) == 9.0


@pytest.mark.parametrize("name", ["X-RATELIMIT-RESET", "x-ratelimit-reset", "X-RateLimit-Reset"])
def test_x_ratelimit_reset_name_is_case_insensitive(name: str) -> None:
    assert credits_reset({name: "12"}, NOW) == 12.0
    assert credits_reset(CIMultiDict({name: "12"}), NOW) == 12.0
