"""BulkReport and Outcome: counting, queries, JSON and CSV round trips, the summary."""

from __future__ import annotations

import csv
import io
import json

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_locking.bulk.report import BulkReport
from zoho_locking.models import FAILED, RETRYABLE_CODES, SKIPPED, SUCCEEDED, Outcome

CSV_HEADER = [
    "record_id",
    "status",
    "code",
    "message",
    "http_status",
    "locking_id",
    "attempts",
]

OUTCOME_KEYS = {"record_id", "status", "code", "message", "http_status", "locking_id", "attempts"}


def sample_report(*, keep_successes: bool = True) -> BulkReport:
    report = BulkReport("lock", "Deals", keep_successes=keep_successes)
    for outcome in [
        Outcome("1", SUCCEEDED, "SUCCESS", "record added", 201, "L1", 1),
        Outcome("2", FAILED, "TIMEOUT", "no answer in 30 s", None, None, 5),
        Outcome("3", SKIPPED, "ALREADY_LOCKED", "already locked", 200, "L3", 1),
        Outcome("4", FAILED, "INVALID_DATA", "the id given seems to be invalid", 400, None, 1),
        Outcome("5", SUCCEEDED, "SUCCESS", "record added", 201, "L5", 2),
        Outcome("6", FAILED, "HTTP_503", "Service Unavailable", 503, None, 5),
        Outcome("7", FAILED, "NO_PERMISSION", "permission denied", 403, None, 1),
    ]:
        report.add(outcome)
    return report


# -- counting and queries ---------------------------------------------------------


def test_add_counts_by_status_and_code() -> None:
    report = sample_report()
    assert report.total == 7
    assert report.succeeded == 2
    assert report.failed == 4
    assert report.skipped == 1
    assert report.by_code == {
        "SUCCESS": 2,
        "TIMEOUT": 1,
        "ALREADY_LOCKED": 1,
        "INVALID_DATA": 1,
        "HTTP_503": 1,
        "NO_PERMISSION": 1,
    }
    assert [o.record_id for o in report.outcomes] == ["1", "2", "3", "4", "5", "6", "7"]


def test_without_keep_successes_only_failures_and_skips_are_kept() -> None:
    report = sample_report(keep_successes=False)
    assert report.total == 7
    assert report.succeeded == 2  # still counted
    assert report.by_code["SUCCESS"] == 2
    assert [o.record_id for o in report.outcomes] == ["2", "3", "4", "6", "7"]
    assert all(o.status != SUCCEEDED for o in report.outcomes)
    assert report.outcome_for("1") is None
    assert report.outcome_for("3") is not None


def test_failed_ids_in_completion_order() -> None:
    assert sample_report().failed_ids() == ["2", "4", "6", "7"]


def test_retryable_ids_are_failures_with_a_retryable_code() -> None:
    report = sample_report()
    assert report.retryable_ids() == ["2", "6"]
    # A skip or a success is never retryable, whatever its code.
    report.add(Outcome("8", SKIPPED, "TIMEOUT"))
    report.add(Outcome("9", SUCCEEDED, "CANCELLED"))
    report.add(Outcome("10", FAILED, "CANCELLED"))
    assert report.retryable_ids() == ["2", "6", "10"]


def test_outcome_retryable_property() -> None:
    for code in RETRYABLE_CODES:
        assert Outcome("1", FAILED, code).retryable
        assert not Outcome("1", SKIPPED, code).retryable
        assert not Outcome("1", SUCCEEDED, code).retryable
    assert not Outcome("1", FAILED, "INVALID_DATA").retryable
    assert {"TIMEOUT", "TOO_MANY_REQUESTS", "CANCELLED", "HTTP_503"} <= RETRYABLE_CODES
    assert "INVALID_DATA" not in RETRYABLE_CODES


def test_outcome_for() -> None:
    report = sample_report()
    found = report.outcome_for("4")
    assert found == Outcome(
        "4", FAILED, "INVALID_DATA", "the id given seems to be invalid", 400, None, 1
    )
    assert report.outcome_for("404") is None


def test_outcome_defaults() -> None:
    outcome = Outcome("1", FAILED, "TIMEOUT")
    assert outcome.message == ""
    assert outcome.http_status is None
    assert outcome.locking_id is None
    assert outcome.attempts == 0


def test_throughput() -> None:
    report = sample_report()
    assert report.throughput == 0.0  # no wall time yet: no division by zero
    report.wall_time = 2.0
    assert report.throughput == 3.5
    assert report.to_dict()["throughput"] == 3.5


# -- JSON ---------------------------------------------------------------------------


def test_to_json_keys() -> None:
    report = sample_report()
    report.wall_time = 1.5
    data = json.loads(report.to_json())
    assert {
        "operation",
        "module",
        "total",
        "succeeded",
        "failed",
        "skipped",
        "by_code",
        "outcomes",
        "throughput",
    } <= set(data)
    assert data["operation"] == "lock"
    assert data["module"] == "Deals"
    assert (data["total"], data["succeeded"], data["failed"], data["skipped"]) == (7, 2, 4, 1)
    assert data["by_code"]["SUCCESS"] == 2
    assert data["throughput"] == round(7 / 1.5, 3)
    assert len(data["outcomes"]) == 7
    for item in data["outcomes"]:
        assert set(item) == OUTCOME_KEYS
    assert data["outcomes"][0] == {
        "record_id": "1",
        "status": "succeeded",
        "code": "SUCCESS",
        "message": "record added",
        "http_status": 201,
        "locking_id": "L1",
        "attempts": 1,
    }
    assert data["outcomes"][1]["http_status"] is None
    assert data["outcomes"][1]["locking_id"] is None


def test_to_json_indent_and_unicode() -> None:
    report = BulkReport("unlock", "Leads")
    report.add(Outcome("1", FAILED, "INVALID_DATA", "données invalides ✗"))
    text = report.to_json(indent=2)
    assert "\n  " in text
    assert "données invalides ✗" in text
    assert BulkReport.from_json(text).outcomes[0].message == "données invalides ✗"


def assert_same_report(a: BulkReport, b: BulkReport) -> None:
    assert attrs.asdict(a, recurse=False) == attrs.asdict(b, recurse=False)
    assert all(type(o) is Outcome for o in b.outcomes)


def test_from_json_round_trip_keeps_every_field() -> None:
    report = sample_report(keep_successes=False)
    report.duplicates = 3
    report.resumed = 2
    report.requests = 40
    report.retries = 9
    report.throttled = 4
    report.wall_time = 12.25
    report.latency_ms = {"p50": 12.5, "p90": 40.0, "p99": 120.25, "max": 800.0}
    report.cancelled = True
    again = BulkReport.from_json(report.to_json())
    assert_same_report(report, again)
    assert again.keep_successes is False
    assert BulkReport.from_json(report.to_json().encode()).outcomes == report.outcomes


_text = st.text(max_size=40)
_codes = st.one_of(
    st.sampled_from(sorted(RETRYABLE_CODES | {"SUCCESS", "INVALID_DATA", "ALREADY_LOCKED"})),
    st.text(min_size=1, max_size=12),
)
outcomes = st.builds(
    Outcome,
    record_id=st.one_of(st.integers(1, 2**63 - 1).map(str), st.text(min_size=1, max_size=20)),
    status=st.sampled_from([SUCCEEDED, FAILED, SKIPPED]),
    code=_codes,
    message=_text,
    http_status=st.none() | st.integers(100, 599),
    locking_id=st.none() | st.text(max_size=20),
    attempts=st.integers(0, 1000),
)
_finite = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def reports(draw: st.DrawFn) -> BulkReport:
    report = BulkReport(
        draw(st.sampled_from(["lock", "unlock", "update", "get"])),
        draw(st.text(min_size=1, max_size=20)),
        keep_successes=draw(st.booleans()),
        duplicates=draw(st.integers(0, 10**6)),
        resumed=draw(st.integers(0, 10**6)),
        requests=draw(st.integers(0, 10**6)),
        retries=draw(st.integers(0, 10**6)),
        throttled=draw(st.integers(0, 10**6)),
        wall_time=draw(_finite),
        latency_ms=draw(st.dictionaries(st.sampled_from(["p50", "p90", "p99", "max"]), _finite)),
        cancelled=draw(st.booleans()),
    )
    for outcome in draw(st.lists(outcomes, max_size=15)):
        report.add(outcome)
    return report


@settings(max_examples=40, deadline=None)
@given(reports())
def test_json_round_trip_property(report: BulkReport) -> None:
    text = report.to_json()
    again = BulkReport.from_json(text)
    assert_same_report(report, again)
    assert again.to_json() == text


@settings(max_examples=40)
@given(outcomes)
def test_outcome_survives_a_report_round_trip(outcome: Outcome) -> None:
    report = BulkReport("lock", "Deals")
    report.add(outcome)
    assert BulkReport.from_json(report.to_json()).outcomes == [outcome]


# -- CSV ------------------------------------------------------------------------------


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_header_and_rows() -> None:
    rows = parse_csv(sample_report().to_csv())
    assert rows[0] == CSV_HEADER
    assert len(rows) == 8
    assert rows[1] == ["1", "succeeded", "SUCCESS", "record added", "201", "L1", "1"]
    assert rows[2] == ["2", "failed", "TIMEOUT", "no answer in 30 s", "", "", "5"]


def test_csv_of_kept_outcomes_only() -> None:
    rows = parse_csv(sample_report(keep_successes=False).to_csv())
    assert [row[0] for row in rows[1:]] == ["2", "3", "4", "6", "7"]


def test_csv_of_an_empty_report_is_the_header() -> None:
    assert parse_csv(BulkReport("lock", "Deals").to_csv()) == [CSV_HEADER]


def test_csv_messages_with_commas_quotes_and_newlines_survive() -> None:
    tricky = [
        'a, b, "c"',
        "line one\nline two",
        "windows\r\nline",
        'lone "quote',
        "tab\there; semi",
        "",
        "   padded   ",
    ]
    report = BulkReport("lock", "Deals")
    for i, message in enumerate(tricky, start=1):
        report.add(Outcome(str(i), FAILED, "INVALID_DATA", message, 400))
    rows = parse_csv(report.to_csv())
    assert [row[3] for row in rows[1:]] == tricky


def test_write_csv_to_a_stream_matches_to_csv() -> None:
    report = sample_report()
    stream = io.StringIO()
    report.write_csv(stream)
    assert stream.getvalue() == report.to_csv()
    assert list(report.iter_csv_rows()) == parse_csv(report.to_csv())


@settings(max_examples=40, deadline=None)
@given(st.lists(outcomes, max_size=10))
def test_csv_round_trip_property(items: list[Outcome]) -> None:
    report = BulkReport("lock", "Deals")
    for outcome in items:
        report.add(outcome)
    rows = parse_csv(report.to_csv())
    assert rows[0] == CSV_HEADER
    assert len(rows) == len(items) + 1
    for row, o in zip(rows[1:], items, strict=True):
        assert row == [
            o.record_id,
            o.status,
            o.code,
            o.message,
            "" if o.http_status is None else str(o.http_status),
            o.locking_id or "",
            str(o.attempts),
        ]


# -- summary ----------------------------------------------------------------------------


def test_summary_mentions_counts_and_codes() -> None:
    report = sample_report()
    report.wall_time = 2.0
    report.requests = 12
    report.retries = 5
    report.throttled = 3
    text = report.summary()
    assert text.startswith("lock Deals: 7 records")
    for word in ("succeeded", "failed", "skipped"):
        assert word in text
    lines = text.splitlines()
    assert any("succeeded" in line and line.split()[-1] == "2" for line in lines)
    assert any("failed" in line and line.split()[-1] == "4" for line in lines)
    assert any("skipped" in line and line.split()[-1] == "1" for line in lines)
    for code, count in report.by_code.items():
        assert any(code in line and line.split()[-1] == str(count) for line in lines)
    assert "requests 12" in text
    assert "retries 5" in text
    assert "429s 3" in text
    assert "cancelled" not in text
    assert len(lines) < 25
    assert all(len(line) <= 100 for line in lines)


def test_summary_most_frequent_code_first() -> None:
    report = BulkReport("lock", "Deals")
    for _ in range(3):
        report.add(Outcome("x", FAILED, "TIMEOUT"))
    report.add(Outcome("y", FAILED, "INVALID_DATA"))
    for _ in range(5):
        report.add(Outcome("z", SUCCEEDED, "SUCCESS"))
    text = report.summary()
    assert text.index("SUCCESS") < text.index("TIMEOUT") < text.index("INVALID_DATA")


def test_summary_extras() -> None:
    report = sample_report()
    report.cancelled = True
    report.duplicates = 4
    report.resumed = 6
    report.latency_ms = {"p50": 10.0, "p90": 20.0, "p99": 30.0, "max": 40.0}
    text = report.summary()
    assert "cancelled" in text
    assert "duplicate ids 4" in text
    assert "from journal 6" in text
    assert "p99 30.0 ms" in text
    assert len(text.splitlines()) < 25


def test_summary_of_an_empty_report() -> None:
    text = BulkReport("unlock", "Leads").summary()
    assert text.startswith("unlock Leads: 0 records")
    assert len(text.splitlines()) < 25


def test_summary_fits_on_one_screen_with_many_codes() -> None:
    # Many distinct failure codes (e.g. a run hitting a flaky proxy) must not
    # push the summary past one screen.
    report = BulkReport("lock", "Deals")
    for i in range(40):
        for j in range(i + 1):
            report.add(Outcome(f"{i}-{j}", FAILED, f"HTTP_{400 + i}"))
    report.duplicates = 1
    report.resumed = 1
    report.latency_ms = {"p50": 1.0}
    text = report.summary()
    assert len(text.splitlines()) < 25
    assert "HTTP_439" in text  # the most frequent codes are still shown
