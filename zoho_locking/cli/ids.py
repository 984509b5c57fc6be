"""Reading record ids for the command line: plain lists, CSV columns, standard input.

Ids are yielded lazily, one at a time, so a file of millions of ids never sits
in memory. Nothing here validates ids: the bulk engine does, and reports a bad
line as a per-record ``VALIDATION_ERROR`` instead of stopping the run.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from ..errors import ValidationError

__all__ = ["IdRow", "SizedIds", "count_ids", "read_ids"]

#: What one line or CSV row gives: a record id, or a ``(record_id, locking_id)`` pair.
IdRow = str | tuple[str, str]


def _open(path: str, stdin: IO[bytes] | None) -> IO[str]:
    if path == "-":
        # utf-8-sig drops a byte-order mark that spreadsheet exports like to add.
        stream = stdin if stdin is not None else sys.stdin.buffer
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")
    try:
        return open(Path(path), encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:
        raise ValidationError(f"cannot read ids from {path}: {exc.strerror}", field="ids") from None


def read_ids(
    path: str,
    *,
    id_column: str | None = None,
    locking_id_column: str | None = None,
    stdin: IO[bytes] | None = None,
) -> Iterator[IdRow]:
    """Yield the ids in *path* (``-`` for standard input).

    Without *id_column*: one id per line; surrounding blanks, blank lines and
    ``#`` comments are ignored. With *id_column*: a CSV file with a header
    row, ids taken from that column (and, with *locking_id_column*, yielded as
    ``(record_id, locking_id)`` pairs).
    """
    if locking_id_column is not None and id_column is None:
        raise ValidationError("--locking-id-column needs --id-column", field="ids")
    stream = _open(path, stdin)
    if id_column is None:
        return _lines(stream)
    return _csv(stream, path, id_column, locking_id_column)


def _lines(stream: IO[str]) -> Iterator[IdRow]:
    with stream:
        for line in stream:
            text = line.split("#", 1)[0].strip()
            if text:
                yield text


def _csv(
    stream: IO[str], path: str, id_column: str, locking_id_column: str | None
) -> Iterator[IdRow]:
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    for column in (id_column, locking_id_column):
        if column is not None and column not in header:
            stream.close()
            shown = ", ".join(header) if header else "no header row"
            raise ValidationError(
                f"{path} has no column {column!r} (columns: {shown})", field="id_column"
            )
    return _rows(stream, reader, path, id_column, locking_id_column)


def _rows(
    stream: IO[str],
    reader: csv.DictReader[str],
    path: str,
    id_column: str,
    locking_id_column: str | None,
) -> Iterator[IdRow]:
    with stream:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # One unreadable row is one bad record (reported), not the end of the run.
                bad = f"<{path} line {reader.line_num}: {exc}>"
                yield bad if locking_id_column is None else (bad, "")
                continue
            record_id = (row.get(id_column) or "").strip()
            if not record_id:
                continue
            if locking_id_column is None:
                yield record_id
            else:
                yield record_id, (row.get(locking_id_column) or "").strip()


def count_ids(path: str, *, id_column: str | None = None) -> int:
    """Count the ids in a file (not standard input), for a progress total."""
    return sum(1 for _ in read_ids(path, id_column=id_column))


class SizedIds:
    """Ids read lazily from a file, with their count known beforehand (see `count_ids`).

    The bulk engine takes the length for its progress total, and a run that
    stops early can say how many ids it never read.
    """

    __slots__ = ("_items", "_total")

    def __init__(self, items: Iterable[IdRow], total: int) -> None:
        self._items = items
        self._total = total

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[IdRow]:
        return iter(self._items)
