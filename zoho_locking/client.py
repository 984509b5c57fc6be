"""`LockingClient`: the async session manager and the five single-record calls."""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Self, TypedDict, TypeVar, Unpack

import aiohttp
import attrs

from . import protocol
from .auth import StaticToken, TokenProvider
from .bulk import BulkItem, Progress, run_bulk
from .datacentres import check_base_url, data_centre
from .errors import (
    ApiError,
    TransportError,
    UncertainOutcome,
    ValidationError,
    ZohoLockingError,
)
from .flow import RETRY_STATUSES, Clock, FlowControl, RetryPolicy, Sleep, retry_after
from .journal import Journal
from .models import ActionResult, LockInfo, LockSource
from .protocol import Request
from .report import BulkReport
from .transport import AiohttpTransport, Response, Transport

__all__ = ["LockingClient"]

T = TypeVar("T")
Parser = Callable[[int, Mapping[str, str], bytes], T]

_VERSION_RE = re.compile(r"v[0-9]{1,2}")
_log = logging.getLogger("zoho_locking")
# Rounds of reads (each with its own retries) spent settling a doubtful write.
_SETTLE_ROUNDS = 3


class BulkOptions(TypedDict, total=False):
    """Keyword options shared by the bulk calls."""

    keep_successes: bool
    journal: str | os.PathLike[str] | None
    resume: bool
    progress: Progress | None
    report: BulkReport | None


@attrs.define(slots=True)
class Tally:
    """What happened while one logical request was sent: attempts, retries, doubts."""

    attempts: int = 0
    retries: int = 0
    throttled: int = 0
    #: An earlier attempt of this write may have been applied by the server
    #: (its answer was lost or was a 5xx), so a refusal now may be our own doing.
    maybe_applied: bool = False


class LockingClient:
    """An async client for Zoho CRM's Record Locking Information API.

    Use it as an async context manager; it owns the connection pool (one
    aiohttp session, unless you pass your own *session*)::

        async with LockingClient(access_token=token, dc="eu") as client:
            result = await client.lock("Deals", "5843104000001068086", reason="closing")

    Give either *api_domain* (``https://www.zohoapis.com``) or *dc* (``us``,
    ``eu``, ``in``, ``au``, ``jp``, ``ca``, ``cn``, ``sa``). Plain ``http://``
    is refused for anything but loopback unless *allow_insecure_http* is set.

    Every call on one client shares its flow control: at most
    *max_concurrency* requests in flight (lowered automatically while the
    server answers 429, raised again as it recovers), at most *rate_limit*
    requests per second if set, and retries per *retry* (a `RetryPolicy`) for
    connection errors, timeouts, 429 and 5xx answers. *clock*, *sleep* and
    *rng* exist so tests can run retries without waiting.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        auth: TokenProvider | None = None,
        api_domain: str | None = None,
        dc: str | None = None,
        api_version: str = "v8",
        timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        allow_insecure_http: bool = False,
        max_concurrency: int = 10,
        rate_limit: float | None = None,
        adaptive_concurrency: bool = True,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._auth = _pick_auth(access_token, auth)
        self._allow_insecure_http = allow_insecure_http
        # With neither api_domain nor dc, a provider that learns the domain from
        # the accounts server (RefreshTokenAuth) supplies it at the first call.
        self.api_domain: str | None = (
            None
            if api_domain is None and dc is None and hasattr(self._auth, "api_domain")
            else _pick_domain(api_domain, dc, allow_insecure_http)
        )
        if not isinstance(api_version, str) or not _VERSION_RE.fullmatch(api_version):
            raise ValidationError(
                f"api_version must look like 'v8', got {api_version!r}", field="api_version"
            )
        self.api_version = api_version
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValidationError(f"{name} must be a positive number or None", field=name)
        if transport is not None and session is not None:
            raise ValidationError("pass either session or transport, not both", field="transport")
        self.flow = FlowControl(
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            adaptive=adaptive_concurrency,
            clock=clock,
            sleep=sleep,
        )
        self.retry = retry if retry is not None else RetryPolicy()
        self._sleep = self.flow.sleep
        self._rng = rng or random.Random()
        self._transport: Transport = transport or AiohttpTransport(
            session, timeout=timeout, connect_timeout=connect_timeout, pool_size=max_concurrency
        )
        self._api_root: str | None = (
            f"{self.api_domain}/crm/{api_version}" if self.api_domain is not None else None
        )
        self._closed = False
        # The last token's header; never shown by __repr__.
        self._auth_token: str | None = None
        self._auth_headers: Mapping[str, str] = {}

    def __repr__(self) -> str:
        return f"LockingClient(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._closed:
            raise ZohoLockingError("this LockingClient is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if the client created it) and the token provider's."""
        if not self._closed:
            self._closed = True
            try:
                await self._transport.aclose()
            finally:
                # RefreshTokenAuth owns an HTTP session; it reopens one if used again.
                closer = getattr(self._auth, "aclose", None)
                if closer is not None:
                    await closer()

    # -- the five calls ----------------------------------------------------

    async def lock(self, module: str, record_id: str | int, *, reason: str) -> ActionResult:
        """Lock a record; the result's ``id`` is the new locking id."""
        return await self._lock(
            protocol.validate_module(module),
            protocol.validate_id(record_id),
            protocol.validate_reason(reason),
            Tally(),
        )

    async def get_locks(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] = protocol.DEFAULT_FIELDS,
    ) -> list[LockInfo]:
        """Return the record's locks: ``[]`` when it is not locked."""
        request = protocol.build_get_locks(
            self._api_root or await self._root(),
            protocol.validate_module(module),
            protocol.validate_id(record_id),
            fields,
        )
        return await self._call(request, protocol.parse_locks, Tally())

    async def get_lock(self, module: str, record_id: str | int, locking_id: str | int) -> LockInfo:
        """Return one lock of a record by its locking id."""
        request = protocol.build_get_lock(
            self._api_root or await self._root(),
            protocol.validate_module(module),
            protocol.validate_id(record_id),
            protocol.validate_id(locking_id, "locking_id"),
        )
        return await self._call(request, protocol.parse_lock, Tally())

    async def update_lock(
        self, module: str, record_id: str | int, locking_id: str | int, *, reason: str
    ) -> ActionResult:
        """Change the reason of a manual lock."""
        return await self._update(
            protocol.validate_module(module),
            protocol.validate_id(record_id),
            protocol.validate_id(locking_id, "locking_id"),
            protocol.validate_reason(reason),
            Tally(),
        )

    async def unlock(
        self, module: str, record_id: str | int, locking_id: str | int
    ) -> ActionResult:
        """Remove a manual lock from a record."""
        return await self._unlock(
            protocol.validate_module(module),
            protocol.validate_id(record_id),
            protocol.validate_id(locking_id, "locking_id"),
            Tally(),
        )

    # -- bulk ----------------------------------------------------------------

    async def lock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Lock every record; already locked records are ``skipped``.

        *record_ids* may be any iterable or async iterable; it is read lazily.
        Every id ends up in the report exactly once. Options: *keep_successes*
        (False keeps only failures and skips, for runs of millions), *journal*
        and *resume* (a file to resume an interrupted run from), *progress*
        (called with done, total, report after each record), *report* (a
        `BulkReport` to fill, still yours if the call is cancelled).
        """
        return await self._bulk("lock", module, record_ids, reason, options)

    async def unlock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Unlock every record (looking up each lock, unless given ``(record_id, locking_id)``).

        Records that are not locked are ``skipped``. Options as for `lock_many`.
        """
        return await self._bulk("unlock", module, record_ids, None, options)

    async def update_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Set a new reason on every record's manual lock. Options as for `lock_many`."""
        return await self._bulk("update", module, record_ids, reason, options)

    async def get_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Read every record's locking state: code ``LOCKED`` or ``NOT_LOCKED``."""
        return await self._bulk("get", module, record_ids, None, options)

    async def _bulk(
        self,
        operation: str,
        module: str,
        items: Iterable[BulkItem] | AsyncIterable[BulkItem],
        reason: str | None,
        options: BulkOptions,
    ) -> BulkReport:
        journal_path = options.get("journal")
        module = protocol.validate_module(module)
        journal = (
            Journal(journal_path, operation=operation, module=module)
            if journal_path is not None
            else None
        )
        return await run_bulk(
            self,
            operation,
            module,
            items,
            reason=reason,
            keep_successes=options.get("keep_successes", True),
            journal=journal,
            resume=options.get("resume", False),
            progress=options.get("progress"),
            report=options.get("report"),
        )

    # -- the calls on validated input, shared with the bulk engine ----------

    async def _get_locks(self, module: str, record_id: str, tally: Tally) -> list[LockInfo]:
        request = protocol.build_get_locks(self._api_root or await self._root(), module, record_id)
        return await self._call(request, protocol.parse_locks, tally)

    async def _lock(self, module: str, record_id: str, reason: str, tally: Tally) -> ActionResult:
        request = protocol.build_lock(
            self._api_root or await self._root(), module, record_id, reason
        )
        try:
            return await self._call(request, protocol.parse_action, tally)
        except (ApiError, TransportError) as exc:
            if not tally.maybe_applied:
                raise
            # An earlier attempt may have landed, so "already locked" or a final
            # fault may hide our own success: read the record and tell the truth.
            for lock in await self._settle(exc, module, record_id, tally):
                if lock.lock_source is LockSource.MANUAL and lock.locked_reason == reason:
                    return ActionResult(
                        id=lock.id,
                        message="record added (confirmed by reading the record after a retry)",
                        http_status=201,
                    )
            raise

    async def _update(
        self, module: str, record_id: str, locking_id: str, reason: str, tally: Tally
    ) -> ActionResult:
        # PUT is idempotent: a retry after a lost answer sets the same reason again.
        request = protocol.build_update(
            self._api_root or await self._root(), module, record_id, locking_id, reason
        )
        return await self._call(request, protocol.parse_action, tally)

    async def _unlock(
        self, module: str, record_id: str, locking_id: str, tally: Tally
    ) -> ActionResult:
        request = protocol.build_unlock(
            self._api_root or await self._root(), module, record_id, locking_id
        )
        try:
            return await self._call(request, protocol.parse_action, tally)
        except (ApiError, TransportError) as exc:
            if not tally.maybe_applied:
                raise
            # As for _lock: "no such lock" or a final fault may hide our own success.
            locks = await self._settle(exc, module, record_id, tally)
            if any(lock.id == locking_id for lock in locks):
                raise
            return ActionResult(
                id=locking_id,
                message="relation removed (confirmed by reading the record after a retry)",
            )

    async def _settle(
        self, error: ZohoLockingError, module: str, record_id: str, tally: Tally
    ) -> list[LockInfo]:
        """Read the record's locks after a doubtful write.

        The read gets a few rounds of retries of its own; if it still fails,
        the write's fate is unknown and `UncertainOutcome` says so.
        """
        for _ in range(_SETTLE_ROUNDS - 1):
            try:
                return await self._get_locks(module, record_id, tally)
            except (ApiError, TransportError):
                continue
        try:
            return await self._get_locks(module, record_id, tally)
        except (ApiError, TransportError) as exc:
            raise UncertainOutcome(
                f"the write may or may not have been applied ({error}); "
                f"reading the record to find out failed too ({exc})"
            ) from None

    # -- plumbing ----------------------------------------------------------

    def _authorization(self, token: str) -> Mapping[str, str]:
        """The ``Authorization`` header for *token*, built once per token, not per request."""
        if token != self._auth_token:
            self._auth_token, self._auth_headers = token, protocol.authorization(token)
        return self._auth_headers

    async def _root(self) -> str:
        """Return ``{api_domain}/crm/{version}``, asking the token provider for the domain once."""
        if self._closed:
            # Before the provider is asked: it would mint a token and open a session.
            raise ZohoLockingError("this LockingClient is closed; create a new one")
        if self._api_root is None:
            await self._auth.get_token()
            domain = getattr(self._auth, "api_domain", None)
            if not isinstance(domain, str):
                raise ValidationError(
                    "the accounts server named no api_domain; pass api_domain or dc",
                    field="api_domain",
                )
            self.api_domain = check_base_url(
                domain, what="api_domain", allow_insecure_http=self._allow_insecure_http
            )
            self._api_root = f"{self.api_domain}/crm/{self.api_version}"
        return self._api_root

    async def _call(self, request: Request, parse: Parser[T], tally: Tally) -> T:
        response = await self._exchange(request, tally)
        return parse(response.status, response.headers, response.body)

    async def _exchange(self, request: Request, tally: Tally) -> Response:
        """Send *request* through flow control, retrying what is worth retrying.

        Returns the last answer, whatever its status (the caller parses it);
        raises `TransportError` if the last attempt got no answer at all.
        """
        if self._closed:
            raise ZohoLockingError("this LockingClient is closed; create a new one")
        flow, policy = self.flow, self.retry
        is_write = request.method != "GET"
        started = flow.now()
        refreshed = False
        attempt = 0
        while True:
            await flow.acquire()
            if self._closed:
                # Closed while this request waited or backed off: stop, do not retry.
                flow.release()
                raise ZohoLockingError("this LockingClient is closed; create a new one")
            epoch, sent_at = flow.epoch, flow.now()
            attempt += 1
            tally.attempts += 1
            try:
                token = await self._auth.get_token()
                response: Response | None = await self._transport.send(
                    request, self._authorization(token)
                )
                failure: TransportError | None = None
            except TransportError as exc:
                response, failure = None, exc
            except BaseException:
                flow.release()
                raise
            if _log.isEnabledFor(logging.DEBUG):
                # The URL holds ids only; the token travels in a header never logged.
                _log.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)",
                    request.method,
                    request.url,
                    response.status if response is not None else failure,
                    (flow.now() - sent_at) * 1000,
                    attempt,
                )
            if response is not None and response.status == 429:
                tally.throttled += 1
                flow.on_throttled(epoch, retry_after(response.headers, time.time()))
            elif response is not None:
                flow.on_success(flow.now() - sent_at)
            flow.release()

            if response is not None:
                if response.status == 401 and not refreshed and _is_invalid_token(response):
                    refreshed = True
                    if await self._auth.refresh(token) is not None:
                        attempt -= 1  # a fresh token is a new start, not a retry
                        continue
                    return response
                if response.status not in RETRY_STATUSES:
                    return response
                # 429 and 503 mean refused before any work; 500, 502 and 504 may
                # come after the write was applied behind the proxy.
                if is_write and response.status not in (429, 503):
                    tally.maybe_applied = True
            elif is_write and failure is not None and failure.maybe_sent:
                tally.maybe_applied = True

            if attempt >= policy.max_attempts:
                break
            # After a 429 the shared pause is the wait; otherwise back off with jitter.
            delay = (
                0.0
                if response is not None and response.status == 429
                else (policy.backoff(attempt, self._rng))
            )
            if response is not None:
                asked = retry_after(response.headers, time.time())
                if asked is not None:
                    delay = max(delay, asked)
            if policy.deadline is not None and flow.now() + delay - started > policy.deadline:
                break
            tally.retries += 1
            if delay > 0:
                await self._sleep(delay)
        if response is not None:
            return response
        assert failure is not None
        raise failure


def _is_invalid_token(response: Response) -> bool:
    try:
        protocol.decipher(response.status, response.headers, response.body)
    except ApiError as exc:
        return exc.code == "INVALID_TOKEN"
    return False


def _pick_auth(access_token: str | None, auth: TokenProvider | None) -> TokenProvider:
    if (access_token is None) == (auth is None):
        raise ValidationError("pass exactly one of access_token or auth", field="access_token")
    if auth is not None:
        if not isinstance(auth, TokenProvider):
            raise ValidationError(
                "auth must provide get_token() and refresh() (see TokenProvider)", field="auth"
            )
        return auth
    assert access_token is not None
    return StaticToken(access_token)


def _pick_domain(api_domain: str | None, dc: str | None, allow_insecure_http: bool) -> str:
    if api_domain is not None and dc is not None:
        raise ValidationError("pass either api_domain or dc, not both", field="api_domain")
    if api_domain is not None:
        return check_base_url(
            api_domain, what="api_domain", allow_insecure_http=allow_insecure_http
        )
    if dc is not None:
        return data_centre(dc).api_domain
    raise ValidationError(
        "pass api_domain (e.g. https://www.zohoapis.com) or dc (e.g. 'us')", field="api_domain"
    )
