"""A sans-I/O fake of Zoho CRM's Record Locking Information API.

`FakeCRM` holds an in-memory org (modules, records, locks, access tokens) and
answers one request at a time with `FakeCRM.handle`; it opens no socket. The
aiohttp adapter in `zoho_locking.testing.server` puts it on loopback.

Checks run in the order a request meets them at Zoho: faults injected in
front of the CRM, authentication, URL pattern, method, OAuth scope, edition,
parameters, module, record, permission, then the operation itself.
"""

from __future__ import annotations

import collections
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import ClassVar, Literal

import attrs

from ._faults import Faults
from ._wire import (
    LOCKING_MODULE,
    FakeAnswer,
    FakeLock,
    RecordedRequest,
    Rejected,
    action_answer,
    canned,
    empty_answer,
    html_answer,
    iso,
    lock_answer,
    lock_json,
    locks_answer,
    read_reason,
)

__all__ = [
    "FakeAnswer",
    "FakeCRM",
    "FakeLock",
    "FakeModule",
    "Faults",
    "LockingMode",
    "RecordedRequest",
    "STANDARD_MODULES",
]

#: A module's record locking configuration; ``None`` means it has none.
LockingMode = Literal["manual_and_automatic", "automatic_only"]
STANDARD_MODULES: tuple[str, ...] = (
    "Leads", "Accounts", "Contacts", "Deals", "Tasks", "Cases", "Solutions", "Vendors",
    "Price_Books", "Quotes", "Sales_Orders", "Purchase_Orders", "Invoices",
)  # fmt: skip
#: The org's time zone; not UTC on purpose, so that clients must keep offsets.
ORG_TZ = timezone(timedelta(hours=-4))

# Ids shaped like the seeds' (19 digits); each kind gets its own range.
_MODULE_ID_BASE = 5843104000000002175
_CONFIG_ID_BASE = 5843104000000758004
_RULE_ID_BASE = 5843104000001068069
_RECORD_ID_BASE = 5843104000001000000
_LOCK_ID_BASE = 5843104000002000000
_USER = ("5843104000000424672", "Patricia Boyle")

_VERSIONS = frozenset({"v5", "v6", "v7", "v8"})
_FIELDS_REQUIRED = frozenset({"v5", "v6", "v7"})
_PATH = re.compile(
    r"/crm/(?P<version>[^/]+)/(?P<module>[^/]+)/(?P<record>[^/]+)/(?P<related>[^/]+)"
    r"(?:/(?P<lock>[^/]+))?/?"
)
_ID = re.compile(r"[0-9]{1,19}")
_OPERATIONS = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}
_SCOPE_PREFIX = "ZOHOCRM.MODULES.LOCKINGINFORMATION."
_DROP = FakeAnswer(0, drop=True)


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


@attrs.frozen(slots=True)
class _Token:
    expires_at: float | None
    scopes: frozenset[str] | None


def _singular(api_name: str) -> str:
    words = api_name.replace("_", " ")
    return words[:-1] if words.endswith("s") else words


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Plain dicts from callers are case-sensitive; HTTP header names are not.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class FakeCRM:
    """An in-memory Zoho org that answers Record Locking Information requests.

    Setup methods (`add_records`, `auto_lock`, `deny`, `add_token`, ...) change
    the org directly; `handle` answers one HTTP request; `locks`, `lock_of`,
    `requests`, `status_counts` and `writes_applied` let tests look inside.
    """

    #: Valid forever unless ``FakeCRM(default_token=False)``.
    DEFAULT_TOKEN: ClassVar[str] = "fake-access-token"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        faults: Faults | None = None,
        default_token: bool = True,
        record_requests: bool = True,
    ) -> None:
        """Create an org with the standard modules and the custom module ``Projects``.

        *clock* (seconds, any epoch) decides token expiry; *now* gives the
        timestamps written into locks (default: the wall clock in `ORG_TZ`).
        ``record_requests=False`` keeps `requests` empty, for long standalone runs.
        """
        self.clock = clock
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(ORG_TZ))
        self.faults = faults or Faults()
        #: ``False`` answers every call with 400 FEATURE_NOT_SUPPORTED.
        self.feature_supported = True
        #: ``(id, name)`` of the user the tokens belong to, shown in ``Locked_By__s``.
        self.user: tuple[str, str] = _USER
        #: Every request `handle` saw, in order.
        self.requests: list[RecordedRequest] = []
        self.record_requests = record_requests
        #: How many answers of each HTTP status were given (drops not counted).
        self.status_counts: collections.Counter[int] = collections.Counter()
        #: Successful lock, update and unlock operations, including those whose answer was lost.
        self.writes_applied = 0
        self._modules: dict[str, FakeModule] = {}
        self._records: dict[str, dict[str, str]] = {}
        self._locks: dict[str, dict[str, FakeLock]] = {}
        self._denied: set[tuple[str, str]] = set()
        self._tokens: dict[str, _Token] = {}
        self._taken_ids: set[str] = set()
        self._serial = 0
        for name in STANDARD_MODULES:
            mode: LockingMode | None = "manual_and_automatic"
            if name == "Cases":
                mode = "automatic_only"
            elif name == "Invoices":
                mode = None
            self.add_module(name, locking=mode)
        self.add_module("Projects")
        if default_token:
            self.add_token(self.DEFAULT_TOKEN)

    # ------------------------------------------------------------------ setup

    def add_module(
        self, api_name: str, *, locking: LockingMode | None = "manual_and_automatic"
    ) -> FakeModule:
        """Add a (custom) module with the given locking configuration."""
        if api_name.lower() in self._modules:
            raise ValueError(f"module {api_name!r} already exists")
        index = len(self._modules)
        module = FakeModule(
            api_name=api_name,
            id=str(_MODULE_ID_BASE + 2 * index),
            locking=locking,
            configuration_id=str(_CONFIG_ID_BASE + index),
            rule_id=str(_RULE_ID_BASE + index),
            singular=_singular(api_name),
        )
        self._modules[api_name.lower()] = module
        self._records[api_name] = {}
        self._locks[api_name] = {}
        return module

    def set_locking(self, module: str, locking: LockingMode | None) -> None:
        """Change a module's locking configuration (``None``: not configured)."""
        found = self.module(module)
        self._modules[found.api_name.lower()] = attrs.evolve(found, locking=locking)

    def module(self, name: str) -> FakeModule:
        """Return the module called *name* (case-insensitive), else raise `ValueError`."""
        try:
            return self._modules[name.lower()]
        except KeyError:
            raise ValueError(f"no module {name!r} in the fake org") from None

    @property
    def modules(self) -> dict[str, FakeModule]:
        """Every module, by canonical API name."""
        return {module.api_name: module for module in self._modules.values()}

    def add_records(self, module: str, count_or_ids: int | Iterable[str | int]) -> list[str]:
        """Create records: *count* new ones with generated ids, or the ids given."""
        found = self.module(module)
        records = self._records[found.api_name]
        if isinstance(count_or_ids, int):
            if count_or_ids < 0:
                raise ValueError("count must not be negative")
            wanted: list[str] = [self._next_id(_RECORD_ID_BASE) for _ in range(count_or_ids)]
        else:
            wanted = [str(value) for value in count_or_ids]
            for record_id in wanted:
                if not _ID.fullmatch(record_id) or record_id in self._taken_ids:
                    raise ValueError(f"record id {record_id!r} is not a free decimal id")
        for record_id in wanted:
            self._taken_ids.add(record_id)
            records[record_id] = f"{found.singular} {len(records) + 1}"
        return wanted

    def record_ids(self, module: str) -> list[str]:
        """Return the ids of a module's records, oldest first."""
        return list(self._records[self.module(module).api_name])

    def manual_lock(self, module: str, record_id: str, reason: str = "locked by a test") -> str:
        """Lock a record by hand, as a POST would, and return the locking id."""
        return self._place(self.module(module), str(record_id), reason, automatic=False).id

    def auto_lock(self, module: str, record_id: str) -> str:
        """Lock a record as a locking rule would (no user, no reason); return the locking id."""
        found = self.module(module)
        if found.locking is None:
            raise ValueError(f"module {found.api_name} has no record locking configuration")
        return self._place(found, str(record_id), None, automatic=True).id

    def clear_lock(self, module: str, record_id: str) -> None:
        """Remove a record's lock, manual or automatic, if any (setup only: no request)."""
        self._locks[self.module(module).api_name].pop(str(record_id), None)

    def deny(self, module: str, record_id: str) -> None:
        """Make the user lack permission on a record: writes answer 403 NO_PERMISSION."""
        found = self.module(module)
        if str(record_id) not in self._records[found.api_name]:
            raise ValueError(f"no record {record_id} in {found.api_name}")
        self._denied.add((found.api_name, str(record_id)))

    def allow(self, module: str, record_id: str) -> None:
        """Undo `deny`."""
        self._denied.discard((self.module(module).api_name, str(record_id)))

    def add_token(
        self,
        token: str,
        *,
        expires_at: float | None = None,
        scopes: frozenset[str] | None = None,
    ) -> None:
        """Accept *token* until ``clock() >= expires_at`` with *scopes* (``None``: all)."""
        self._tokens[token] = _Token(expires_at, scopes)

    def mint_token(self, lifetime: float, scopes: frozenset[str] | None = None) -> str:
        """Create and return a fresh random token that expires *lifetime* seconds from now."""
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.add_token(token, expires_at=self.clock() + lifetime, scopes=scopes)
        return token

    def revoke_token(self, token: str) -> None:
        """Stop accepting *token* (answers 401 INVALID_TOKEN from now on)."""
        self._tokens.pop(token, None)

    # ------------------------------------------------------------- inspection

    def locks(self, module: str) -> dict[str, FakeLock]:
        """Return a module's locks by record id (a copy)."""
        return dict(self._locks[self.module(module).api_name])

    def lock_of(self, module: str, record_id: str) -> FakeLock | None:
        """Return the lock a record holds, or ``None``."""
        return self._locks[self.module(module).api_name].get(str(record_id))

    # --------------------------------------------------------------- requests

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> FakeAnswer:
        """Answer one request: *path* is the URL path, *query* its decoded parameters."""
        method = method.upper()
        fault = self.faults.before()
        if fault is not None:
            answer = _fault_answer(fault)
        else:
            try:
                answer = self._dispatch(method, path, query, headers, body)
            except Rejected as rejected:
                answer = rejected.answer
            if method in ("POST", "PUT", "DELETE") and answer.status < 300:
                self.writes_applied += 1
                # Only applied writes lose their answer: a retry then meets the
                # changed org (e.g. "record is already locked"), as at Zoho.
                fault = self.faults.after(method)
                if fault is not None:
                    answer = _fault_answer(fault)
        status = None if answer.drop else answer.status
        if status is not None:
            self.status_counts[status] += 1
        if self.record_requests:
            entry = RecordedRequest(method, path, dict(query), status, answer.drop, fault)
            self.requests.append(entry)
        return answer

    def _dispatch(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> FakeAnswer:
        token = self._authenticate(headers)
        match = _PATH.fullmatch(path)
        if (
            match is None
            or match["version"] not in _VERSIONS
            or match["related"].lower() != LOCKING_MODULE.lower()
        ):
            raise Rejected.named("bad_url")
        locking_id: str | None = match["lock"]
        allowed = ("GET", "PUT", "DELETE") if locking_id is not None else ("GET", "POST")
        if method not in allowed:
            raise Rejected.named("bad_method")
        _authorize(token, _OPERATIONS[method])
        if not self.feature_supported:
            raise Rejected.named("no_feature")
        listing = method == "GET" and locking_id is None
        if listing and match["version"] in _FIELDS_REQUIRED and not query.get("fields"):
            raise Rejected.named("no_fields")
        module = self._resolve_module(match["module"])
        record_id = match["record"]
        self._require_record(module, record_id)
        if method != "GET" and (module.api_name, record_id) in self._denied:
            raise Rejected.named("no_permission")
        if method == "POST":
            return self._lock(module, record_id, body)
        lock = self._locks[module.api_name].get(record_id)
        if locking_id is None:
            return locks_answer([] if lock is None else [lock_json(lock, module.id)])
        if lock is None or lock.id != locking_id:
            raise Rejected.named("bad_lock")
        if method == "GET":
            return lock_answer(lock_json(lock, module.id))
        if lock.is_automatic:
            raise Rejected.named("automatic_update" if method == "PUT" else "automatic_unlock")
        if method == "PUT":
            changed = attrs.evolve(lock, reason=read_reason(body), modified_time=self.now())
            self._locks[module.api_name][record_id] = changed
            return action_answer(200, "relation updated", {"id": lock.id})
        del self._locks[module.api_name][record_id]
        return action_answer(200, "relation removed", {"id": lock.id})

    def _authenticate(self, headers: Mapping[str, str]) -> _Token:
        value = _header(headers, "authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "zoho-oauthtoken" or not token:
            raise Rejected.named("no_auth")
        found = self._tokens.get(token)
        if found is None or (found.expires_at is not None and self.clock() >= found.expires_at):
            raise Rejected.named("bad_token")
        return found

    def _resolve_module(self, name: str) -> FakeModule:
        module = self._modules.get(name.lower())
        if module is None:
            raise Rejected.named("bad_module")
        if module.locking is None:
            raise Rejected.named("no_config")
        return module

    def _require_record(self, module: FakeModule, record_id: str) -> None:
        if record_id not in self._records[module.api_name]:
            raise Rejected.named("bad_record")

    def _next_id(self, base: int) -> str:
        while True:
            self._serial += 1
            candidate = str(base + self._serial)
            if candidate not in self._taken_ids:
                return candidate

    def _place(
        self, module: FakeModule, record_id: str, reason: str | None, *, automatic: bool
    ) -> FakeLock:
        records = self._records[module.api_name]
        if record_id not in records:
            raise ValueError(f"no record {record_id} in {module.api_name}")
        if record_id in self._locks[module.api_name]:
            raise ValueError(f"record {record_id} in {module.api_name} is already locked")
        moment = self.now()
        lock_id = self._next_id(_LOCK_ID_BASE)
        self._taken_ids.add(lock_id)
        lock = FakeLock(
            id=lock_id,
            module=module.api_name,
            record_id=record_id,
            record_name=records[record_id],
            reason=reason,
            source="Automatic" if automatic else "Manual",
            locked_time=moment,
            modified_time=moment,
            configuration_id=module.configuration_id,
            rule_id=module.rule_id if automatic else None,
            locked_by=None if automatic else self.user,
        )
        self._locks[module.api_name][record_id] = lock
        return lock

    def _lock(self, module: FakeModule, record_id: str, body: bytes) -> FakeAnswer:
        if module.locking == "automatic_only":
            raise Rejected.named("automatic_only")
        reason = read_reason(body)
        if record_id in self._locks[module.api_name]:
            raise Rejected.named("already_locked")
        lock = self._place(module, record_id, reason, automatic=False)
        when = iso(lock.locked_time)
        user = {"name": self.user[1], "id": self.user[0]}
        details = {
            "Modified_Time": when,
            "Modified_By": user,
            "Created_Time": when,
            "id": lock.id,
            "Created_By": dict(user),
        }
        return action_answer(201, "record added", details)


def _authorize(token: _Token, operation: str) -> None:
    if token.scopes is None:
        return
    # Zoho's docs spell scopes in several cases ("Delete", "DELETE"); compare folded.
    held = {scope.upper() for scope in token.scopes}
    if not held & {_SCOPE_PREFIX + operation, _SCOPE_PREFIX + "ALL"}:
        raise Rejected.named("scope")


def _fault_answer(fault: str) -> FakeAnswer:
    if fault in ("drop", "applied_drop"):
        return _DROP
    if fault == "html_502":
        return html_answer(502)
    if fault == "empty_503":
        return empty_answer(503)
    return canned("internal")
