"""The state of the fake Zoho org: modules, records, locks, permissions and access tokens.

`FakeOrg` is pure data and the changes a test or a request may make to it; it
parses no request and builds no answer (the endpoints do). Its access tokens
are a `Tokens` of their own. Setup mistakes, such as locking a record that does
not exist, raise `ValueError`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Literal

import attrs

from ._wire import FakeLock
from .coql_state import CoqlState
from .fields import SEED_OWNERS
from .records import FieldMaker, FieldStore
from .tokens import Tokens

__all__ = [
    "ORG_TZ",
    "STANDARD_MODULES",
    "FakeModule",
    "FakeOrg",
    "LockingMode",
]

#: A module's record locking configuration; ``None`` means it has none.
LockingMode = Literal["manual_and_automatic", "automatic_only"]
STANDARD_MODULES: tuple[str, ...] = (
    "Leads", "Accounts", "Contacts", "Deals", "Tasks", "Cases", "Solutions", "Vendors",
    "Price_Books", "Quotes", "Sales_Orders", "Purchase_Orders", "Invoices",
)  # fmt: skip
# Two standard modules differ, so that every locking configuration exists from the start.
_STANDARD_LOCKING: dict[str, LockingMode | None] = {"Cases": "automatic_only", "Invoices": None}
#: The org's time zone; not UTC on purpose, so that clients must keep offsets.
ORG_TZ = timezone(timedelta(hours=-4))

# Ids shaped like the seeds' (19 digits); each kind gets its own range.
_MODULE_ID_BASE = 5843104000000002175
_CONFIG_ID_BASE = 5843104000000758004
_RULE_ID_BASE = 5843104000001068069
_RECORD_ID_BASE = 5843104000001000000
_LOCK_ID_BASE = 5843104000002000000
_ID = re.compile(r"[0-9]{1,19}")


@attrs.frozen(slots=True)
class FakeModule:
    """A module of the fake org and its record locking configuration."""

    api_name: str
    id: str
    locking: LockingMode | None
    configuration_id: str
    #: The rule that automatic locks in this module cite.
    rule_id: str
    #: Singular display name for generated records ("Deal 17").
    singular: str


class _Ids:
    """Hands out ids above a base; an id handed out or taken is never handed out again."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._serial = 0

    def new(self, base: int) -> str:
        """Return a fresh id above *base*, now taken."""
        while True:
            self._serial += 1
            candidate = str(base + self._serial)
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate

    def take(self, value: str) -> None:
        """Mark *value* as used."""
        self._taken.add(value)

    def is_taken(self, value: str) -> bool:
        """Whether *value* was handed out or taken."""
        return value in self._taken


def _singular(api_name: str) -> str:
    words = api_name.replace("_", " ")
    return words[:-1] if words.endswith("s") else words


def _both(
    held: FakeLock,
    module: FakeModule,
    reason: str | None,
    user: tuple[str, str],
    *,
    automatic: bool,
    now: datetime,
) -> FakeLock:
    """*held* once the record is locked the other way too: source "Both", same locking id."""
    if held.source == "Both" or held.is_automatic == automatic:
        raise ValueError(f"record {held.record_id} in {module.api_name} is already locked")
    if automatic:  # a rule meets a hand lock: the hand's user and reason stay
        return attrs.evolve(held, source="Both", rule_id=module.rule_id, modified_time=now)
    return attrs.evolve(held, source="Both", reason=reason, locked_by=user, modified_time=now)


def _new_module(api_name: str, index: int, locking: LockingMode | None) -> FakeModule:
    """The *index*-th module of an org, with ids in each kind's range."""
    return FakeModule(
        api_name=api_name,
        id=str(_MODULE_ID_BASE + 2 * index),
        locking=locking,
        configuration_id=str(_CONFIG_ID_BASE + index),
        rule_id=str(_RULE_ID_BASE + index),
        singular=_singular(api_name),
    )


def _wanted_ids(ids: _Ids, count_or_ids: int | Iterable[str | int]) -> list[str]:
    """*count* fresh record ids, or the ids given once checked free (none taken yet)."""
    if isinstance(count_or_ids, int):
        if count_or_ids < 0:
            raise ValueError("count must not be negative")
        return [ids.new(_RECORD_ID_BASE) for _ in range(count_or_ids)]
    wanted = [str(value) for value in count_or_ids]
    for record_id in wanted:
        if not _ID.fullmatch(record_id) or ids.is_taken(record_id):
            raise ValueError(f"record id {record_id!r} is not a free decimal id")
    return wanted


class FakeOrg:
    """An in-memory Zoho org: modules, their records and locks, denials; tokens in `tokens`.

    Module names are case-insensitive everywhere, as in Zoho's URLs.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Create an org with the standard modules and the custom module ``Projects``.

        *clock* (seconds, any epoch) decides token expiry; *now* gives the
        timestamps written into locks (default: the wall clock in `ORG_TZ`).
        """
        #: The access tokens the org accepts; *clock* decides their expiry.
        self.tokens = Tokens(clock)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(ORG_TZ))
        #: ``False``: the edition lacks record locking (400 FEATURE_NOT_SUPPORTED).
        self.feature_supported = True
        #: ``(id, name)`` of the tokens' user (``Locked_By__s``); at first the first seed owner.
        self.user: tuple[str, str] = SEED_OWNERS[0]
        self._modules: dict[str, FakeModule] = {}
        self._records: dict[str, dict[str, str]] = {}
        self._locks: dict[str, dict[str, FakeLock]] = {}
        self._denied: set[tuple[str, str]] = set()
        self._ids = _Ids()
        #: Every record's field values, sorted by id for COQL.
        self.fields = FieldStore()
        #: The Query API's settings (offset cap) and log.
        self.coql = CoqlState()
        for name in STANDARD_MODULES:
            self.add_module(name, locking=_STANDARD_LOCKING.get(name, "manual_and_automatic"))
        self.add_module("Projects")

    # ---------------------------------------------------------------- modules

    def add_module(
        self, api_name: str, *, locking: LockingMode | None = "manual_and_automatic"
    ) -> FakeModule:
        """Add a (custom) module with the given locking configuration."""
        if api_name.lower() in self._modules:
            raise ValueError(f"module {api_name!r} already exists")
        module = _new_module(api_name, len(self._modules), locking)
        self._modules[api_name.lower()] = module
        self._records[api_name] = {}
        self._locks[api_name] = {}
        self.fields.add_module(api_name, module.singular)
        return module

    def set_locking(self, module: str, locking: LockingMode | None) -> None:
        """Change a module's locking configuration (``None``: not configured)."""
        found = self.module(module)
        self._modules[found.api_name.lower()] = attrs.evolve(found, locking=locking)

    def module(self, name: str) -> FakeModule:
        """Return the module called *name* (case-insensitive), else raise `ValueError`."""
        found = self.find_module(name)
        if found is None:
            raise ValueError(f"no module {name!r} in the fake org")
        return found

    def find_module(self, name: str) -> FakeModule | None:
        """Return the module called *name* (case-insensitive), or ``None``."""
        return self._modules.get(name.lower())

    @property
    def modules(self) -> dict[str, FakeModule]:
        """Every module, by canonical API name."""
        return {module.api_name: module for module in self._modules.values()}

    # ---------------------------------------------------------------- records

    def add_records(
        self,
        module: str,
        count_or_ids: int | Iterable[str | int],
        *,
        fields: FieldMaker | None = None,
    ) -> list[str]:
        """Create records: *count* new ones with generated ids, or the ids given.

        Their field values are seeded (`zoho_locking.testing.fields`); *fields*,
        called with 0, 1, ... for the records created, gives values to set over them.
        """
        found = self.module(module)
        records = self._records[found.api_name]
        wanted = _wanted_ids(self._ids, count_or_ids)
        table = self.fields.table(found.api_name)
        rows = table.prepare(wanted, fields)  # a bad value raises before any change
        for record_id in wanted:
            self._ids.take(record_id)
            records[record_id] = f"{found.singular} {len(records) + 1}"
        table.insert(rows)
        return wanted

    def record_ids(self, module: str) -> list[str]:
        """Return the ids of a module's records, oldest first."""
        return list(self._records[self.module(module).api_name])

    def has_record(self, module: str, record_id: str) -> bool:
        """Whether *module* holds a record with this id."""
        return str(record_id) in self._records[self.module(module).api_name]

    def deny(self, module: str, record_id: str) -> None:
        """Make the user lack permission on a record: writes answer 403 NO_PERMISSION."""
        found = self.module(module)
        if str(record_id) not in self._records[found.api_name]:
            raise ValueError(f"no record {record_id} in {found.api_name}")
        self._denied.add((found.api_name, str(record_id)))

    def allow(self, module: str, record_id: str) -> None:
        """Undo `deny`."""
        self._denied.discard((self.module(module).api_name, str(record_id)))

    def is_denied(self, module: str, record_id: str) -> bool:
        """Whether `deny` took the user's permission on this record."""
        return (self.module(module).api_name, str(record_id)) in self._denied

    # ------------------------------------------------------------------ locks

    def lock_record(
        self, module: str, record_id: str, reason: str | None, *, automatic: bool
    ) -> FakeLock:
        """Place a new lock on a record, by the user or (*automatic*) by a rule; return it."""
        found = self.module(module)
        record_id = str(record_id)
        records = self._records[found.api_name]
        if record_id not in records:
            raise ValueError(f"no record {record_id} in {found.api_name}")
        held = self._locks[found.api_name].get(record_id)
        if held is not None:  # locked the other way too: one lock, of source "Both"
            both = _both(held, found, reason, self.user, automatic=automatic, now=self.now())
            self._locks[found.api_name][record_id] = both
            return both
        moment = self.now()
        lock_id = self._ids.new(_LOCK_ID_BASE)
        lock = FakeLock(
            id=lock_id,
            module=found.api_name,
            record_id=record_id,
            record_name=records[record_id],
            reason=reason,
            source="Automatic" if automatic else "Manual",
            locked_time=moment,
            modified_time=moment,
            configuration_id=found.configuration_id,
            rule_id=found.rule_id if automatic else None,
            locked_by=None if automatic else self.user,
        )
        self._locks[found.api_name][record_id] = lock
        return lock

    def unlock_by_hand(self, module: str, record_id: str) -> None:
        """Remove a record's manual lock, as a DELETE does; a "Both" lock stays, automatic."""
        locks = self._locks[self.module(module).api_name]
        lock = locks.pop(str(record_id), None)
        if lock is not None and lock.source == "Both":  # the rule still holds the record
            kept = attrs.evolve(lock, source="Automatic", reason=None, locked_by=None)
            locks[lock.record_id] = attrs.evolve(kept, modified_time=self.now())

    def manual_lock(self, module: str, record_id: str, reason: str = "locked by a test") -> str:
        """Lock a record by hand (an automatic lock becomes "Both"); return the locking id."""
        return self.lock_record(module, record_id, reason, automatic=False).id

    def auto_lock(self, module: str, record_id: str) -> str:
        """Lock a record as a rule would (a manual lock becomes "Both"); return the locking id."""
        found = self.module(module)
        if found.locking is None:
            raise ValueError(f"module {found.api_name} has no record locking configuration")
        return self.lock_record(found.api_name, record_id, None, automatic=True).id

    def change_reason(self, module: str, record_id: str, reason: str) -> FakeLock:
        """Give a record's lock a new reason, as a PUT does, and return the changed lock."""
        found = self.module(module)
        locks = self._locks[found.api_name]
        lock = locks.get(str(record_id))
        if lock is None:
            raise ValueError(f"record {record_id} in {found.api_name} is not locked")
        changed = attrs.evolve(lock, reason=reason, modified_time=self.now())
        locks[str(record_id)] = changed
        return changed

    def clear_lock(self, module: str, record_id: str) -> None:
        """Remove a record's lock, manual or automatic, if any."""
        self._locks[self.module(module).api_name].pop(str(record_id), None)

    def locks(self, module: str) -> dict[str, FakeLock]:
        """Return a module's locks by record id (a copy)."""
        return dict(self._locks[self.module(module).api_name])

    def lock_of(self, module: str, record_id: str) -> FakeLock | None:
        """Return the lock a record holds, or ``None``."""
        return self._locks[self.module(module).api_name].get(str(record_id))
