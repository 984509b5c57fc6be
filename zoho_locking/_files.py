"""Files kept between runs and shared by processes, on every platform.

Small JSON files read tolerantly and replaced atomically; an exclusive lock on
a file across the processes of one host (through ``filelock``: ``fcntl`` on
POSIX, ``msvcrt`` on Windows); text files written with the line endings asked
for; and `os.replace` that rides out another program holding the target open
on Windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = [
    "file_lock",
    "file_lock_sync",
    "read_json_document",
    "replace_file",
    "write_json_document",
    "write_text_file",
]

_log = logging.getLogger("zoho_locking")

#: Windows errors of a file another program holds open: ERROR_ACCESS_DENIED and
#: ERROR_SHARING_VIOLATION (a report open in Excel, a reader of the token file, a virus scanner).
_SHARING_VIOLATIONS = frozenset({5, 32})
#: Seconds between tries of `replace_file`: about 1.5 s in all, then the error.
_REPLACE_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8)

#: Lock files this process could not lock, each said once (at WARNING level).
_unlockable: set[str] = set()
_unlockable_guard = threading.Lock()


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
    """Replace *path* with *doc*, mode 0600, through a temporary file and `replace_file`.

    A reader sees the old file or the new one, never half of one, and a crash
    leaves no partial file behind.
    """
    write_text_file(path, lambda stream: json.dump(doc, stream, indent=1, sort_keys=True))


def write_text_file(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Replace *path* with what *write* writes to a UTF-8 text stream, mode 0600.

    The stream is opened with ``newline=""``: what is written is what lands,
    on every platform (the `csv` module ends its rows with ``\\r\\n`` itself, which
    a newline-translating stream would turn into ``\\r\\r\\n``, a blank row on
    Windows). The file is written to a temporary file beside *path*, flushed
    to disk and moved over *path* with `replace_file`: a reader sees the old
    file or the new one, and a crash leaves no partial file behind.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 from the start: it is never
    # readable by others, not even for the moment before a chmod.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        replace_file(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def replace_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """`os.replace`, tried again for about 1.5 s while another program has *target* open.

    On Windows a file another process holds open cannot be replaced
    (``PermissionError``, winerror 5 or 32) until it lets go: a report open in
    a spreadsheet, another process reading the token file, a virus scanner.
    Any other error, or the same one after the last try, is raised, saying
    how long it was tried. *sleep* waits between tries (injectable for tests).
    """
    for tries, delay in enumerate((*_REPLACE_DELAYS, None), start=1):
        try:
            os.replace(source, target)
            return
        except PermissionError as exc:
            if not _is_sharing_violation(exc):
                raise
            if delay is None:
                raise PermissionError(
                    exc.errno,
                    f"{os.fspath(target)} stayed open in another program "
                    f"({tries} tries in {sum(_REPLACE_DELAYS):g}s): {exc.strerror}",
                    os.fspath(target),
                ) from exc
        sleep(delay)


def _is_sharing_violation(exc: PermissionError) -> bool:
    return getattr(exc, "winerror", None) in _SHARING_VIOLATIONS


@contextlib.asynccontextmanager
async def file_lock(path: Path, *, poll: float, wait: float, unshared: str) -> AsyncIterator[bool]:
    """Hold an exclusive lock on *path* across this host's processes, on every platform.

    The lock file is created with mode 0600 if missing. Each attempt runs in a
    worker thread, one every *poll* seconds, so the event loop never waits on
    the disk or on another process; `TimeoutError` after *wait* seconds. The
    OS frees an OS lock when the process dies, however it dies.

    Yields ``True`` when locked, ``False`` when no lock can be had here (the
    file cannot be created, the file system has no locks): then nothing is
    shared, and this process says so once, at WARNING level, as "cannot lock
    *path*: *unshared*".
    """
    lock = _new_lock(path)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    while True:
        try:
            taken: bool | None = await _attempt(lock, path)
        except (OSError, NotImplementedError) as exc:
            _say_unlockable(path, exc, unshared)
            taken = None
        if taken is None:
            # Yielded outside the handler: the caller's own errors carry no lock error.
            yield False
            return
        if taken:
            break
        if loop.time() >= give_up:
            raise TimeoutError(f"{path} stayed locked for {wait:g}s")
        await asyncio.sleep(poll)
    try:
        yield True
    finally:
        # In a thread: a soft lock's release is file I/O too. Cancelling the
        # wait does not stop the thread, so the lock is let go all the same.
        await asyncio.to_thread(lock.release)


@contextlib.contextmanager
def file_lock_sync(path: Path, *, poll: float, wait: float, unshared: str) -> Iterator[bool]:
    """`file_lock` for code already off the event loop: blocks its thread while it waits.

    Yields ``True`` when locked, ``False`` when no lock can be had (said once);
    `TimeoutError` after *wait* seconds.
    """
    lock = _new_lock(path)
    give_up = time.monotonic() + wait
    while True:
        try:
            taken: bool | None = _try_acquire(lock, path)
        except (OSError, NotImplementedError) as exc:
            _say_unlockable(path, exc, unshared)
            taken = None
        if taken is None:
            yield False
            return
        if taken:
            break
        if time.monotonic() >= give_up:
            raise TimeoutError(f"{path} stayed locked for {wait:g}s")
        time.sleep(poll)
    try:
        yield True
    finally:
        lock.release()


def _new_lock(path: Path) -> BaseFileLock:
    # Imported here: `--help` and the modules that never lock load nothing of it.
    with warnings.catch_warnings():
        # Without fcntl (and off Windows) filelock warns at import that its lock is a
        # "soft" one: a file created exclusively. It is a lock all the same.
        warnings.simplefilter("ignore")
        import filelock
    # thread_local=False: attempts and the release run in whichever worker thread is free.
    return filelock.FileLock(str(path), mode=0o600, thread_local=False)


async def _attempt(lock: BaseFileLock, path: Path) -> bool:
    """One try at *lock* in a worker thread: whether it was taken."""
    attempt = asyncio.ensure_future(asyncio.to_thread(_try_acquire, lock, path))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        # The thread runs on: a lock it takes after all is let go at once.
        attempt.add_done_callback(lambda done: _release_if_taken(done, lock))
        raise


def _try_acquire(lock: BaseFileLock, path: Path) -> bool:
    import filelock

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:  # held by another process (a TimeoutError: an OSError too)
        return False
    return True


def _release_if_taken(attempt: asyncio.Future[bool], lock: BaseFileLock) -> None:
    if not attempt.cancelled() and attempt.exception() is None and attempt.result():
        lock.release()


def _say_unlockable(path: Path, exc: BaseException, unshared: str) -> None:
    with _unlockable_guard:
        if str(path) in _unlockable:
            return
        _unlockable.add(str(path))
    _log.warning("cannot lock %s (%s): %s", path, _reason(exc), unshared)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__
