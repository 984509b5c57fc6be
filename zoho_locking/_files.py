"""Small JSON files kept between runs: read tolerantly, replaced atomically, locked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no OS file lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["file_lock", "read_json_document", "write_json_document"]

_log = logging.getLogger("zoho_locking")


def read_json_document(path: Path, what: str, version: int) -> dict[str, Any]:
    """The JSON object in *path* if its ``format`` is *version*; else ``{}``, with a warning.

    A missing file reads as empty without a warning: it is every first run.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        _log.warning("ignoring %s %s: %s", what, path, type(exc).__name__)
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        _log.warning("ignoring %s %s: not valid JSON", what, path)
        return {}
    if not isinstance(doc, dict) or doc.get("format") != version:
        _log.warning("ignoring %s %s: unknown format", what, path)
        return {}
    return doc


def write_json_document(path: Path, doc: dict[str, Any]) -> None:
    """Replace *path* with *doc*, mode 0600, through a temporary file and `os.replace`.

    A reader sees the old file or the new one, never half of one, and a crash
    leaves no partial file behind.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 from the start: it is never
    # readable by others, not even for the moment before a chmod.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(doc, stream, indent=1, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.asynccontextmanager
async def file_lock(path: Path, *, poll: float, wait: float) -> AsyncIterator[bool]:
    """Hold an exclusive OS lock (``flock``) on *path*, created with mode 0600 if missing.

    Waits without blocking the event loop (a non-blocking attempt every *poll*
    seconds) and raises `TimeoutError` after *wait* seconds. The OS frees the
    lock when the process dies, however it dies. Yields ``True`` when locked,
    ``False`` where there is no ``flock`` (not POSIX): then nothing is locked.
    Raises `OSError` if the lock file cannot be opened.
    """
    if fcntl is None:
        yield False
        return
    fd = await asyncio.to_thread(_open_lock_file, path)
    try:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if loop.time() >= give_up:
                    raise TimeoutError(f"{path} stayed locked for {wait:g}s") from None
                await asyncio.sleep(poll)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
