"""The resume journal: one JSON line per finished record, flushed as it happens.

Layout of a journal file:

    {"journal": "zoho-locking", "version": 1, "operation": "lock", "module": "Deals"}
    {"selected": 2000, "where": "Stage = 'Won'", "after": null, "last": "5843104000001070085"}
    {"intent": "lock", "record_id": "5843104000001068086"}
    {"record_id": "5843104000001068086", "status": "succeeded", "code": "SUCCESS", ...}

A *selected* line notes a page of ids a `Selection` handed out (the ids above
*after* through *last*), so that a resumed run starts after the pages whose
records all finished instead of asking for them again.

An *intent* line is written before a lock or unlock is sent, so that a run
killed between sending and journaling knows, when resumed, that the write may
have landed and checks the record instead of trusting a refusal. A last line
cut off mid-write (the process was killed) is dropped on resume, cut at the
byte after the last newline: the file is opened binary on every platform
(``O_BINARY`` on Windows), so no newline is translated on the way in or out. The
file is created with mode 0600; it holds ids and outcomes, never a token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import JournalError
from ..models import Operation, Outcome
from ..wire.converter import converter

__all__ = ["Journal", "JournalState", "is_journal", "read_journal"]

_MAGIC = "zoho-locking"
_VERSION = 1


class JournalState:
    """What an earlier run left: its operation and module, finished outcomes, doubtful writes."""

    __slots__ = ("finished", "intents", "module", "operation", "pages")

    def __init__(self, operation: str = "", module: str = "") -> None:
        #: The run the journal is of (from its header).
        self.operation = operation
        self.module = module
        #: Record id -> its last outcome (retryable failures are not "finished").
        self.finished: dict[str, Outcome] = {}
        #: Record ids whose write was sent but whose outcome was never journaled.
        self.intents: set[str] = set()
        #: Selection pages handed out: condition -> ``(after, last, count)`` in order.
        self.pages: dict[str, list[tuple[str | None, str, int]]] = {}


def is_journal(first_line: bytes | str) -> bool:
    """Whether *first_line* is a journal's header."""
    try:
        header = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("journal") == _MAGIC


def read_journal(data: bytes, path: str | os.PathLike[str]) -> JournalState:
    """Read a journal's complete lines (*data* up to its last newline); `JournalError` if bad.

    The one reader of journals: a resumed run and ``--from-report`` both use it.
    """
    lines = data.splitlines()
    where = Path(path)
    header = _loads(lines[0], where, 1) if lines else {}
    if header.get("journal") != _MAGIC:
        raise JournalError(f"{where} is not a zoho-locking journal")
    if header.get("version") != _VERSION:
        raise JournalError(
            f"journal {where} has version {header.get('version')!r}; "
            f"this zoho-locking reads version {_VERSION}"
        )
    operation, module = header.get("operation"), header.get("module")
    if not isinstance(operation, str) or not isinstance(module, str):
        raise JournalError(f"{where}: a journal without operation and module")
    state = JournalState(operation, module)
    for number, line in enumerate(lines[1:], start=2):
        item = _loads(line, where, number)
        if "selected" in item:
            state.pages.setdefault(str(item.get("where")), []).append(_page(item, where, number))
            continue
        record_id = item.get("record_id")
        if not isinstance(record_id, str):
            raise JournalError(f"{where}:{number}: no record_id")
        if "intent" in item:
            state.intents.add(record_id)
            continue
        try:
            outcome = converter.structure(item, Outcome)
        except Exception as exc:
            raise JournalError(f"{where}:{number}: not an outcome ({exc})") from None
        if outcome.retryable:
            # Not finished; and a write cut short by a fault or a cancel may
            # have landed, so an earlier intent stays in force.
            state.finished.pop(record_id, None)
        else:
            state.intents.discard(record_id)
            state.finished[record_id] = outcome
    return state


class Journal:
    """An append-only journal of one bulk run (open with `open`)."""

    def __init__(
        self, path: str | os.PathLike[str], *, operation: Operation, module: str
    ) -> None:
        self.path = Path(path)
        self.operation = Operation(operation)
        self.module = module
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, operation={self.operation.value!r})"

    def open(self, *, resume: bool) -> JournalState:
        """Open for appending; with *resume*, read what an earlier run left first.

        Without *resume* the file must not exist or be empty: mixing two runs'
        outcomes silently would make the report lie.
        """
        state = JournalState(self.operation, self.module)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not resume:
            raise JournalError(
                f"journal {self.path} already holds a run; resume it, or remove the file"
            )
        try:
            # O_BINARY (Windows only): bytes in and out as they are, so that the
            # offsets of the torn-line cut below are the file's own.
            flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc.strerror}") from None
        self._fd = fd
        try:
            if exists:
                state = self._read(fd)
            else:
                self._write(self._header())
        except BaseException:
            self.close()
            raise
        return state

    def _header(self) -> dict[str, Any]:
        return {
            "journal": _MAGIC,
            "version": _VERSION,
            "operation": self.operation.value,
            "module": self.module,
        }

    def _read(self, fd: int) -> JournalState:
        with open(fd, "rb", closefd=False) as stream:
            stream.seek(0)
            data = stream.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # The last line was cut off mid-write: drop it so appends start clean.
            os.ftruncate(fd, end)
        if end == 0:
            # Killed while writing the header: nothing was done yet, start afresh.
            self._write(self._header())
            return JournalState(self.operation, self.module)
        state = read_journal(data[:end], self.path)
        if state.operation != self.operation or state.module != self.module:
            raise JournalError(
                f"journal {self.path} is for {state.operation} {state.module}, "
                f"not {self.operation} {self.module}"
            )
        return state

    def intent(self, record_id: str, operation: Operation) -> None:
        """Note that a write of *record_id* is about to be sent."""
        self._write({"intent": Operation(operation).value, "record_id": record_id})

    def selected(self, where: str, page: tuple[str | None, str, int]) -> None:
        """Note that a selection by *where* handed out *page* ``(after, last, count)``."""
        after, last, count = page
        self._write({"selected": count, "where": where, "after": after, "last": last})

    def record(self, outcome: Outcome) -> None:
        """Append *outcome*."""
        self._write(converter.unstructure(outcome))

    def _write(self, item: dict[str, Any]) -> None:
        if self._fd is None:
            raise JournalError("journal is not open")
        # One write() per line with O_APPEND: a kill leaves at most one partial line,
        # and the OS has every complete one even if the process dies right after.
        # ASCII escapes: any str (even a lone surrogate from a server) round-trips.
        os.write(self._fd, json.dumps(item).encode() + b"\n")

    def close(self) -> None:
        """Close the file (everything written is already with the OS)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _loads(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError:
        raise JournalError(f"{path}:{number}: not a JSON line") from None
    if not isinstance(item, dict):
        raise JournalError(f"{path}:{number}: not a JSON object")
    return item


def _page(item: dict[str, Any], path: Path, number: int) -> tuple[str | None, str, int]:
    after, last, count = item.get("after"), item.get("last"), item.get("selected")
    if (
        not (after is None or isinstance(after, str))
        or not isinstance(last, str)
        or not isinstance(count, int)
        or count < 1
    ):
        raise JournalError(f"{path}:{number}: not a selection page")
    return after, last, count
