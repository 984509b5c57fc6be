"""What a run learned about an org's in-flight limit, kept for the next run.

A run that starts below the org's limit wastes its first seconds climbing; one
that starts above it collects a burst of 429s. `FlowControl.learned_limit` is
the level a run found the server to take; `FileLimitStore` keeps it in a small
JSON file (mode 0600, replaced atomically) so that the next run of a script
starts there (``FlowControl(initial_limit=...)``). The CLI keeps this file
beside its token store. (A `RedisFlow` needs none: its limit lives in Redis.)

Entries are looked up by `org_key`, a hash of the API domain and OAuth client
id: no name, URL or credential is written to the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from .._files import read_json_document, write_json_document

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

    Args:
        path: The JSON file.
        clock: The wall clock, in epoch seconds (entries older than 30 days are forgotten).
    """

    __slots__ = ("_clock", "path")

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
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
        """
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
