"""The exchange: one request sent through flow control, retried until it has an answer.

`Exchange.send` is the only way a request reaches the transport, read top to
bottom: each attempt takes a permit, passes the caller's admission, gets the
token, sends, and gives the permit back at its one release site; what follows
reads the attempt's answer or failure: one refresh on 401 INVALID_TOKEN, whether
the answer is final,
whether a write whose answer was lost may have landed, and
`RetryPolicy.next_delay` (whether, and when, to try again). It knows which
methods are idempotent and nothing about locks or bulk runs: a run reaches it
only as an `Admission`, and everything it does is told to the call's `Events`;
`Watch` hears every attempt's end (credits left, a stall of nothing but 429s);
`TokenHeader` holds the header of the provider's current token and tells each new one.

What the caller asked of one call is a frozen `Call` (its events, admission,
`Deadline`, `RetryPolicy`); what happened to it is the call's `Tally`, which
only the exchange writes.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import time
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from ..auth.provider import StaticToken, TokenProvider
from ..errors import (
    FlowUnavailable,
    RequestTimeout,
    ThrottledTooLong,
    TransportError,
    ValidationError,
    ZohoLockingError,
)
from ..events import (
    AnswerReceived,
    CreditsSeen,
    Events,
    RequestSent,
    RetryScheduled,
    Throttled,
    TokenRefreshed,
)
from ..flow.base import Flow
from ..wire import protocol
from ..wire.datacentres import check_base_url, in_environment
from ..wire.limits import credits_exhausted, credits_remaining
from ..wire.protocol import Request
from .deadline import Deadline, DeadlineCut, DeadlinePassed
from .retry import RETRY_STATUSES, RetryPolicy, retry_after
from .transport import Response, Transport

__all__ = ["Admission", "Call", "Exchange", "Tally", "TokenHeader", "Watch"]


_VERSION_RE = re.compile(r"v[0-9]{1,2}")
_log = logging.getLogger("zoho_locking")
_CLOSED = "this LockingClient is closed; create a new one"
#: The scope of an attempt with no deadline: ``with`` it costs next to nothing.
_UNBOUNDED: contextlib.nullcontext[None] = contextlib.nullcontext()


class Admission(Protocol):
    """Decides whether one more request may be sent: a bulk run's stop switch and cap."""

    def admit(self) -> None:
        """Count one request about to be sent, or raise `RunStopped` if none may be."""
        ...

    def halt(self, code: str, message: str, http_status: int | None = None) -> object:
        """Let nothing more be sent, for the reason given."""
        ...


class Tally:
    """What happened to one call so far: written by the exchange alone, read by anyone."""

    __slots__ = ("attempts", "write_landed")

    def __init__(self, attempts: int = 0) -> None:
        #: Requests sent for this call so far (retries, look-ups and settling reads included).
        self.attempts = attempts
        #: An attempt of a write may have been applied by the server (its answer was
        #: lost, or was a 5xx), so a refusal now may be this call's own doing.
        self.write_landed = False


class Call(NamedTuple):
    """What one logical call asked: where its events go, who admits its requests, its limits.

    A frozen value (a named tuple: a bulk run makes one per record, so it must be
    cheap). A single-record call has one; a bulk run gives each record one,
    carrying the run's `Admission` and the run's `Events`. What happened is its
    `tally`, made with it by `Exchange.new_call` or `Call.of`.
    """

    events: Events
    #: What happened to this call (the exchange writes it).
    tally: Tally
    admission: Admission | None = None
    #: When the whole call must be over, if the caller said (``timeout=``).
    deadline: Deadline | None = None
    #: The retry policy of this call, if not the client's (``retry=``).
    retry: RetryPolicy | None = None
    #: A write of this record may have landed before this call began (an earlier
    #: run's journal says it was in flight when that run died).
    landed_before: bool = False

    @property
    def attempts(self) -> int:
        """Requests sent for this call so far."""
        return self.tally.attempts

    @property
    def write_may_have_landed(self) -> bool:
        """Whether a write of this call (or before it) may have been applied."""
        return self.landed_before or self.tally.write_landed

    def expired(self, method: str) -> ZohoLockingError:
        """What the caller gets once this call's deadline has passed."""
        assert self.deadline is not None
        doubt, sent = self.write_may_have_landed, self.tally.attempts > 0
        return self.deadline.expired(method, doubt=doubt, sent=sent)


class Watch:
    """What the answers tell of the org: its credits left, and a stall of nothing but 429s.

    It tells each answer to the call's events (`AnswerReceived`, `CreditsSeen`,
    `Throttled`) and raises `ThrottledTooLong` once only 429s have come back,
    anywhere, for longer than *stall_timeout*.
    """

    __slots__ = ("credits_remaining", "flow", "stall_timeout", "throttled_since")

    def __init__(self, flow: Flow, stall_timeout: float | None) -> None:
        self.flow = flow
        self.stall_timeout = stall_timeout
        #: The org's API credits left, from the last answer that said.
        self.credits_remaining: int | None = None
        #: When the current unbroken run of 429s began (any other answer ends it).
        self.throttled_since: float | None = None

    def saw(
        self,
        request: Request,
        number: int,
        sent_at: float,
        response: Response | None,
        failure: TransportError | None,
        spent: bool,
        events: Events,
    ) -> None:
        """Tell what attempt *number* of *request* came to: the answer, credits, throttling."""
        status = response.status if response is not None else None
        if events.wants(AnswerReceived) or _log.isEnabledFor(logging.DEBUG):
            duration = self.flow.now() - sent_at
            error = None if failure is None else failure.code
            events.emit(
                AnswerReceived(
                    request.method, request.url, number, status, duration, sent_at, error
                )
            )
            # The URL holds ids only; the token travels in a header never logged.
            _log.debug(
                "%s %s -> %s in %.1f ms (attempt %d)",
                request.method, request.url, status if failure is None else failure,
                duration * 1000, number,
                extra={"event": "request", "method": request.method, "url": request.url,
                       "status": status, "error": error, "attempt": number,
                       "duration_ms": round(duration * 1000, 3)},
            )  # fmt: skip
        if response is None:
            return
        # Most answers carry no credits figure; an empty header map is not searched.
        headers = response.headers
        remaining = 0 if spent else credits_remaining(headers) if headers else None
        if remaining is not None:
            self.credits_remaining = remaining
            events.emit(CreditsSeen(remaining))
        if status != 429 or spent:
            self.throttled_since = None
            return
        if events.wants(Throttled):
            events.emit(Throttled(request.method, request.url, getattr(self.flow, "limit", None)))
        now = self.flow.now()
        if self.throttled_since is None:
            self.throttled_since = now
        elif self.stall_timeout is not None and now - self.throttled_since > self.stall_timeout:
            raise ThrottledTooLong(now - self.throttled_since)


class TokenHeader:
    """The header for *auth*'s current token."""

    __slots__ = ("_headers", "_static", "_token", "auth", "fixed")

    def __init__(self, auth: TokenProvider) -> None:
        self.auth = auth
        self._token: str | None = None
        self._headers: Mapping[str, str] = {}
        # A `StaticToken` (exactly: a subclass may override get_token) never changes
        # and never refreshes, so once read, its token needs no await per request.
        self._static = type(auth) is StaticToken
        #: The token and its header once they can no longer change, else ``None``.
        self.fixed: tuple[str, Mapping[str, str]] | None = None

    def __repr__(self) -> str:
        return f"TokenHeader(auth={self.auth!r})"

    def headers(self, token: str, events: Events) -> Mapping[str, str]:
        """The header for *token*, the provider's current one (told as new if it is)."""
        if token != self._token:
            if self._token is not None:
                events.emit(TokenRefreshed("expiring"))
            self._token, self._headers = token, protocol.authorization(token)
            if self._static:
                self.fixed = (token, self._headers)
        return self._headers

    async def renew(self, rejected: str, events: Events) -> bool:
        """After 401 INVALID_TOKEN for *rejected*: whether the provider has another token."""
        fresh = await self.auth.refresh(rejected)
        if fresh is None:
            return False
        if fresh != self._token:
            self._token, self._headers = fresh, protocol.authorization(fresh)
            events.emit(TokenRefreshed("rejected"))
        return True


class Exchange:
    """Send requests to one CRM API root with flow control, retries and token refresh.

    *api_domain* may be ``None`` when *auth* learns the domain with its first
    token (`RefreshTokenAuth` does); `api_root` then asks it once. *events*
    hears what every request of every call does (the client's hooks).
    """

    def __init__(
        self,
        *,
        transport: Transport,
        auth: TokenProvider,
        flow: Flow,
        retry: RetryPolicy,
        rng: random.Random,
        api_domain: str | None,
        api_version: str,
        events: Events | None = None,
        allow_insecure_http: bool = False,
        environment: str = "production",
    ) -> None:
        if not isinstance(api_version, str) or not _VERSION_RE.fullmatch(api_version):
            raise ValidationError(
                f"api_version must look like 'v8', got {api_version!r}", field="api_version"
            )
        self.transport = transport
        self.auth = auth
        self.flow = flow
        self.retry = retry
        self.events = events if events is not None else Events()
        self.api_domain = api_domain
        self.api_version = api_version
        self.closed = False
        self._watch = Watch(flow, retry.stall_timeout)
        self._rng = rng
        self._allow_insecure_http = allow_insecure_http
        self._environment = environment
        #: ``{api_domain}/crm/{version}`` once known (see `api_root`).
        self.root = f"{api_domain}/crm/{api_version}" if api_domain is not None else None
        self._header = TokenHeader(auth)

    def __repr__(self) -> str:
        return f"Exchange(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    @property
    def credits_remaining(self) -> int | None:
        """The org's API credits left, from the last answer that said."""
        return self._watch.credits_remaining

    def new_call(
        self,
        admission: Admission | None = None,
        events: Events | None = None,
        *,
        deadline: Deadline | None = None,
        retry: RetryPolicy | None = None,
    ) -> Call:
        """A context for one logical call; its events reach *events*, else the client's."""
        events = events if events is not None else self.events
        return Call(events, Tally(), admission, deadline, retry)

    async def aclose(self) -> None:
        """Stop sending; close the transport, then the token provider's session, if any."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.transport.aclose()
        finally:
            # RefreshTokenAuth owns an HTTP session; it reopens one if used again.
            closer = getattr(self.auth, "aclose", None)
            if closer is not None:
                await closer()

    async def api_root(self, call: Call | None = None) -> str:
        """Return ``{api_domain}/crm/{version}``, asking the token provider for it once."""
        if self.root is None:
            if self.closed:
                # Before the provider is asked: it would mint a token and open a session.
                raise ZohoLockingError(_CLOSED)
            deadline = call.deadline if call is not None else None
            self.api_domain = await _domain_of(
                self.auth, self.flow, deadline, self._allow_insecure_http, self._environment
            )
            self.root = f"{self.api_domain}/crm/{self.api_version}"
        return self.root

    async def send(self, request: Request, call: Call) -> Response:
        """Send *request* through flow control, retrying what is worth retrying.

        Each attempt, top to bottom: a permit (its wait bounded by the call's
        deadline, if any), the caller's admission, the token, the send, and the
        permit's one release (the ``finally`` below); then what the answer means:
        one refresh on 401 INVALID_TOKEN, whether it is final, whether a write
        whose answer was lost may have landed, and whether and when to try again.
        Cut short in flight by the deadline, an attempt fails with `DeadlineCut`;
        before anything was sent, the caller gets the call's expiry.

        Returns the last answer, whatever its status (the caller parses it);
        raises `TransportError` if the last attempt got no answer at all.
        """
        if self.closed:
            raise ZohoLockingError(_CLOSED)
        flow, deadline, events, tally = self.flow, call.deadline, call.events, call.tally
        number, refreshed, first = 0, False, None
        while True:
            number += 1
            if deadline is None:
                permit = await flow.acquire()
            else:
                try:
                    bound = deadline.bound(flow.now())
                    with bound:
                        permit = await flow.acquire()
                except DeadlinePassed:
                    raise call.expired(request.method) from None
                except TimeoutError:
                    if not bound.expired():
                        raise  # the flow's own timeout, not the deadline
                    raise call.expired(request.method) from None
            response: Response | None = None
            failure: TransportError | None = None
            lost: FlowUnavailable | None = None
            token = ""
            try:
                if self.closed:
                    # Closed while this request waited or backed off: stop, do not retry.
                    raise ZohoLockingError(_CLOSED)
                if call.admission is not None:
                    call.admission.admit()
                sent = tally.attempts
                scope = _UNBOUNDED if deadline is None else deadline.bound(flow.now())
                try:
                    with scope:
                        # The token step, once: the provider's token, its header, the
                        # attempt counted and told, then the send.
                        fixed = self._header.fixed
                        if fixed is None:
                            token = await self._header.auth.get_token()
                            headers = self._header.headers(token, events)
                        else:
                            token, headers = fixed
                        tally.attempts += 1
                        if events.wants(RequestSent):
                            events.emit(RequestSent(request.method, request.url, number))
                        response = await self.transport.send(request, headers)
                except TimeoutError:
                    if scope is _UNBOUNDED or not scope.expired():  # type: ignore[union-attr]
                        raise  # not the deadline's
                    assert deadline is not None
                    if tally.attempts == sent:
                        raise DeadlinePassed from None  # waiting for the token: nothing went out
                    failure = DeadlineCut(
                        f"{request.method} cut short by the call's timeout of "
                        f"{deadline.seconds:g}s",
                        maybe_sent=True,
                    )
            except TransportError as exc:
                failure = exc
            except DeadlinePassed:
                raise call.expired(request.method) from None
            finally:
                status, wait, spent = _feedback(response)
                try:
                    await flow.release(permit, status, server_wait=wait)
                except FlowUnavailable as exc:
                    if response is None:
                        raise
                    # The answer is in hand whatever the flow says (a 201 means the record
                    # IS locked): keep it, and stop the run instead, so nothing more is sent.
                    if call.admission is not None:
                        call.admission.halt(exc.code, exc.message)
                    lost = exc
            self._watch.saw(request, number, permit.sent_at, response, failure, spent, events)
            if first is None:
                first = permit.sent_at
            if (
                response is not None
                and response.status == 401
                and not refreshed
                and _is_invalid_token(response)
            ):
                if lost is not None:
                    raise lost  # no second attempt may go out: the request is unfinished
                refreshed = True
                if not await self._renew(token, call, request.method):
                    return response
                number -= 1  # a fresh token is a new start, not a retry
                continue
            # A final answer stands even if the flow is gone; a request that would need
            # another attempt raises the flow's failure: it is unfinished.
            if response is not None and (spent or response.status not in RETRY_STATUSES):
                return response
            if lost is not None:
                raise lost
            if _may_have_landed(request, response, failure):
                tally.write_landed = True
            delay = (call.retry or self.retry).next_delay(
                number, self._rng, response, failure, first, flow.now(),
                None if deadline is None else deadline.at,
            )  # fmt: skip
            if delay is None:
                if response is not None:
                    return response
                assert failure is not None
                if isinstance(failure, DeadlineCut):
                    raise call.expired(request.method)
                raise failure
            if events.wants(RetryScheduled):
                reason = f"HTTP {response.status}" if response is not None else _code(failure)
                events.emit(RetryScheduled(request.method, request.url, number, delay, reason))
            if delay > 0:
                await flow.sleep(delay)

    async def _renew(self, rejected: str, call: Call, method: str) -> bool:
        """After 401 INVALID_TOKEN: whether the provider has another token (within the deadline)."""
        deadline = call.deadline
        if deadline is None:
            return await self._header.renew(rejected, call.events)
        try:
            bound = deadline.bound(self.flow.now())
            with bound:
                return await self._header.renew(rejected, call.events)
        except DeadlinePassed:
            raise call.expired(method) from None
        except TimeoutError:
            if not bound.expired():
                raise
            raise call.expired(method) from None


async def _domain_of(
    auth: TokenProvider,
    flow: Flow,
    deadline: Deadline | None,
    allow_insecure_http: bool,
    environment: str,
) -> str:
    """The CRM domain the token provider learned with its first token, in *environment*."""
    if deadline is None:
        await auth.get_token()
    else:  # the first token counts against the call's deadline
        try:
            bound = deadline.bound(flow.now())
            with bound:
                await auth.get_token()
        except (DeadlinePassed, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) and not bound.expired():
                raise
            raise RequestTimeout(
                f"the call's timeout of {deadline.seconds:g}s passed before anything was sent",
                maybe_sent=False,
            ) from None
    domain = getattr(auth, "api_domain", None)
    if not isinstance(domain, str):
        raise ValidationError(
            "the accounts server named no api_domain; pass api_domain or dc", field="api_domain"
        )
    if environment != "production":
        # The accounts server names the data centre; the environment picks its domain.
        mapped = in_environment(domain, environment)
        if mapped is None:
            raise ValidationError(
                f"the accounts server named the API domain {domain[:100]!r}, no Zoho data "
                f"centre's, so its {environment} domain is unknown; pass api_domain",
                field="environment",
            )
        domain = mapped
    return check_base_url(domain, what="api_domain", allow_insecure_http=allow_insecure_http)


def _may_have_landed(
    request: Request, response: Response | None, failure: TransportError | None
) -> bool:
    """Whether a write about to be retried (or given up) may have landed already."""
    if request.method == "GET":
        return False
    if response is not None:
        # 429 and 503 mean refused before any work; 500, 502 and 504 may
        # come after the write was applied behind the proxy.
        return response.status not in (429, 503)
    return failure is not None and failure.maybe_sent


def _feedback(response: Response | None) -> tuple[int | None, float | None, bool]:
    """What a permit's release tells the flow: the status, the server's wait, spent credits.

    A 429 for spent credits is told as no answer: not a busy org, so no cooldown
    (and no retry: the caller learns at once).
    """
    if response is None:
        return None, None, False
    status = response.status
    if status != 429:
        return status, None, False
    if credits_exhausted(response.headers, response.body):
        return None, None, True
    return 429, retry_after(response.headers, time.time()), False


def _is_invalid_token(response: Response) -> bool:
    """Whether a 401 answer is INVALID_TOKEN (expired or revoked: a refresh may mend it)."""
    return protocol.error_code(response.body) == "INVALID_TOKEN"


def _code(failure: TransportError | None) -> str:
    return failure.code if failure is not None else "NO_ANSWER"
