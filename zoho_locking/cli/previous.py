"""A previous run's report or journal as the input of unlock and update: one request per record.

`read_locks` takes a JSON report written by ``--report`` (`BulkReport.to_json`)
or a resume journal, and returns the module and the ``(record_id, locking_id)``
of every lock that run made, changed or found. Anything else (other JSON, CSV,
a truncated file) is refused with a one-line `ValidationError` before anything
is sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from ..bulk.journal import is_journal, read_journal
from ..bulk.report import BulkReport
from ..errors import JournalError, ValidationError

__all__ = ["PreviousRun", "read_locks"]



@attrs.frozen(slots=True)
class PreviousRun:
    """What a previous run left: its operation, module and locks."""

    operation: str
    module: str
    locks: list[tuple[str, str]]


def read_locks(path: str | Path) -> PreviousRun:
    """Read the locks a previous run's report or journal at *path* holds."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {where}: {exc}", field="from_report") from None
    if is_journal(text.split("\n", 1)[0]):
        return _from_journal(where, text)
    try:
        doc: Any = json.loads(text)
    except ValueError:
        raise ValidationError(
            f"{where} is not a zoho-locking report or journal (not valid JSON: truncated, "
            "or a CSV report; write the report as JSON)",
            field="from_report",
        ) from None
    if not (isinstance(doc, dict) and {"operation", "module", "outcomes"} <= doc.keys()):
        raise ValidationError(
            f"{where} is JSON but not a zoho-locking report (no operation, module and outcomes)",
            field="from_report",
        )
    try:
        report = BulkReport.from_json(text)
    except Exception as exc:
        raise ValidationError(
            f"{where} is not a readable zoho-locking report ({type(exc).__name__})",
            field="from_report",
        ) from None
    return PreviousRun(report.operation, report.module, report.locks())


def _from_journal(where: Path, text: str) -> PreviousRun:
    # The last line may be cut off mid-write (a killed run): it is left out, as on resume.
    data = text.encode()
    try:
        state = read_journal(data[: data.rfind(b"\n") + 1], where)
    except JournalError as exc:
        raise ValidationError(str(exc), field="from_report") from None
    report = BulkReport(state.operation, state.module)
    for outcome in state.finished.values():
        report.add(outcome)
    return PreviousRun(state.operation, state.module, report.locks())
