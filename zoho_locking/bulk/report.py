"""The bulk report: what happened to every record of a bulk call.

`BulkReport` is filled while a run goes on (by the run's `Ledger`, from its
events) and is plain data afterwards: JSON through the package's one cattrs
converter, CSV through the standard library.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

import attrs

from ..errors import ApiError, ValidationError, ZohoLockingError
from ..models import (
    FAILED,
    SKIPPED,
    SUCCEEDED,
    UNFINISHED,
    ActionResult,
    Operation,
    Outcome,
    RunStop,
)
from ..wire.converter import converter

__all__ = ["BulkReport", "failure", "outcome", "success"]

# Outcomes whose locking id names a lock that the record held at the end.
_LOCK_CODES = frozenset({"SUCCESS", "LOCKED"})
# Codes listed one per line in summary(); the rest share a line, to fit one screen.
_SUMMARY_CODES = 12

_CSV_COLUMNS = (
    "record_id",
    "status",
    "code",
    "message",
    "http_status",
    "locking_id",
    "attempts",
)


# No conversion on assignment: the run's ledger sets figures many times per record.
@attrs.define(slots=True, eq=False, on_setattr=attrs.setters.NO_OP)
class BulkReport:
    """Totals and per-record outcomes of one bulk call.

    Each record given (once, whatever its duplicates) counts in *total* and in one of
    *succeeded*, *failed* and *skipped*, and by its code in *by_code*; *outcomes*
    holds each record's `Outcome` (failures and skips only, unless *keep_successes*).
    *requests* and *retries* count what was sent for the records, *throttled* the
    429 answers, *wall_time* the call's seconds; *cancelled* says the call was
    cancelled and the report holds what it had done.
    """

    #: What the run did (a `str` is accepted: ``"lock"``).
    operation: Operation = attrs.field(converter=Operation)
    #: The module's API name, as given (``Deals``).
    module: str
    #: Records given, each once whatever its duplicates.
    total: int = 0
    #: Records whose call succeeded (``status == "succeeded"``).
    succeeded: int = 0
    #: Records whose call failed (``status == "failed"``).
    failed: int = 0
    #: Records left alone: nothing to do (``status == "skipped"``, ``NOT_LOCKED``, ...).
    skipped: int = 0
    #: Records by their `Outcome.code` (``SUCCESS``, ``NOT_ALLOWED``, ...).
    by_code: dict[str, int] = attrs.field(factory=dict)
    #: Each record's `Outcome`, in completion order: failures and skips, and
    #: successes too unless `keep_successes` is False.
    outcomes: list[Outcome] = attrs.field(factory=list)
    #: When False, successes are counted but not kept in `outcomes`.
    keep_successes: bool = True
    #: Ids given more than once; each is processed and reported once.
    duplicates: int = 0
    #: Records whose outcome came from a journal of an earlier run.
    resumed: int = 0
    #: Requests sent for the records, retries and read-backs included.
    requests: int = 0
    #: Requests that were retries of an earlier attempt.
    retries: int = 0
    #: Answers that were 429.
    throttled: int = 0
    #: The call's seconds, start to end.
    wall_time: float = 0.0
    #: Record latency percentiles in milliseconds: p50, p90, p99, max.
    latency_ms: dict[str, float] = attrs.field(factory=dict)
    #: The call was cancelled: the report holds what it had done.
    cancelled: bool = False
    #: Records the run took but did not finish, because it stopped (status ``unfinished``).
    unfinished: int = 0
    #: Why the run stopped before its end; ``None`` if it did not.
    stopped: RunStop | None = None
    #: Records that had at least one request sent.
    attempted: int = 0
    #: Of a stopped run: records given but never sent (taken ones, plus input left
    #: unread); ``None`` when the input's length is unknown and not all was read.
    not_attempted: int | None = None
    #: The org's API credits left, from the last answer that said (``None``: none did).
    credits_remaining: int | None = None
    #: Of a run over a `Selection`: the COQL requests that selected its records
    #: (not counted in `requests`, which are the records' own).
    query_requests: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count *outcome* and keep it (unless it is a success and successes are not kept)."""
        self.total += 1
        status = outcome.status
        if status == SUCCEEDED:
            self.succeeded += 1
        elif status == SKIPPED:
            self.skipped += 1
        elif status == UNFINISHED:
            self.unfinished += 1
        else:
            self.failed += 1
        self.by_code[outcome.code] = self.by_code.get(outcome.code, 0) + 1
        if status != SUCCEEDED or self.keep_successes:
            self.outcomes.append(outcome)

    @property
    def throughput(self) -> float:
        """Records per second over the wall time."""
        return self.total / self.wall_time if self.wall_time > 0 else 0.0

    def failed_ids(self) -> list[str]:
        """List the ids of every failed record.

        Returns:
            The failed records' ids, in completion order.
        """
        return [o.record_id for o in self.outcomes if o.status == FAILED]

    def retryable_ids(self) -> list[str]:
        """List the ids worth another try.

        Returns:
            Unfinished records' ids, and those of failures a later run may fix
            (`Outcome.retryable`), in completion order.
        """
        return [o.record_id for o in self.outcomes if o.retryable]

    def locks(self) -> list[tuple[str, str]]:
        """List the locks this run made, changed or found.

        From a lock report, the locks it made; from an update report, the locks it
        re-reasoned; from a status (get) report, the locks it saw. Hand them to
        `LockingClient.unlock_many` or `update_many`: one request per record, no
        look-up. Records that were already locked by someone else are left out.

        Returns:
            ``(record_id, locking_id)`` of each lock.

        Raises:
            ValidationError: The report is an unlock report, or kept no successes
                (``keep_successes=False``): it holds no locking ids.
        """
        if not self.operation.holds_locks:
            raise ValidationError("an unlock report holds no locks", field="report")
        if not self.keep_successes:
            raise ValidationError(
                "this report kept no successes (keep_successes=False): it holds no locking ids",
                field="report",
            )
        return [
            (o.record_id, o.locking_id)
            for o in self.outcomes
            if o.status == SUCCEEDED and o.locking_id and o.code in _LOCK_CODES
        ]

    def outcome_for(self, record_id: str) -> Outcome | None:
        """Find the kept outcome of one record.

        Args:
            record_id: The record's id.

        Returns:
            Its `Outcome`; ``None`` if the report kept none (a success with
            ``keep_successes=False``, or an id the run was not given).
        """
        return next((o for o in self.outcomes if o.record_id == record_id), None)

    # -- formats -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Turn the report into JSON-ready data.

        Returns:
            The report's fields as plain dicts, lists and scalars, plus ``throughput``.
        """
        data: dict[str, Any] = converter.unstructure(self)
        data["throughput"] = round(self.throughput, 3)
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """Write the report as JSON (`from_json` reads it back).

        Args:
            indent: Indentation of the JSON, as `json.dumps` takes it; ``None``: one line.

        Returns:
            The JSON text.
        """
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> BulkReport:
        """Read a report written by `to_json`.

        Args:
            text: The JSON, as text or bytes.

        Returns:
            The report, as it was written.
        """
        data = json.loads(text)
        if isinstance(data, dict):
            data.pop("throughput", None)
        return converter.structure(data, cls)

    def iter_csv_rows(self) -> Iterator[list[str]]:
        """Give the report's CSV rows one at a time.

        Yields:
            The header row, then one row per kept outcome.
        """
        yield list(_CSV_COLUMNS)
        for o in self.outcomes:
            yield [
                o.record_id,
                o.status,
                o.code,
                o.message,
                "" if o.http_status is None else str(o.http_status),
                o.locking_id or "",
                str(o.attempts),
            ]

    def write_csv(self, stream: IO[str]) -> None:
        r"""Write the kept outcomes to *stream* as CSV, rows ending ``\r\n``.

        Open a file for it with ``newline=""``, as for any `csv` writer:
        ``open(path, "w", encoding="utf-8", newline="")``. A stream that
        translates newlines (the default on Windows) would end each row
        ``\r\r\n``, which spreadsheets show as a blank row after each record.

        Args:
            stream: A text stream, opened with ``newline=""`` if it is a file.
        """
        csv.writer(stream).writerows(self.iter_csv_rows())

    def to_csv(self) -> str:
        """Write the kept outcomes as CSV text.

        Returns:
            The CSV: a header row, then one row per kept outcome.
        """
        buffer = io.StringIO()
        self.write_csv(buffer)
        return buffer.getvalue()

    def summary(self) -> str:
        """Sum the report up for a person to read.

        Returns:
            A one-screen text summary: counts, codes, requests, latency, and why the
            run stopped, if it did.
        """
        partial = "  [cancelled: partial report]" if self.cancelled else ""
        if self.stopped is not None:
            partial = f"  [stopped: {self.stopped.code}]"
        lines = [
            f"{self.operation} {self.module}: {self.total} records in {self.wall_time:.2f} s "
            f"({self.throughput:.0f} records/s){partial}",
            f"  succeeded {self.succeeded:>9}",
            f"  failed    {self.failed:>9}",
            f"  skipped   {self.skipped:>9}",
        ]
        if self.unfinished or self.stopped is not None:
            lines.append(f"  unfinished{self.unfinished:>9}")
        if self.by_code:
            lines.append("  by code:")
            ranked = sorted(self.by_code.items(), key=lambda kv: (-kv[1], kv[0]))
            for code, count in ranked[:_SUMMARY_CODES]:
                lines.append(f"    {code:<28} {count:>9}")
            if len(ranked) > _SUMMARY_CODES:
                rest = ranked[_SUMMARY_CODES:]
                label = f"({len(rest)} more codes)"
                lines.append(f"    {label:<28} {sum(c for _, c in rest):>9}")
        per_record = f" ({self.requests / self.total:.2f} per record)" if self.total else ""
        extras = [
            f"requests {self.requests}{per_record}",
            f"retries {self.retries}",
            f"429s {self.throttled}",
        ]
        if self.query_requests:
            extras.insert(1, f"query requests {self.query_requests}")
        if self.credits_remaining is not None:
            extras.append(f"API credits left {self.credits_remaining}")
        if self.duplicates:
            extras.append(f"duplicate ids {self.duplicates}")
        if self.resumed:
            extras.append(f"from journal {self.resumed}")
        lines.append("  " + ", ".join(extras))
        if self.latency_ms:
            lat = self.latency_ms
            lines.append(
                "  latency per record: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in lat.items())
            )
        if self.stopped is not None:
            stop = self.stopped
            status = f" (HTTP {stop.http_status})" if stop.http_status is not None else ""
            left = "unknown" if self.not_attempted is None else str(self.not_attempted)
            lines.append(f"  stopped at {stop.at}: {stop.code}{status}: {stop.message}")
            lines.append(f"  records never sent: {left}; rerun with the journal to finish")
        return "\n".join(lines)


def outcome(
    record_id: str,
    status: str,
    code: str,
    message: str,
    attempts: int,
    *,
    http_status: int | None = None,
    locking_id: str | None = None,
) -> Outcome:
    """The final word on one record of a bulk run (these builders are the only ones)."""
    return Outcome(
        record_id=record_id,
        status=status,
        code=code,
        message=message,
        http_status=http_status,
        locking_id=locking_id,
        attempts=attempts,
    )


def success(record_id: str, result: ActionResult, attempts: int) -> Outcome:
    """The outcome of a record whose write (or read) *result* came back."""
    return Outcome(
        record_id=record_id,
        status=SUCCEEDED,
        code=result.code,
        message=result.message,
        http_status=result.http_status,
        locking_id=result.id,
        attempts=attempts,
    )


def failure(
    record_id: str, exc: ZohoLockingError, attempts: int, status: str = FAILED
) -> Outcome:
    """The outcome of a record that *exc* failed (or left *status*, e.g. unfinished)."""
    http_status = exc.http_status if isinstance(exc, ApiError) else None
    return outcome(record_id, status, exc.code, exc.message, attempts, http_status=http_status)
