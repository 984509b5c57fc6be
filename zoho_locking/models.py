"""Values the Record Locking Information API returns, as frozen attrs classes.

Field names are Pythonic; `zoho_locking.converter` maps them to Zoho's wire
names (``Locked_By__s`` and friends). Unknown keys in an answer are ignored, so
new fields that Zoho adds never break parsing.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "ActionResult",
    "LockInfo",
    "LockSource",
    "LockedFor",
    "ModuleRef",
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
