"""The library's values, as frozen attrs classes and enums.

What the Record Locking Information API returns (`LockInfo`, `ActionResult`
and their parts): field names are Pythonic; `zoho_locking.wire.converter` maps
them to Zoho's wire names (``Locked_By__s`` and friends), and unknown keys in
an answer are ignored, so new fields that Zoho adds never break parsing.

What the library does and what came of it: an `Operation` (lock, unlock,
update, get) with everything each layer needs to know of it, the `Outcome` of
one record and the `RunStop` of a bulk run.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

import attrs

__all__ = [
    "FAILED",
    "RETRYABLE_CODES",
    "SKIPPED",
    "SUCCEEDED",
    "UNFINISHED",
    "ActionResult",
    "LockInfo",
    "LockSource",
    "LockedFor",
    "ModuleRef",
    "Operation",
    "Outcome",
    "RunStop",
    "UserRef",
]


class LockSource(enum.Enum):
    """How a record came to be locked."""

    MANUAL = "Manual"
    AUTOMATIC = "Automatic"
    BOTH = "Both"


@attrs.frozen(slots=True)
class UserRef:
    """A CRM user, as in ``Locked_By__s``."""

    id: str
    name: str | None = None


@attrs.frozen(slots=True)
class ModuleRef:
    """A CRM module, as in ``Locked_For__s.module``."""

    api_name: str
    id: str | None = None


@attrs.frozen(slots=True)
class LockedFor:
    """The locked record: its id, display name and module."""

    id: str
    name: str | None = None
    module: ModuleRef | None = None


@attrs.frozen(slots=True)
class LockInfo:
    """One record's locking information (a ``Locking_Information__s`` record)."""

    #: The locking id: what update and unlock need.
    id: str
    locked_for: LockedFor | None = None
    #: ``None`` for automatic locks.
    locked_by: UserRef | None = None
    #: ``None`` for automatic locks.
    locked_reason: str | None = None
    lock_source: LockSource | None = None
    #: Always timezone-aware.
    locked_time: datetime | None = None
    configuration_id: str | None = None
    #: ``None`` for manual locks.
    rule_id: str | None = None
    feature_type: str | None = None
    editable: bool | None = None
    sharing_permission: str | None = None

    @property
    def is_automatic(self) -> bool:
        """Whether the lock was placed by a locking rule (and so cannot be removed by hand)."""
        return self.lock_source is LockSource.AUTOMATIC


@attrs.frozen(slots=True)
class ActionResult:
    """Zoho's answer to a lock, update or unlock: one ``SUCCESS`` item of ``data``."""

    #: The locking id the action created, changed or removed.
    id: str
    code: str = "SUCCESS"
    message: str = ""
    status: str = "success"
    http_status: int = 200
    details: dict[str, Any] = attrs.field(factory=dict)


# -- what the library does, and what came of it ----------------------------------------


class Operation(enum.StrEnum):
    """What a bulk run does to each record; every layer asks it, none compares strings.

    Its value is the name reports and journals carry (``"lock"``); the
    command line calls `GET` ``status``.
    """

    LOCK = "lock"
    UNLOCK = "unlock"
    UPDATE = "update"
    GET = "get"

    @property
    def method(self) -> str:
        """The HTTP method of the operation's own request."""
        return _METHODS[self]

    @property
    def needs_reason(self) -> bool:
        """Whether it takes a lock reason (lock and update)."""
        return self is Operation.LOCK or self is Operation.UPDATE

    @property
    def takes_locking_id(self) -> bool:
        """Whether items may be ``(record_id, locking_id)`` pairs (unlock and update)."""
        return self is Operation.UNLOCK or self is Operation.UPDATE

    @property
    def journals_intent(self) -> bool:
        """Whether a journal notes each write before it is sent (lock and unlock).

        A lock or unlock that landed but whose answer was lost is refused when
        sent again, so a resumed run must know it may have landed; an update
        (PUT) sent again simply sets the same reason.
        """
        return self is Operation.LOCK or self is Operation.UNLOCK

    @property
    def holds_locks(self) -> bool:
        """Whether its successes name a lock the record held at the end (all but unlock)."""
        return self is not Operation.UNLOCK

    @property
    def not_locked_status(self) -> str:
        """A record found not locked is: skipped (unlock), failed (update), a result (get)."""
        if self is Operation.UNLOCK:
            return SKIPPED
        return SUCCEEDED if self is Operation.GET else FAILED

    def requests_per_record(self, *, locking_ids: bool = False) -> int:
        """Count the requests one record costs when all goes well, look-ups included.

        Args:
            locking_ids: Whether the records come with their locking ids (then an
                unlock or update needs no GET first).

        Returns:
            1, or 2 for an unlock or update that must look its lock up first.
        """
        if self.takes_locking_id and not locking_ids:
            return 2  # a GET to find the lock, then the write
        return 1


_METHODS: dict[Operation, str] = {
    Operation.LOCK: "POST",
    Operation.UNLOCK: "DELETE",
    Operation.UPDATE: "PUT",
    Operation.GET: "GET",
}

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
#: Taken by a run that stopped before finishing it: a later run must do it.
UNFINISHED: Final = "unfinished"

#: Failure codes that another run may well fix: faults, throttling, cancellation.
RETRYABLE_CODES = frozenset(
    {
        "TRANSPORT_ERROR",
        "TIMEOUT",
        "UNEXPECTED_RESPONSE",
        "TOO_MANY_REQUESTS",
        "INTERNAL_ERROR",
        "INVALID_TOKEN",
        "CANCELLED",
        "UNCERTAIN",
        "HTTP_500",
        "HTTP_502",
        "HTTP_503",
        "HTTP_504",
    }
)


@attrs.frozen(slots=True)
class Outcome:
    """The final word on one record."""

    record_id: str
    #: ``succeeded``, ``failed``, ``skipped`` (already as the user wanted), or
    #: ``unfinished`` (the run stopped before finishing it).
    status: str
    #: ``SUCCESS``, Zoho's error code, or a client-side code such as ``TIMEOUT``.
    code: str
    message: str = ""
    http_status: int | None = None
    locking_id: str | None = None
    attempts: int = 0

    @property
    def retryable(self) -> bool:
        """Whether a later run should do this record: unfinished, or a failure it may fix."""
        return self.status == UNFINISHED or (
            self.status == FAILED and self.code in RETRYABLE_CODES
        )


@attrs.frozen(slots=True)
class RunStop:
    """Why and when a bulk run stopped before its end (a run-wide failure)."""

    #: Zoho's code (``INVALID_MODULE``, ``INVALID_TOKEN``, ...) or the client's
    #: (``CREDITS_EXHAUSTED``, ``THROTTLED_TOO_LONG``, ``MAX_REQUESTS``).
    code: str
    message: str
    http_status: int | None = None
    #: When, as ISO 8601 in UTC.
    at: str = ""
