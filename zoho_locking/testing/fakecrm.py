"""A sans-I/O fake of Zoho CRM's Record Locking Information API.

`FakeCRM` owns an in-memory org (`FakeOrg`: modules, records, locks, access
tokens) and answers one request at a time with `FakeCRM.handle`; it opens no
socket. The aiohttp adapter in `zoho_locking.testing.server` puts it on loopback.

Checks run in the order a request meets them at Zoho: faults injected in
front of the CRM (`Faults`), authentication and the URL pattern (`Router`),
then the endpoint's own: method, OAuth scope, edition, parameters, module,
record, permission, then the operation itself (`LockingEndpoint`).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

import attrs

from ._faults import Faults, fault_answer
from ._wire import FakeAnswer, FakeLock, RecordedRequest
from .coql_endpoint import CoqlEndpoint
from .credits import Credits, stamped
from .crm_records import RecordsSetup
from .locking_endpoint import LockingEndpoint
from .meta_endpoints import META_ENDPOINTS
from .org import ORG_TZ, STANDARD_MODULES, FakeModule, FakeOrg, LockingMode
from .routing import Endpoint, Router

__all__ = [
    "ENDPOINTS",
    "FakeAnswer",
    "FakeCRM",
    "FakeLock",
    "FakeModule",
    "Faults",
    "LockingMode",
    "ORG_TZ",
    "RecordedRequest",
    "STANDARD_MODULES",
]

#: The route table: every endpoint the fake CRM serves, tried in this order.
ENDPOINTS: tuple[Endpoint, ...] = (LockingEndpoint(), CoqlEndpoint())
_WRITES = ("POST", "PUT", "DELETE")
# The metadata that Zoho's SDKs read before any locking call: fields, users, org.
ENDPOINTS += META_ENDPOINTS


class FakeCRM(RecordsSetup):
    """An in-memory Zoho org that answers Record Locking Information requests.

    Its records carry field values and it answers COQL queries (`RecordsSetup`).

    Setup methods (`add_records`, `auto_lock`, `deny`, `add_token`, ...) change
    the org directly; `handle` answers one HTTP request; `locks`, `lock_of`,
    `requests`, `status_counts` and `writes_applied` let tests look inside.
    The org itself is `org`; the setup and inspection methods delegate to it.
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
        credits: int | None = None,
    ) -> None:
        """Create an org with the standard modules and the custom module ``Projects``.

        *clock* (seconds, any epoch) decides token expiry; *now* gives the
        timestamps written into locks (default: the wall clock in `ORG_TZ`).
        ``record_requests=False`` keeps `requests` empty, for long standalone runs.
        *credits* gives the org a daily allowance of API calls (`Credits`):
        each answered call costs one, and every answer carries the limit headers.

        Args:
            clock: The org's clock, in seconds, any epoch: decides token expiry.
            now: What gives the timestamps written into locks.
            faults: The faults to inject (default: none).
            default_token: Accept `DEFAULT_TOKEN`, valid forever.
            record_requests: Keep every request in `requests`.
            credits: The org's daily API credits; ``None``: unlimited.
        """
        #: The state: modules, records, locks, permissions and tokens.
        self.org = FakeOrg(clock=clock, now=now)
        self.faults = faults or Faults()
        #: Every request `handle` saw, in order.
        self.requests: list[RecordedRequest] = []
        self.record_requests = record_requests
        #: How many answers of each HTTP status were given (drops not counted).
        self.status_counts: collections.Counter[int] = collections.Counter()
        #: Successful lock, update and unlock operations, including those whose answer was lost.
        self.writes_applied = 0
        #: The org's daily API credits; ``None``: unlimited, and no limit headers.
        self.credits = Credits(credits, clock=lambda: self.clock()) if credits is not None else None
        self._router = Router(ENDPOINTS)
        if default_token:
            self.add_token(self.DEFAULT_TOKEN)

    # ------------------------------------------------- the org's clocks, edition, user

    @property
    def clock(self) -> Callable[[], float]:
        """The org's clock (seconds, any epoch), which decides token expiry."""
        return self.org.tokens.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.org.tokens.clock = clock

    @property
    def now(self) -> Callable[[], datetime]:
        """What gives the timestamps written into locks."""
        return self.org.now

    @now.setter
    def now(self, now: Callable[[], datetime]) -> None:
        self.org.now = now

    @property
    def feature_supported(self) -> bool:
        """``False`` answers every call with 400 FEATURE_NOT_SUPPORTED."""
        return self.org.feature_supported

    @feature_supported.setter
    def feature_supported(self, supported: bool) -> None:
        self.org.feature_supported = supported

    @property
    def user(self) -> tuple[str, str]:
        """``(id, name)`` of the user the tokens belong to, shown in ``Locked_By__s``."""
        return self.org.user

    @user.setter
    def user(self, user: tuple[str, str]) -> None:
        self.org.user = user

    # ------------------------------------------------------------------ setup

    def add_module(
        self, api_name: str, *, locking: LockingMode | None = "manual_and_automatic"
    ) -> FakeModule:
        """Add a (custom) module with the given locking configuration.

        Args:
            api_name: The module's API name (``Projects``).
            locking: Its record locking configuration; ``None``: not configured.

        Returns:
            The new module.
        """
        return self.org.add_module(api_name, locking=locking)

    def set_locking(self, module: str, locking: LockingMode | None) -> None:
        """Change a module's locking configuration.

        Args:
            module: The module's API name (case-insensitive).
            locking: The configuration; ``None``: not configured (400 answers).
        """
        self.org.set_locking(module, locking)

    def module(self, name: str) -> FakeModule:
        """Return the module called *name* (case-insensitive).

        Args:
            name: The module's API name.

        Returns:
            The module.

        Raises:
            ValueError: The org has no such module.
        """
        return self.org.module(name)

    @property
    def modules(self) -> dict[str, FakeModule]:
        """Every module, by canonical API name."""
        return self.org.modules

    def record_ids(self, module: str) -> list[str]:
        """Return the ids of a module's records, oldest first.

        Args:
            module: The module's API name (case-insensitive).

        Returns:
            The ids, as text.
        """
        return self.org.record_ids(module)

    def manual_lock(self, module: str, record_id: str, reason: str = "locked by a test") -> str:
        """Lock a record by hand, as a POST would, and return the locking id.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.
            reason: The lock's reason.

        Returns:
            The new lock's locking id.
        """
        return self.org.manual_lock(module, record_id, reason)

    def auto_lock(self, module: str, record_id: str) -> str:
        """Lock a record as a locking rule would (no user, no reason); return the locking id.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.

        Returns:
            The new lock's locking id.
        """
        return self.org.auto_lock(module, record_id)

    def clear_lock(self, module: str, record_id: str) -> None:
        """Remove a record's lock, manual or automatic, if any (setup only: no request).

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.
        """
        self.org.clear_lock(module, record_id)

    def deny(self, module: str, record_id: str) -> None:
        """Make the user lack permission on a record: writes answer 403 NO_PERMISSION.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.
        """
        self.org.deny(module, record_id)

    def allow(self, module: str, record_id: str) -> None:
        """Undo `deny`.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.
        """
        self.org.allow(module, record_id)

    def add_token(
        self,
        token: str,
        *,
        expires_at: float | None = None,
        scopes: frozenset[str] | None = None,
        user_active: bool = True,
    ) -> None:
        """Accept *token* until ``clock() >= expires_at`` with *scopes*.

        Args:
            token: The access token to accept.
            expires_at: When it expires, on `clock`; ``None``: never.
            scopes: The OAuth scopes it carries; ``None``: all.
            user_active: ``False``: the token of a deactivated user (401
                AUTHENTICATION_FAILURE).
        """
        self.org.tokens.add(token, expires_at=expires_at, scopes=scopes, user_active=user_active)

    def mint_token(self, lifetime: float, scopes: frozenset[str] | None = None) -> str:
        """Create and return a fresh random token that expires *lifetime* seconds from now.

        Args:
            lifetime: Seconds it stays valid, on `clock`.
            scopes: The OAuth scopes it carries; ``None``: all.

        Returns:
            The token.
        """
        return self.org.tokens.mint(lifetime, scopes)

    def revoke_token(self, token: str) -> None:
        """Stop accepting *token* (answers 401 INVALID_TOKEN from now on).

        Args:
            token: The access token to revoke.
        """
        self.org.tokens.revoke(token)

    # ------------------------------------------------------------- inspection

    def locks(self, module: str) -> dict[str, FakeLock]:
        """Return a module's locks by record id (a copy).

        Args:
            module: The module's API name (case-insensitive).

        Returns:
            Each locked record's lock, by record id.
        """
        return self.org.locks(module)

    def lock_of(self, module: str, record_id: str) -> FakeLock | None:
        """Return the lock a record holds, or ``None``.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.

        Returns:
            The lock, or ``None`` if the record is not locked.
        """
        return self.org.lock_of(module, record_id)

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
            answer = stamped(self.credits, fault_answer(fault))
        elif self.credits is not None and not self.credits.spend():
            answer = self.credits.exhausted_answer()
        else:
            answer = self._router.answer(self.org, method, path, query, headers, body)
            if self.credits is not None:
                self.credits.charge(answer.cost - 1)
                answer = attrs.evolve(answer, headers={**answer.headers, **self.credits.headers()})
            if method in _WRITES and answer.status < 300 and not answer.read:
                self.writes_applied += 1
                # Only applied writes lose their answer: a retry then meets the
                # changed org (e.g. "record is already locked"), as at Zoho.
                fault = self.faults.after(method)
                if fault is not None:
                    answer = stamped(self.credits, fault_answer(fault))
        status = None if answer.drop else answer.status
        if status is not None:
            self.status_counts[status] += 1
        if self.record_requests:
            entry = RecordedRequest(method, path, dict(query), status, answer.drop, fault)
            self.requests.append(entry)
        return answer
