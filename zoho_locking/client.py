"""`LockingClient`: the public facade that wires the layers together.

It validates arguments, builds the transport, flow control, `Exchange` and
`LockingCalls` once, and hands each call to them: the single-record calls to
`LockingCalls`, the bulk calls to the bulk engine. Every public call is defined
here, in the class's own body; it holds no protocol or retry logic of its own.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterable, Iterable
from typing import Self, TypedDict, Unpack

import aiohttp

from ._checks import check_positive
from .auth.provider import StaticToken, TokenProvider
from .bulk.engine import BulkItem, Progress, run_bulk
from .bulk.report import BulkReport
from .bulk.selection import Selection
from .calls import LockingCalls
from .errors import ValidationError, ZohoLockingError
from .events import Events
from .flow.base import Clock, Flow, Sleep
from .flow.local import FlowControl
from .hooks import Hook, Hooks
from .http.deadline import Deadline, check_timeout
from .http.exchange import Call, Exchange
from .http.retry import RetryPolicy
from .http.transport import AiohttpTransport, Transport
from .models import ActionResult, LockInfo, Operation
from .net.proxy import Proxies
from .net.tls import TLSSetting
from .otel import Telemetry, default_telemetry
from .wire import protocol
from .wire.datacentres import check_base_url, check_environment, data_centre

__all__ = ["BulkOptions", "LockingClient"]


class BulkOptions(TypedDict, total=False):
    """Keyword options shared by the bulk calls (see `LockingClient.lock_many`)."""

    keep_successes: bool
    journal: str | os.PathLike[str] | None
    resume: bool
    progress: Progress | None
    report: BulkReport | None
    max_requests: int | None
    any_lock: bool
    timeout: float | None
    retry: RetryPolicy | None


class LockingClient:
    """An async client for Zoho CRM's Record Locking Information API.

    Use it as an async context manager; it owns the connection pool (one
    aiohttp session, unless you pass your own *session*: one from
    `make_session` may serve many clients, and any session passed in gets
    aiohttp's silent resend of requests turned off):

        async with LockingClient(access_token=token, dc="eu") as client:
            result = await client.lock("Deals", "5843104000001068086", reason="closing")

    Give either *api_domain* (``https://www.zohoapis.com``) or *dc* (``us``,
    ``eu``, ``in``, ``au``, ``jp``, ``ca``, ``cn``, ``sa``), or neither with a
    `RefreshTokenAuth`, whose token answer names the domain. *environment*
    (``production``, ``sandbox`` or ``developer``) picks the data centre's
    domain for that environment: with *dc*, or with the data centre the token
    answer names (an explicit sandbox or developer wins over the production
    domain the answer names). `api_domain` shows the result. Plain ``http://``
    is refused for anything but loopback unless *allow_insecure_http* is set.

    Servers are verified against the certificate authorities *ssl* names: a CA
    bundle's path (PEM), an `ssl.SSLContext`, ``"system"`` (the operating
    system's store, ``zoho-locking[truststore]``), or ``None`` for Python's
    defaults (``SSL_CERT_FILE`` honoured). ``ssl=False`` is refused: a
    certificate that fails raises `TLSError`. Give a `RefreshTokenAuth` the
    same *ssl* for its token requests.

    *hooks* are plain or async callables called with every event of the client
    (`zoho_locking.events`: requests sent and answered, retries, 429s, credits,
    new tokens, records finished, runs started, stopped and ended); a hook that
    raises never breaks a call. With ``opentelemetry-api`` installed, a client
    made after the application set its global tracer or meter provider records
    metrics and spans on them; ``telemetry=True`` records on the global
    providers even if they are set later, ``telemetry=Telemetry(...)``
    (`zoho_locking.otel`) on others, ``telemetry=False`` nowhere.

    Every call on one client shares its flow control: at most
    *max_concurrency* requests in flight (lowered automatically while the
    server answers 429, raised again as it recovers), at most *rate_limit*
    requests per second if set, and retries per *retry* (a `RetryPolicy`) for
    connection errors, timeouts, 429 and 5xx answers. *clock*, *sleep* and
    *rng* exist so tests can run retries without waiting. Pass *flow* (any
    `Flow`) to share one budget with other clients instead; *max_concurrency*,
    *rate_limit*, *adaptive_concurrency*, *clock* and *sleep* configure the
    client's own flow, so passing any of them beside *flow* is refused.

    Requests go through *proxy* (a URL such as ``http://user:pw@proxy:3128``,
    or a `Proxies`), else the proxy the environment names (``HTTPS_PROXY``,
    ``HTTP_PROXY``, minus ``NO_PROXY``), read when the client is made.

    Every single-record call takes *timeout* (seconds for the whole call:
    permits, attempts, backoff, settling) and *retry* (a `RetryPolicy` for this
    call only). When the timeout passes, a read raises `RequestTimeout`, and a
    write `UncertainOutcome` if it may have reached the server (else
    `RequestTimeout`); the client holds nothing afterwards.

    Args:
        access_token: An OAuth access token; or give *auth*.
        auth: A `TokenProvider` (e.g. `RefreshTokenAuth`) instead of *access_token*.
        api_domain: The CRM API's base URL; or give *dc*.
        dc: A data centre: ``us``, ``eu``, ``in``, ``au``, ``jp``, ``ca``, ``cn``, ``sa``.
        api_version: ``v5`` to ``v8``.
        timeout: Seconds per request (connection to last byte); ``None`` for none.
        connect_timeout: Seconds to connect; ``None`` for none.
        session: Your own aiohttp session (left open; its silent resend turned off).
        transport: A `Transport` instead of aiohttp (e.g. `MockTransport`).
        proxy: A proxy URL or `Proxies` for every request; else the environment's.
        environment: ``production`` (default), ``sandbox`` or ``developer``: that
            environment's API domain in the data centre (`api_domain` shows it).
        ssl: The CAs to verify servers with: a CA bundle's path, an
            `ssl.SSLContext`, ``"system"`` (extra ``truststore``), or ``None`` for
            Python's defaults (``SSL_CERT_FILE`` honoured); never ``False``.
        allow_insecure_http: Allow plain ``http://`` to hosts other than loopback.
        max_concurrency: Requests in flight at most (10 if not given).
        rate_limit: Requests per second at most; ``None`` for no limit.
        adaptive_concurrency: Lower the in-flight limit on 429s (on if not given).
        flow: A `Flow` to share with other clients instead of the client's own.
        retry: The `RetryPolicy` of every call that brings none.
        clock: The flow's clock (seconds), for tests.
        sleep: The flow's sleep, for tests.
        rng: The random source of backoff jitter, for tests.
        hooks: Callables called with every event of the client.
        telemetry: ``True``, ``False`` or a `Telemetry` (OpenTelemetry); see above.

    Raises:
        ValidationError: An argument is out of range, or arguments that cannot be
            combined were given together (*access_token* and *auth*, *api_domain*
            and *dc*, *session* and *transport*, *proxy* beside *transport*, and
            *max_concurrency*, *rate_limit*, *adaptive_concurrency*, *clock* or
            *sleep* beside *flow*, *ssl* beside *transport*); an unknown
            *environment*; ``ssl=False`` or a context that does not verify.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        auth: TokenProvider | None = None,
        api_domain: str | None = None,
        dc: str | None = None,
        environment: str = "production",
        api_version: str = "v8",
        timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        proxy: str | Proxies | None = None,
        ssl: TLSSetting = None,
        allow_insecure_http: bool = False,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        adaptive_concurrency: bool | None = None,
        flow: Flow | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        hooks: Iterable[Hook] = (),
        telemetry: Telemetry | bool | None = None,
    ) -> None:
        resolved_auth = _pick_auth(access_token, auth)
        self._hooks = Hooks(hooks)
        environment = check_environment(environment)
        domain = _pick_domain(api_domain, dc, environment, allow_insecure_http, resolved_auth)
        self.flow: Flow = _pick_flow(
            flow, max_concurrency, rate_limit, adaptive_concurrency, clock, sleep
        )
        self.retry = retry if retry is not None else RetryPolicy()
        self._exchange = Exchange(
            transport=_pick_transport(
                transport, session, timeout, connect_timeout, self.flow.max_concurrency, proxy,
                ssl,
            ),
            auth=resolved_auth,
            flow=self.flow,
            retry=self.retry,
            rng=rng or random.Random(),
            api_domain=domain,
            api_version=api_version,
            environment=environment,
            events=_listened(self._hooks, telemetry, self),
            allow_insecure_http=allow_insecure_http,
        )
        self._calls = LockingCalls(self._exchange)
        #: The transport every request goes through, and the token provider.
        self.transport, self.auth = self._exchange.transport, resolved_auth
        self.api_version = api_version

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain requests go to; ``None`` until a `RefreshTokenAuth` names it."""
        return self._exchange.api_domain

    @property
    def credits_remaining(self) -> int | None:
        """The org's API credits left, as the last answer that said told; else ``None``."""
        return self._exchange.credits_remaining

    @property
    def concurrency_limit(self) -> int | None:
        """The flow's in-flight limit now (it adapts to 429s); ``None`` if the flow won't say."""
        limit = getattr(self.flow, "limit", None)
        return limit if isinstance(limit, int) else None

    @property
    def in_flight(self) -> int | None:
        """Requests between permit and answer right now; ``None`` if the flow won't say."""
        count = getattr(self.flow, "in_flight", None)
        return count if isinstance(count, int) else None

    def add_hook(self, hook: Hook) -> None:
        """Call *hook* with every event of this client from now on (see *hooks*).

        Args:
            hook: A plain or async callable taking one event.
        """
        self._hooks.add(hook)

    def __repr__(self) -> str:
        return f"LockingClient(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    # -- one record ----------------------------------------------------------

    async def lock(
        self,
        module: str,
        record_id: str | int,
        *,
        reason: str,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> ActionResult:
        """Lock a record with a reason.

        If an earlier attempt's answer was lost and the retry is refused ("already
        locked"), the record is read to tell whether the lock is this call's own.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_id: The record's id.
            reason: Why it is locked (``Locked_Reason__s``), at most 3,000 characters.
            timeout: Seconds for the whole call (permits, attempts, backoff,
                settling); ``None`` for no limit.
            retry: A `RetryPolicy` for this call instead of the client's.

        Returns:
            The `ActionResult`; its ``id`` is the new locking id.

        Raises:
            ValidationError: A bad module, id, reason, *timeout* or *retry*; nothing was sent.
            ApiError: Zoho refused (e.g. ``NOT_ALLOWED``, already locked); `AuthError`
                for a 401 a fresh token cannot mend.
            TransportError: No answer after the last attempt; `RequestTimeout`
                when the call's *timeout* passed before the lock was sent.
            UncertainOutcome: The lock may or may not have been applied, and
                reading the record back failed (or *timeout* passed meanwhile).
            ZohoLockingError: The client is closed.
        """
        module, record_id = _record(module, record_id)
        reason = protocol.validate_reason(reason)
        return await self._calls.lock(module, record_id, reason, self._call(timeout, retry))

    async def get_locks(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] = protocol.DEFAULT_FIELDS,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[LockInfo]:
        """Return the record's locks.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_id: The record's id.
            fields: The fields of each lock to ask for (Zoho requires the list).
            timeout: Seconds for the whole call; ``None`` for no limit.
            retry: A `RetryPolicy` for this call instead of the client's.

        Returns:
            Its `LockInfo` items: ``[]`` when the record is not locked.

        Raises:
            ValidationError: A bad module, id, *timeout* or *retry*; nothing was sent.
            ApiError: Zoho refused (e.g. ``INVALID_DATA`` for an unknown record).
            TransportError: No answer after the last attempt; `RequestTimeout`
                when *timeout* passed first.
            ZohoLockingError: The client is closed.
        """
        module, record_id = _record(module, record_id)
        call = self._call(timeout, retry)
        return await self._calls.get_locks(module, record_id, call, fields)

    async def get_lock(
        self,
        module: str,
        record_id: str | int,
        locking_id: str | int,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> LockInfo:
        """Return one lock of a record by its locking id.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_id: The record's id.
            locking_id: The lock's id (an `ActionResult`'s ``id``, or `LockInfo.id`).
            timeout: Seconds for the whole call; ``None`` for no limit.
            retry: A `RetryPolicy` for this call instead of the client's.

        Returns:
            The `LockInfo`.

        Raises:
            ValidationError: A bad module, id, *timeout* or *retry*; nothing was sent.
            ApiError: Zoho refused (e.g. ``INVALID_DATA`` for an unknown lock).
            TransportError: No answer after the last attempt; `RequestTimeout`
                when *timeout* passed first.
            ZohoLockingError: The client is closed.
        """
        args = _lock_of(module, record_id, locking_id)
        return await self._calls.get_lock(*args, self._call(timeout, retry))

    async def update_lock(
        self,
        module: str,
        record_id: str | int,
        locking_id: str | int,
        *,
        reason: str,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> ActionResult:
        """Change the reason of a manual lock.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_id: The record's id.
            locking_id: The lock's id.
            reason: The new reason, at most 3,000 characters.
            timeout: Seconds for the whole call; ``None`` for no limit.
            retry: A `RetryPolicy` for this call instead of the client's.

        Returns:
            The `ActionResult` of the update.

        Raises:
            ValidationError: A bad module, id, reason, *timeout* or *retry*; nothing was sent.
            ApiError: Zoho refused (e.g. ``INVALID_DATA`` for an unknown lock).
            TransportError: No answer after the last attempt; `RequestTimeout`
                when *timeout* passed before the update was sent.
            UncertainOutcome: *timeout* passed when the update may have been applied.
            ZohoLockingError: The client is closed.
        """
        args = _lock_of(module, record_id, locking_id)
        reason = protocol.validate_reason(reason)
        return await self._calls.update(*args, reason, self._call(timeout, retry))

    async def unlock(
        self,
        module: str,
        record_id: str | int,
        locking_id: str | int,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> ActionResult:
        """Remove a manual lock from a record.

        If an earlier attempt's answer was lost and the retry is refused ("no
        such lock"), the record is read to tell whether the lock is gone.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_id: The record's id.
            locking_id: The lock's id.
            timeout: Seconds for the whole call; ``None`` for no limit.
            retry: A `RetryPolicy` for this call instead of the client's.

        Returns:
            The `ActionResult` of the removal.

        Raises:
            ValidationError: A bad module, id, *timeout* or *retry*; nothing was sent.
            ApiError: Zoho refused (e.g. ``NOT_ALLOWED`` for an automatic lock).
            TransportError: No answer after the last attempt; `RequestTimeout`
                when *timeout* passed before the unlock was sent.
            UncertainOutcome: The unlock may or may not have been applied, and
                reading the record back failed (or *timeout* passed meanwhile).
            ZohoLockingError: The client is closed.
        """
        args = _lock_of(module, record_id, locking_id)
        return await self._calls.unlock(*args, self._call(timeout, retry))

    # -- many records --------------------------------------------------------

    def select_ids(self, module: str, where: str, *, page_size: int = 2000) -> Selection:
        """Stream the ids of *module*'s records that match a COQL condition.

        Any bulk call takes the result as its ids, e.g.
        ``await client.lock_many("Deals", client.select_ids("Deals", where), reason=r)``.
        Pages come by id, *page_size* at a time, the next one fetched while this
        one is worked.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            where: The condition, as written after COQL's ``where``.
            page_size: Ids per page, 1 to 2,000.

        Returns:
            A `Selection`: an async iterator of ids.

        Raises:
            ValidationError: A bad module, condition or *page_size*.
        """
        return Selection(self._exchange, module, where, page_size=page_size)

    async def lock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Lock every record; records already locked are ``skipped``.

        Every id ends up in the report exactly once. A failure that no record
        can escape (a bad token or module, the org's API credits spent, ...)
        stops the run: nothing more is sent, the report's ``stopped`` says why,
        records taken but not finished are ``unfinished``, and a journaled run
        resumes them.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_ids: Any iterable or async iterable of ids (or a `Selection`),
                read lazily.
            reason: Why the records are locked, at most 3,000 characters.
            **options: *keep_successes* (False keeps only failures and skips,
                for runs of millions); *journal* and *resume* (a file to resume
                an interrupted run from); *progress* (called with done, total,
                report after each record); *report* (a `BulkReport` to fill,
                still yours if the call is cancelled); *max_requests* (a hard
                cap on the requests of this call, retries included); *timeout*
                (seconds for each record, from when a worker takes it; past it
                the record is ``TIMEOUT``, or ``UNCERTAIN`` for a write that may
                have landed); *retry* (a `RetryPolicy` for this run's requests).

        Returns:
            The run's `BulkReport`.

        Raises:
            ValidationError: A bad module, reason or option; nothing was sent.
            JournalError: The journal cannot be used for this run.
        """
        return await run_bulk(
            self._calls, Operation.LOCK, module, record_ids, reason=reason, **options
        )

    async def unlock_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Unlock every record, looking up each lock unless given its locking id.

        Records that are not locked are ``skipped``. Pairs ``(record_id,
        locking_id)`` from a previous run (``report.locks()``) cost one request
        per record; a record locked anew since is left alone (``LOCK_CHANGED``)
        unless *any_lock* is set.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_ids: Ids, or ``(record_id, locking_id)`` pairs, from any
                iterable or async iterable, read lazily.
            **options: As for `lock_many`, and *any_lock*.

        Returns:
            The run's `BulkReport`.

        Raises:
            ValidationError: A bad module or option; nothing was sent.
            JournalError: The journal cannot be used for this run.
        """
        return await run_bulk(self._calls, Operation.UNLOCK, module, record_ids, **options)

    async def update_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Set a new reason on every record's manual lock.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_ids: Ids, or ``(record_id, locking_id)`` pairs, read lazily.
            reason: The new reason, at most 3,000 characters.
            **options: As for `lock_many`.

        Returns:
            The run's `BulkReport`.

        Raises:
            ValidationError: A bad module, reason or option; nothing was sent.
            JournalError: The journal cannot be used for this run.
        """
        return await run_bulk(
            self._calls, Operation.UPDATE, module, record_ids, reason=reason, **options
        )

    async def get_many(
        self,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Read every record's locking state: code ``LOCKED`` or ``NOT_LOCKED``.

        Args:
            module: The module's API name, e.g. ``"Deals"``.
            record_ids: Any iterable or async iterable of ids, read lazily.
            **options: As for `lock_many`.

        Returns:
            The run's `BulkReport`.

        Raises:
            ValidationError: A bad module or option; nothing was sent.
            JournalError: The journal cannot be used for this run.
        """
        return await run_bulk(self._calls, Operation.GET, module, record_ids, **options)

    async def run_many(
        self,
        operation: Operation,
        module: str,
        record_ids: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        reason: str | None = None,
        **options: Unpack[BulkOptions],
    ) -> BulkReport:
        """Apply *operation* to every record: `lock_many` and the others, chosen by value.

        Args:
            operation: The `Operation` to apply.
            module: The module's API name, e.g. ``"Deals"``.
            record_ids: Ids (or pairs, for unlock and update), read lazily.
            reason: Required for `Operation.LOCK` and `Operation.UPDATE`, ignored otherwise.
            **options: As for `lock_many`.

        Returns:
            The run's `BulkReport`.

        Raises:
            ValidationError: A bad operation, module, reason or option; nothing was sent.
            JournalError: The journal cannot be used for this run.
        """
        return await run_bulk(
            self._calls, operation, module, record_ids, reason=reason, **options
        )

    def _call(self, timeout: float | None, retry: RetryPolicy | None) -> Call:
        """What one single-record call asks: its *timeout* and *retry*, checked."""
        if timeout is None and retry is None:
            return self._exchange.new_call()
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ValidationError("retry must be a RetryPolicy or None", field="retry")
        seconds = check_timeout(timeout)
        deadline = None if seconds is None else Deadline.after(seconds, self.flow.now())
        return self._exchange.new_call(deadline=deadline, retry=retry)

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._exchange.closed:
            raise ZohoLockingError("this LockingClient is closed; create a new one")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if the client created it) and the token provider's.

        Async hooks still running are awaited first.
        """
        try:
            await self._hooks.wait()
        finally:
            await self._exchange.aclose()


def _listened(hooks: Hooks, telemetry: Telemetry | bool | None, client: LockingClient) -> Events:
    """The client's events, heard by its *hooks* and, if on, by OpenTelemetry."""
    events = Events()
    hooks.listen(events)
    if telemetry is None or telemetry is True:
        telemetry = default_telemetry(only_if_configured=telemetry is None)
    if isinstance(telemetry, Telemetry):
        telemetry.attach(events, client)
    return events


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


def _pick_domain(
    api_domain: str | None,
    dc: str | None,
    environment: str,
    allow_insecure_http: bool,
    auth: TokenProvider,
) -> str | None:
    if api_domain is not None and dc is not None:
        raise ValidationError("pass either api_domain or dc, not both", field="api_domain")
    if api_domain is not None and environment != "production":
        raise ValidationError(
            f"environment={environment!r} picks a data centre's domain: pass it with dc, "
            "or give api_domain alone (the environment's own domain)",
            field="environment",
        )
    theirs = getattr(auth, "environment", "production")
    if environment != "production" and theirs not in ("production", environment):
        raise ValidationError(
            f"the client asks for environment {environment!r}, its token provider for "
            f"{theirs!r}: give one",
            field="environment",
        )
    if api_domain is None and dc is None and hasattr(auth, "api_domain"):
        # A provider that learns the domain from the accounts server
        # (RefreshTokenAuth) supplies it at the first call.
        return None
    if api_domain is not None:
        return check_base_url(
            api_domain, what="api_domain", allow_insecure_http=allow_insecure_http
        )
    if dc is not None:
        return data_centre(dc).domain(environment)
    raise ValidationError(
        "pass api_domain (e.g. https://www.zohoapis.com) or dc (e.g. 'us')", field="api_domain"
    )


def _pick_flow(
    flow: Flow | None,
    max_concurrency: int | None,
    rate_limit: float | None,
    adaptive: bool | None,
    clock: Clock | None,
    sleep: Sleep | None,
) -> Flow:
    if flow is None:
        return FlowControl(
            max_concurrency=10 if max_concurrency is None else max_concurrency,
            rate_limit=rate_limit,
            adaptive=True if adaptive is None else adaptive,
            clock=clock,
            sleep=sleep,
        )
    if not isinstance(flow, Flow):
        raise ValidationError(
            "flow must provide acquire(), release(), now() and sleep (see Flow)", field="flow"
        )
    own = {"max_concurrency": max_concurrency, "rate_limit": rate_limit,
           "adaptive_concurrency": adaptive, "clock": clock, "sleep": sleep}  # fmt: skip
    given = [name for name, value in own.items() if value is not None]
    if given:
        # These configure the client's own flow; beside flow= they would do nothing.
        raise ValidationError(
            f"pass {', '.join(given)} to your flow, not beside flow= "
            "(they configure the client's own flow control)",
            field=given[0],
        )
    return flow


def _pick_transport(
    transport: Transport | None,
    session: aiohttp.ClientSession | None,
    timeout: float | None,
    connect_timeout: float | None,
    pool_size: int,
    proxy: str | Proxies | None,
    ssl: TLSSetting,
) -> Transport:
    check_positive(timeout, "timeout", optional=True)
    check_positive(connect_timeout, "connect_timeout", optional=True)
    if transport is not None and session is not None:
        raise ValidationError("pass either session or transport, not both", field="transport")
    if transport is not None:
        if proxy is not None:
            raise ValidationError("pass proxy to your transport, not beside it", field="proxy")
        if ssl is not None:
            raise ValidationError("pass ssl to your transport, not beside it", field="ssl")
        return transport
    return AiohttpTransport(
        session, timeout=timeout, connect_timeout=connect_timeout, pool_size=pool_size,
        proxy=proxy, ssl=ssl,
    )  # fmt: skip


def _record(module: str, record_id: str | int) -> tuple[str, str]:
    """Validate a module name and a record id, in that order."""
    return protocol.validate_module(module), protocol.validate_id(record_id)


def _lock_of(module: str, record_id: str | int, locking_id: object) -> tuple[str, str, str]:
    """Validate a module name, a record id and a locking id, in that order."""
    return (*_record(module, record_id), protocol.validate_id(locking_id, "locking_id"))
