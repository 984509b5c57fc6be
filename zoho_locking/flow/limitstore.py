"""What a run learned about an org's in-flight limit, kept for the next run.

A run that starts below the org's limit wastes its first seconds climbing; one
that starts above it collects a burst of 429s. `FlowControl.learned_limit` is
the level a run found the server to take; `FileLimitStore` keeps it in a small
JSON file (mode 0600, replaced atomically) so that the next run of a script
starts there (``FlowControl(initial_limit=...)``). The CLI keeps this file
beside its token store. (A `RedisFlow` needs none: its limit lives in Redis.)
Runs that end together each save under a lock on ``<file>.lock``, so that no
one's entry is lost to another's save.

Entries are looked up by `org_key`, a hash of the API domain and OAuth client
id: no name, URL or credential is written to the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from .._files import file_lock_sync, read_json_document, write_json_document

__all__ = ["FileLimitStore", "org_key"]

_FORMAT = 1
#: Entries older than this are forgotten: an org's edition, and its limit, change.
MAX_AGE = 30 * 24 * 3600.0


def org_key(api_domain: str, client_id: str | None) -> str:
    """Name one org's budget by a short digest of its API domain and OAuth client.

    Args:
        api_domain: The CRM API domain (``https://www.zohoapis.eu``).
        client_id: The OAuth client's id; ``None`` with a bare access token.

    Returns:
        16 hex digits: no name, URL or credential can be read back from it.
    """
    return hashlib.sha256(f"{api_domain}|{client_id or ''}".encode()).hexdigest()[:16]


class FileLimitStore:
    """Remember one in-flight limit per org key in a JSON file.

    `save` reads the file, adds its entry and replaces the file while holding
    a lock on ``<file>.lock`` (``filelock``: ``fcntl`` on POSIX, ``msvcrt`` on
    Windows), waiting up to *lock_wait* seconds for another process's save;
    it blocks its thread meanwhile, so call it off the event loop. Where no
    lock can be had it says so once, at WARNING level, and saves unlocked:
    two processes saving at the same moment may then keep only one's entry.

    Args:
        path: The JSON file; the lock file is ``<path>.lock``.
        clock: The wall clock, in epoch seconds (entries older than 30 days are forgotten).
        lock_wait: Seconds `save` waits for another process's lock.
    """

    __slots__ = ("_clock", "lock_path", "lock_wait", "path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        lock_wait: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = float(lock_wait)
        self._clock = clock  # epoch seconds: decides which entries are too old

    def __repr__(self) -> str:
        return f"FileLimitStore({str(self.path)!r})"

    def load(self, key: str) -> int | None:
        """Read the limit saved under *key*.

        Args:
            key: The org's `org_key`.

        Returns:
            The limit; ``None`` if unknown, too old, or the file is unusable.
        """
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        limit, saved_at = entry.get("limit"), entry.get("saved_at")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return None
        if not isinstance(saved_at, int | float) or self._clock() - saved_at > MAX_AGE:
            return None
        return limit

    def save(self, key: str, limit: int) -> None:
        """Remember *limit* under *key*, keeping other keys' recent entries.

        Args:
            key: The org's `org_key`.
            limit: The in-flight level learned (`FlowControl.learned_limit`).

        Raises:
            TimeoutError: Another process held the lock for over *lock_wait* seconds.
            OSError: The file could not be written.
        """
        unshared = f"saving {self.path} unlocked (another process's save may be lost)"
        with file_lock_sync(self.lock_path, poll=0.02, wait=self.lock_wait, unshared=unshared):
            self._save(key, limit)

    def _save(self, key: str, limit: int) -> None:
        now = self._clock()
        entries = {
            other: entry
            for other, entry in self._entries().items()
            if other != key
            and isinstance(entry, dict)
            and isinstance(entry.get("saved_at"), int | float)
            and now - entry["saved_at"] <= MAX_AGE
        }
        entries[key] = {"limit": int(limit), "saved_at": now}
        write_json_document(self.path, {"format": _FORMAT, "limits": entries})

    def _entries(self) -> dict[str, object]:
        limits = read_json_document(self.path, "limit store", _FORMAT).get("limits")
        return limits if isinstance(limits, dict) else {}
